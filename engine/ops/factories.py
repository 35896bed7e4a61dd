"""More creation rows (torch.eye, rand_like/randn_like, randint) and torch.bernoulli, whose
samples draw from the default generator (engine/ops/creation.py) unless seeded. Random rows
have no per-op samples (torch's draws differ): tests/test_factories.py checks them."""

import numpy as np

from .. import backend, dtypes
from ..errors import KernelNotImplemented, OpError
from .creation import _np, _size, default_generator, like
from .table import F, op

_CREATION_KW = "*, ScalarType? dtype=None, Device? device=None, bool requires_grad=False"


def _eye(n, m=None, dtype=None, device=None, requires_grad=False):
    m = n if m is None else m
    if n < 0:
        raise OpError(f"n must be greater or equal to 0, got {n}")
    if m < 0:
        raise OpError(f"m must be greater or equal to 0, got {m}")
    xp = backend.module_for(device or "cpu")
    return xp.eye(n, m, dtype=_np(dtype, dtypes.default_float.np))


op(f"eye(int n, int? m=None, {_CREATION_KW}) -> Tensor", None, creation=True, method=False,
   forward=_eye, shape=lambda n, m=None, *a: (n, n if m is None else m))


def _random_like(kind):
    def forward(input, seed=None, dtype=None, device=None, requires_grad=False,
                memory_format=None):
        np_dtype = _np(dtype, input.dtype)
        if np.dtype(np_dtype).kind != "f":
            raise KernelNotImplemented(
                f'"{"check_uniform_bounds" if kind == "rand" else "normal_kernel_cpu"}" not '
                f"implemented for '{dtypes.torch_type_name(np.dtype(np_dtype))}'")
        rng = default_generator() if seed is None else np.random.default_rng(seed)
        arr = rng.random(input.shape) if kind == "rand" else rng.standard_normal(input.shape)
        out = like(input, 0, np_dtype, memory_format)  # (laid out as torch's *_like)
        out[...] = backend.module_of(input).asarray(arr.astype(np_dtype))
        return out
    return forward


for _kind in ("rand", "randn"):
    op(f"{_kind}_like(Tensor input, *, int? seed=None, ScalarType? dtype=None, "
       "Device? device=None, bool requires_grad=False, MemoryFormat? memory_format=None) "
       "-> Tensor", None, creation=True,
       method=False, forward=_random_like(_kind), shape=lambda input, *a: input)


def _randint(low, high, size, seed=None, dtype=None, device=None, requires_grad=False):
    if low >= high:
        raise OpError(f"random_ expects 'from' to be less than 'to', but got from={low} >= "
                      f"to={high}")
    rng = default_generator() if seed is None else np.random.default_rng(seed)
    arr = rng.integers(low, high, size=_size(size)).astype(_np(dtype, np.int64))
    return backend.module_for(device or "cpu").asarray(arr)


_RANDINT_KW = ("*, int? seed=None, ScalarType? dtype=None, Device? device=None, "
               "bool requires_grad=False")
op(f"randint(int high, int[] size, {_RANDINT_KW}) -> Tensor", None, creation=True,
   method=False, forward=lambda high, size, *a: _randint(0, high, size, *a),
   shape=lambda high, size, *a: _size(size))
op(f"randint.low(int low, int high, int[] size, {_RANDINT_KW}) -> Tensor", None,
   creation=True, method=False, forward=_randint,
   shape=lambda low, high, size, *a: _size(size))


def _draw(p, seed=None):
    """1 with probability ``p`` (elementwise), else 0, in p's dtype."""
    if np.any((p < 0) | (p > 1)):
        raise OpError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    rng = default_generator() if seed is None else np.random.default_rng(seed)
    xp = backend.module_of(p)
    return xp.asarray((rng.random(np.shape(p)) < backend.to_numpy(p)).astype(p.dtype))


# the sample is 0/1 whatever p: its derivative is zero (torch's bernoulli formula)
op("bernoulli(Tensor input, *, int? seed=None) -> Tensor", "BernoulliBackward0",
   jvp="linear", forward=lambda input, seed=None: _draw(input, seed), dtype="none",
   kernel=("bernoulli_tensor_cpu_self_", "f"),
   vjp={"input": lambda grad: F.zeros_like(grad)}, shape=lambda input, seed=None: input)

# Tensor.bernoulli_(p): self filled with draws of probability p (a float, or a Tensor of
# them); the old values get no gradient (BernoulliBackward2 / BernoulliBackward1)
op("_bernoulli_fill.float(Tensor input, float p=0.5, *, int? seed=None) -> Tensor",
   "BernoulliBackward2", jvp="linear", method=False, dtype="none",
   forward=lambda input, p=0.5, seed=None: _draw(np.full(input.shape, p, input.dtype), seed),
   vjp={"input": lambda grad: F.zeros_like(grad)}, shape=lambda input, *a: input)
op("_bernoulli_fill.Tensor(Tensor input, Tensor p, *, int? seed=None) -> Tensor",
   "BernoulliBackward1", jvp="linear", method=False, dtype="none", nondiff=("p",),
   forward=lambda input, p, seed=None: _draw(
       np.broadcast_to(p, input.shape).astype(input.dtype), seed),
   vjp={"input": lambda grad: F.zeros_like(grad)}, shape=lambda input, p, *a: input)
