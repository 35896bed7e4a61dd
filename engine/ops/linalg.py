"""Linear algebra rows: mm, bmm, mv, dot, addmm, outer/ger, matmul, linear, trace, diag
(diag_embed, diagonal_copy, diagonal), det, inverse, linalg.solve (einsum is
engine/ops/einsum.py; reshape and its _reshape_alias, engine/ops/movement.py).

Primitives follow tools/autograd/derivatives.yaml (what each saves, so "backward twice"
behaves as torch). ``matmul``, ``linear``, ``outer`` and ``diag`` are
composites that take the same route through the primitives as ATen does, so the graph
shows torch's nodes (e.g. ``3-D @ 2-D`` -> UnsafeViewBackward0 over MmBackward0 over
ViewBackward0; which route depends, as in ATen, on which operand requires grad).
"""

import numpy as np

from .. import backend, dtypes
from ..errors import IndexOpError, OpError
from . import table
from .movement import reshape
from .samples import Sample, explicit, rand
from .sizes import numel
from .table import OVERLOADS, F, broadcast_shapes, is_contiguous, normalize_dim, op

# --------------------------------------------------------------------------- helpers

# torch's names for dtypes in its error texts: ScalarType names and C++ type names
def _scalar_name(a) -> str:
    return dtypes.torch_type_name(np.dtype(a.dtype))


def _cpp_name(a) -> str:
    return dtypes.cpp_type_name(a.dtype)


def _dims(shape) -> str:
    return "x".join(str(s) for s in shape)


def _mT(x):
    """Swap the last two dims (torch's .mT, a transpose), for arrays and Tensors alike."""
    return F.transpose(x, -2, -1)


def _const_like(const, ref):
    """A NumPy constant moved to the device of ``ref`` (a Tensor or an array)."""
    arr = ref.array if isinstance(ref, table._Tensor) else ref
    return backend.to_device(const, backend.device_of(arr))


def _arr0(x):
    """NumPy reductions hand 0-d results back as scalars; keep them arrays."""
    return np.asarray(x) if isinstance(x, (np.generic, int, float)) else x


def _requires_grad(x) -> bool:
    return isinstance(x, table._Tensor) and x.requires_grad


def _elem_strides(x) -> tuple:
    arr = x.array if isinstance(x, table._Tensor) else x
    return tuple(s // arr.itemsize for s in arr.strides)


# --------------------------------------------------------------------------- mm, bmm, mv, dot

def _mm_shape(input, mat2):
    if len(input) != 2:
        raise OpError("self must be a matrix")
    if len(mat2) != 2:
        raise OpError("mat2 must be a matrix")
    if input[1] != mat2[0]:
        raise OpError(f"mat1 and mat2 shapes cannot be multiplied ({_dims(input)} and "
                      f"{_dims(mat2)})")
    return (input[0], mat2[1])


def _blas(a):
    """``a``, or a contiguous copy where it has a zero stride: NumPy's matmul cannot hand a
    broadcast operand (the gradient of a sum arrives as one) to BLAS and falls back to a
    loop ~20x slower than the copy and the BLAS call together."""
    return backend.ascontiguousarray(a) if 0 in a.strides else a


def _product(input, other, check_shapes, dtype_error, multiply=np.matmul):
    """mm's, bmm's, mv's and dot's forward: torch's shape checks, its error where the dtypes
    differ (the text ``dtype_error(input, other)``), then the product on BLAS-ready arrays."""
    check_shapes(input.shape, other.shape)
    if input.dtype != other.dtype:
        raise OpError(dtype_error(input, other))
    return multiply(_blas(input), _blas(other))


def _mm(input, mat2):
    return _product(input, mat2, _mm_shape, lambda input, mat2: (
        f"expected m1 and m2 to have the same dtype, but got: {_cpp_name(input)} != "
        f"{_cpp_name(mat2)}"))


MM_SAMPLES = explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 3, 4))),
                      lambda r: Sample((rand(r, 1, 3), rand(r, 3, 1))),)

def _mm_mat1_backward(grad, mat2, mat1_shape, mat1_strides, alpha=1):
    """torch's mm_mat1_backward: a column-major mat1 gets its gradient column-major too."""
    if mat1_strides[0] == 1 and mat1_strides[1] == mat1_shape[0]:
        return _scaled(F.t(F.mm(mat2, F.t(grad))), alpha)
    return _scaled(F.mm(grad, F.t(mat2)), alpha)


def _mm_mat2_backward(grad, mat1, mat2_shape, mat2_strides, alpha=1):
    """torch's mm_mat2_backward (so linear's weight gradient is t(t(mm)), as torch's)."""
    if mat2_strides[0] == 1 and mat2_strides[1] == mat2_shape[0]:
        return _scaled(F.t(F.mm(F.t(grad), mat1)), alpha)
    return _scaled(F.mm(F.t(mat1), grad), alpha)


op("mm(Tensor input, Tensor mat2) -> Tensor", "MmBackward0", kernel=("addmm_impl_cpu_", "fi"),
   jvp=lambda input_t, mat2_t, input, mat2: F.mm(input_t, mat2) + F.mm(input, mat2_t),
   forward=_mm,
   vjp={"input": lambda grad, mat2, input_shape, input_strides: _mm_mat1_backward(
       grad, mat2, input_shape, input_strides),
        "mat2": lambda grad, input, mat2_shape, mat2_strides: _mm_mat2_backward(
       grad, input, mat2_shape, mat2_strides)},
   dtype="none", shape=_mm_shape, samples=MM_SAMPLES)


def _bmm_shape(input, mat2):
    if len(input) != 3:
        raise OpError("batch1 must be a 3D tensor")
    if len(mat2) != 3:
        raise OpError("batch2 must be a 3D tensor")
    if (mat2[0], mat2[1]) != (input[0], input[2]):
        raise OpError(f"Expected size for first two dimensions of batch2 tensor to be: "
                      f"[{input[0]}, {input[2]}] but got: [{mat2[0]}, {mat2[1]}].")
    return (input[0], input[1], mat2[2])


def _bmm(input, mat2):
    return _product(input, mat2, _bmm_shape, lambda input, mat2: (
        f"expected scalar type {_scalar_name(input)} but found {_scalar_name(mat2)}"))


op("bmm(Tensor input, Tensor mat2) -> Tensor", "BmmBackward0", kernel=("bmm", "fi"),
   jvp=lambda input_t, mat2_t, input, mat2: F.bmm(input_t, mat2) + F.bmm(input, mat2_t),
   forward=_bmm,
   vjp={"input": lambda grad, mat2: F.bmm(grad, F.transpose(mat2, 1, 2)),
        "mat2": lambda grad, input: F.bmm(F.transpose(input, 1, 2), grad)},
   dtype="none", shape=_bmm_shape,
   samples=explicit(lambda r: Sample((rand(r, 2, 2, 3), rand(r, 2, 3, 4))),
                    lambda r: Sample((rand(r, 1, 3, 2), rand(r, 1, 2, 1)))))


def _mv_shape(input, vec):
    if not input:  # torch's mv reads input.size(0) (its output's length) first
        raise IndexOpError("Dimension specified as 0 but tensor has no dimensions")
    if len(input) != 2 or len(vec) != 1:
        raise OpError(f"vector + matrix @ vector expected, got 1, {len(input)}, {len(vec)}")
    if input[1] != vec[0]:
        raise OpError(f"size mismatch, got input ({input[0]}), mat ({_dims(input)}), vec "
                      f"({vec[0]})")
    return (input[0],)


def _mv(input, vec):
    return _product(input, vec, _mv_shape, lambda input, vec: (
        f"addmv input tensors must have the same dtype, but got {_scalar_name(vec)}, "
        f"{_scalar_name(input)}, and {_scalar_name(vec)}"))


op("mv(Tensor input, Tensor vec) -> Tensor", "MvBackward0", kernel=("addmv_impl_cpu", "fi"),
   jvp=lambda input_t, vec_t, input, vec: F.mv(input_t, vec) + F.mv(input, vec_t),
   forward=_mv,
   vjp={"input": lambda grad, vec: F.reshape(grad, (-1, 1)) * vec,  # grad.ger(vec)
        "vec": lambda grad, input: F.mv(F.t(input), grad)},
   dtype="none", shape=_mv_shape,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), rand(r, 3))),
                    lambda r: Sample((rand(r, 1, 1), rand(r, 1)))))


def _dot_shape(input, tensor):
    if len(input) != 1 or len(tensor) != 1:
        raise OpError(f"1D tensors expected, but got {len(input)}D and {len(tensor)}D tensors")
    if input[0] != tensor[0]:
        raise OpError(f"inconsistent tensor size, expected tensor [{input[0]}] and src "
                      f"[{tensor[0]}] to have the same number of elements, but got "
                      f"{input[0]} and {tensor[0]} elements respectively")
    return ()


def _dot(input, tensor):
    return _arr0(_product(input, tensor, _dot_shape, lambda input, tensor: (
        f"dot : expected both vectors to have same dtype, but found {_scalar_name(input)} "
        f"and {_scalar_name(tensor)}"), multiply=np.dot))


op("dot(Tensor input, Tensor tensor) -> Tensor", "DotBackward0", kernel=("dot", "fi"),
   jvp=lambda input_t, tensor_t, input, tensor: F.dot(input_t, tensor) + F.dot(input, tensor_t),
   forward=_dot,
   vjp={"input": lambda grad, tensor: grad * tensor,
        "tensor": lambda grad, input: grad * input},
   dtype="none", shape=_dot_shape,
   samples=explicit(lambda r: Sample((rand(r, 3), rand(r, 3))),
))


# --------------------------------------------------------------------------- addmm

def _expand_check(shape, target):
    """at::expand's check and text (addmm expands its input to the product's shape)."""
    shape, target = tuple(shape), tuple(target)
    if len(shape) > len(target):
        raise OpError(f"expand(torch.FloatTensor{{[{', '.join(map(str, shape))}]}}, size="
                      f"[{', '.join(map(str, target))}]): the number of sizes provided "
                      f"({len(target)}) must be greater or equal to the number of dimensions "
                      f"in the tensor ({len(shape)})")
    lead = len(target) - len(shape)
    for i in range(len(shape) - 1, -1, -1):
        have, want = shape[i], target[lead + i]
        if have != 1 and have != want:
            raise OpError(f"The expanded size of the tensor ({want}) must match the existing "
                          f"size ({have}) at non-singleton dimension {lead + i}.  Target "
                          f"sizes: [{', '.join(map(str, target))}].  Tensor sizes: "
                          f"[{', '.join(map(str, shape))}]")


def _addmm_shape(input, mat1, mat2, beta, alpha):
    for name, shape in (("mat1", mat1), ("mat2", mat2)):
        if len(shape) != 2:
            raise OpError(f"{name} must be a matrix, got {len(shape)}-D tensor")
    out = _mm_shape(mat1, mat2)
    _expand_check(input, out)
    return out


def _addmm(input, mat1, mat2, beta, alpha):
    _addmm_shape(input.shape, mat1.shape, mat2.shape, beta, alpha)
    if input.dtype != mat2.dtype:  # torch checks self first, then the two factors
        raise OpError(f"self and mat2 must have the same dtype, but got {_scalar_name(input)} "
                      f"and {_scalar_name(mat2)}")
    if mat1.dtype != mat2.dtype:
        raise OpError(f"mat1 and mat2 must have the same dtype, but got {_scalar_name(mat1)} "
                      f"and {_scalar_name(mat2)}")
    prod = _mm(mat1, mat2)
    if alpha != 1:
        prod = prod * alpha
    if beta == 0:  # torch ignores input entirely (NaNs included) when beta is 0
        return prod
    return (input if beta == 1 else input * beta) + prod


def _scaled(x, s):
    """torch's maybe_multiply: a mul.Scalar (MulBackward1) unless s is 1."""
    return x if s == 1 else F._mul_scalar(x, s)


op("addmm(Tensor input, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1)"
   " -> Tensor", "AddmmBackward0", kernel=("addmm_impl_cpu_", "fi"),
   jvp=lambda input_t, mat1_t, mat2_t, mat1, mat2, beta, alpha: (
       input_t * beta + (F.mm(mat1_t, mat2) + F.mm(mat1, mat2_t)) * alpha),
   forward=_addmm,
   vjp={"input": lambda grad, beta: _scaled(grad, beta),
        "mat1": lambda grad, mat2, alpha, mat1_shape, mat1_strides: _mm_mat1_backward(
            grad, mat2, mat1_shape, mat1_strides, alpha),
        "mat2": lambda grad, mat1, alpha, mat2_shape, mat2_strides: _mm_mat2_backward(
            grad, mat1, mat2_shape, mat2_strides, alpha)},
   dtype="none", shape=_addmm_shape,
   samples=explicit(lambda r: Sample((rand(r, 4), rand(r, 2, 3), rand(r, 3, 4))),
                    lambda r: Sample((rand(r, 2, 4), rand(r, 2, 3), rand(r, 3, 4)),
                                     {"beta": 2.0, "alpha": 0.5}),
                    lambda r: Sample((rand(r, 2, 1), rand(r, 2, 3), rand(r, 3, 4)),
                                     {"beta": 0.0})))


# --------------------------------------------------------------------------- outer

def _outer_check(input, vec2):
    for name, s in (("self", input), ("vec2", vec2)):
        if len(s) != 1:
            raise OpError(f"outer: Expected 1-D argument {name}, but got {len(s)}-D")
    return (input[0], vec2[0])


def _outer(input, vec2):
    _outer_check(input.shape, vec2.shape)
    return F.reshape(input, (input.shape[0], 1)) * vec2  # ATen: self.reshape({n, 1}) * vec2


OUTER_SAMPLES = explicit(lambda r: Sample((rand(r, 3), rand(r, 4))),
                         lambda r: Sample((rand(r, 1), rand(r, 2))))
op("outer(Tensor input, Tensor vec2) -> Tensor", None, composite=True,
   forward=_outer, shape=_outer_check, samples=OUTER_SAMPLES)
op("ger(Tensor input, Tensor vec2) -> Tensor", None, composite=True,
   forward=_outer, shape=_outer_check, samples=OUTER_SAMPLES)


# --------------------------------------------------------------------------- matmul

def _matmul_shape(input, other):
    d1, d2 = len(input), len(other)
    if d1 == 0 or d2 == 0:
        raise OpError(f"both arguments to matmul need to be at least 1D, but they are {d1}D "
                      f"and {d2}D")
    if d1 == 1 and d2 == 1:
        return _dot_shape(input, other)
    if d1 == 2 and d2 == 1:
        return _mv_shape(input, other)
    if d1 == 1 and d2 == 2:
        return _mm_shape((1,) + tuple(input), other)[1:]
    if d1 == 2 and d2 == 2:
        return _mm_shape(input, other)
    n = input[-2] if d1 > 1 else 1
    m1 = input[-1]
    m2 = other[-2] if d2 > 1 else other[0]
    p = other[-1] if d2 > 1 else 1
    batch = broadcast_shapes(tuple(input[:-2]), tuple(other[:-2]))
    if m1 != m2:  # the texts of the op torch ends up calling
        if d2 == 1:
            raise OpError(f"size mismatch, got input ({numel(batch) * n}), mat "
                          f"({numel(batch) * n}x{m1}), vec ({m2})")
        if d1 >= 3 and d2 == 2 or d2 >= 3 and d1 <= 2:
            rows = numel(input[:-1])
            raise OpError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{m1} and "
                          f"{m2}x{p})")
        raise OpError(f"Expected size for first two dimensions of batch2 tensor to be: "
                      f"[{numel(batch)}, {m1}] but got: [{numel(batch)}, {m2}].")
    return batch + ((n,) if d1 > 1 else ()) + ((p,) if d2 > 1 else ())


def _should_fold(tensor1, tensor2) -> bool:
    """ATen's should_fold: fold the larger operand into a matrix and call mm/mv instead of
    bmm, when that costs no copy (or when the smaller operand requires grad)."""
    larger = tensor1.ndim >= tensor2.ndim
    big, small = (tensor1, tensor2) if larger else (tensor2, tensor1)
    if not (big.ndim >= 3 and small.ndim <= 2):
        return False
    if _requires_grad(small):
        return True
    if tensor1.ndim == 2:
        return False
    shape = tuple(big.shape)
    strides = _elem_strides(big)
    if not larger:  # t1 is tensor2.mT()
        shape = shape[:-2] + shape[-2:][::-1]
        strides = strides[:-2] + strides[-2:][::-1]
    if numel(shape) == 0:
        return True
    return all(strides[i] == strides[i + 1] * shape[i + 1] for i in range(len(shape) - 2))


_contiguous = table.contiguous


def _matmul(input, other):
    if input.ndim == 0 or other.ndim == 0:
        _matmul_shape(tuple(input.shape), tuple(other.shape))
    # size mismatches are reported by the primitive torch's route reaches, with its text
    d1, d2 = input.ndim, other.ndim
    if d1 == 1 and d2 == 1:
        return F.dot(input, other)
    if d1 == 2 and d2 == 1:
        return F.mv(input, other)
    if d1 == 1 and d2 == 2:
        return F._squeeze_inplace(F.mm(F.unsqueeze(input, 0), other), 0)
    if d1 == 2 and d2 == 2:
        return F.mm(input, other)
    # ATen squeezes a 3-D operand with batch size 1 against a batched 3-D one, when it
    # requires grad (so its gradient needs no reduction over an expanded batch)
    if d1 == 3 and d2 == 3 and (input.shape[0] == 1) != (other.shape[0] == 1):
        if input.shape[0] == 1 and _requires_grad(input):
            return _matmul(F.squeeze(input, 0), other)
        if other.shape[0] == 1 and _requires_grad(other):
            return _matmul(input, F.squeeze(other, 0))
    if _should_fold(input, other):
        transpose = d2 > d1
        t1 = F.transpose(other, -2, -1) if transpose else input
        t2 = other if not transpose else (F.t(input) if d1 == 2 else input)
        out_shape = tuple(t1.shape[:-1])
        folded = reshape(t1, (numel(out_shape), t1.shape[-1]))
        if t2.ndim == 2:
            out = F._unsafe_view(F.mm(folded, t2), out_shape + (t2.shape[1],))
            return _contiguous(F.transpose(out, -2, -1)) if transpose else out
        return F._unsafe_view(F.mv(folded, t2), out_shape)
    n = input.shape[-2] if d1 > 1 else 1
    m1 = input.shape[-1]
    m2 = other.shape[-2] if d2 > 1 else other.shape[0]
    p = other.shape[-1] if d2 > 1 else 1
    batch = broadcast_shapes(tuple(input.shape[:-2]), tuple(other.shape[:-2]))
    nb = numel(batch)
    a = reshape(F.expand(input, batch + (n, m1)), (nb, n, m1))
    if d2 == 1:
        b = F.unsqueeze(reshape(F.expand(other, batch + (m2,)), (nb, m2)), 2)
    else:
        b = reshape(F.expand(other, batch + (m2, p)), (nb, m2, p))
    out_shape = batch + ((n,) if d1 > 1 else ()) + ((p,) if d2 > 1 else ())
    prod = F.bmm(a, b)
    if d2 == 1:
        prod = F.squeeze(prod, -1)
    return F._unsafe_view(prod, out_shape)


op("matmul(Tensor input, Tensor other) -> Tensor", None, composite=True,
   forward=_matmul, shape=_matmul_shape,
   samples=explicit(
       lambda r: Sample((rand(r, 3), rand(r, 3))),
       lambda r: Sample((rand(r, 2, 3), rand(r, 3, 4))),
       lambda r: Sample((rand(r, 2, 3), rand(r, 3))),
       lambda r: Sample((rand(r, 3), rand(r, 3, 4))),
       lambda r: Sample((rand(r, 2, 2, 3), rand(r, 3, 4))),  # fold: mm
       lambda r: Sample((rand(r, 4, 3), rand(r, 2, 3, 5))),  # fold with transposes
       lambda r: Sample((rand(r, 2, 2, 3), rand(r, 2, 3, 4))),  # bmm
       lambda r: Sample((rand(r, 2, 2, 2, 3), rand(r, 2, 3, 4))),  # broadcast batch
       lambda r: Sample((rand(r, 2, 4, 3), rand(r, 3))),  # fold: mv
       lambda r: Sample((rand(r, 3), rand(r, 2, 3, 4))),  # fold: mv on mT
       lambda r: Sample((rand(r, 1, 2, 3), rand(r, 2, 3, 4))),  # squeezed batch of 1
       lambda r: Sample((rand(r, 3, 2, 3), rand(r, 1, 3, 4))),
       lambda r: Sample((rand(r, 1, 2, 3), rand(r, 1, 3, 4))),
       lambda r: Sample((rand(r, 2, 3), rand(r, 1, 3, 4))),  # ReshapeAliasBackward0
       lambda r: Sample((rand(r, 1, 1, 2, 3), rand(r, 2, 3, 4))),
       lambda r: Sample((rand(r, 2, 1, 2, 3), rand(r, 1, 3, 4))),
       lambda r: Sample((rand(r, 3), rand(r, 1, 3, 4)))))


# --------------------------------------------------------------------------- linear

def _linear_shape(input, weight, bias=None):
    if len(input) == 0 or len(weight) == 0:
        raise OpError(f"both arguments to linear need to be at least 1D, but they are "
                      f"{len(input)}D and {len(weight)}D")
    wt = tuple(reversed(weight))
    out = _matmul_shape(input, wt)
    if bias is not None:
        if len(input) == 2 or len(input) == 3 or len(bias) == 1:  # the addmm routes
            _expand_check(bias, (numel(input[:-1]), out[-1]) if len(input) > 1 else out)
        full = broadcast_shapes(bias, out)
        if full != tuple(out):  # ATen adds the bias in place: output.add_(bias)
            raise OpError(f"output with shape [{', '.join(map(str, out))}] doesn't match the "
                          f"broadcast shape [{', '.join(map(str, full))}]")
    return out


def _linear(input, weight, bias=None):
    _linear_shape(tuple(input.shape), tuple(weight.shape),
                  None if bias is None else table.shape_of(bias))
    if bias is not None:
        if input.ndim == 2:
            return F.addmm(bias, input, F.t(weight))
        if is_contiguous(input) and (input.ndim == 3 or bias.ndim == 1):
            lead = tuple(input.shape[:-1])
            flat = F.reshape(input, (numel(lead), input.shape[-1]))
            out = F.addmm(bias, flat, F.t(weight))
            return F.view(out, lead + (out.shape[1],))
    out = F.matmul(input, F.t(weight))
    return out if bias is None else F.add(out, bias)


op("linear(Tensor input, Tensor weight, Tensor? bias=None) -> Tensor", None, composite=True,
   method=False, forward=_linear, shape=_linear_shape,
   samples=explicit(
       lambda r: Sample((rand(r, 2, 3), rand(r, 4, 3))),
       lambda r: Sample((rand(r, 2, 3), rand(r, 4, 3), rand(r, 4))),
       lambda r: Sample((rand(r, 5, 2, 3), rand(r, 4, 3))),
       lambda r: Sample((rand(r, 5, 2, 3), rand(r, 4, 3), rand(r, 4))),
       lambda r: Sample((rand(r, 3), rand(r, 4, 3))),
       lambda r: Sample((rand(r, 3), rand(r, 4, 3), rand(r, 4))),))


# --------------------------------------------------------------------------- trace, diag

def _trace_shape(input):
    if len(input) != 2:
        raise OpError(f"trace: expected a matrix, but got tensor with dim {len(input)}")
    return ()


def _trace(input):
    _trace_shape(input.shape)
    dtype = np.int64 if input.dtype.kind in "biu" else None  # torch sums integers as int64
    return _arr0(np.trace(input, dtype=dtype))


op("trace(Tensor input) -> Tensor", "TraceBackward0", kernel=("trace", "fi"),
   jvp="linear",
   forward=_trace,
   # trace_backward: grad on the diagonal; saves only the sizes
   vjp={"input": lambda grad, input_shape, input_dtype: grad * _const_like(np.eye(
       *input_shape, dtype=input_dtype.np), grad)},
   dtype="none", shape=_trace_shape,
   samples=explicit(lambda r: Sample((rand(r, 3, 3),)), lambda r: Sample((rand(r, 2, 4),))))


def _diag_embed_shape(input, offset, dim1, dim2):
    n = (input[-1] if input else 1) + abs(offset)
    ndim = len(input) + 1
    d1, d2 = normalize_dim(dim1, ndim), normalize_dim(dim2, ndim)
    if d1 == d2:
        raise OpError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    out = list(input[:-1])
    for d in sorted((d1, d2)):
        out.insert(d, n)
    return tuple(out)


def _diag_embed(input, offset, dim1, dim2):
    shape = _diag_embed_shape(input.shape, offset, dim1, dim2)
    k = input.shape[-1]
    n = k + abs(offset)
    xp = backend.module_of(input)
    out = xp.zeros(input.shape[:-1] + (n, n), dtype=input.dtype)
    idx = xp.arange(k)
    out[..., idx + max(-offset, 0), idx + max(offset, 0)] = input
    ndim = len(shape)
    return np.moveaxis(out, (-2, -1), (normalize_dim(dim1, ndim), normalize_dim(dim2, ndim)))


op("diag_embed(Tensor input, int offset=0, int dim1=-2, int dim2=-1) -> Tensor",
   "DiagEmbedBackward0",
   jvp="linear",
   forward=_diag_embed,
   vjp={"input": lambda grad, offset, dim1, dim2: F.diagonal_copy(grad, offset, dim1, dim2)},
   dtype="none", shape=_diag_embed_shape,
   samples=explicit(lambda r: Sample((rand(r, 3),)), lambda r: Sample((rand(r, 2, 3), 1)),
                    lambda r: Sample((rand(r, 2, 3), -1, 0, 2))))


def _diagonal_shape(input, offset, dim1, dim2):
    ndim = len(input)
    d1, d2 = normalize_dim(dim1, ndim), normalize_dim(dim2, ndim)
    if d1 == d2:
        raise OpError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n = max(0, min(input[d1] + min(offset, 0), input[d2] - max(offset, 0)))
    return tuple(s for i, s in enumerate(input) if i not in (d1, d2)) + (n,)


def _diagonal_vjp(grad, input_shape, input_dtype, offset, dim1, dim2):
    """Put grad back on the diagonal: a sum against a constant one-hot selection, so the
    same code differentiates again."""
    ndim = len(input_shape)
    d1, d2 = normalize_dim(dim1, ndim), normalize_dim(dim2, ndim)
    rows, cols = input_shape[d1], input_shape[d2]
    k = grad.shape[-1]
    select = np.zeros((k, rows, cols), dtype=input_dtype.np)
    idx = np.arange(k)
    select[idx, idx + max(-offset, 0), idx + max(offset, 0)] = 1
    g = F.sum(F.reshape(grad, tuple(grad.shape) + (1, 1)) * _const_like(select, grad), -3)  # batch + (rows, cols)
    rest = [i for i in range(ndim) if i not in (d1, d2)]
    order = rest + [d1, d2]  # where each axis of g lives in the input
    return F.permute(g, tuple(int(i) for i in np.argsort(order)))


op("diagonal_copy(Tensor input, int offset=0, int dim1=0, int dim2=1) -> Tensor",
   "DiagonalBackward0_copy", method=False,
   jvp="linear",
   forward=lambda input, offset, dim1, dim2: np.diagonal(
       input, offset, normalize_dim(dim1, input.ndim), normalize_dim(dim2, input.ndim)).copy()
   if _diagonal_shape(input.shape, offset, dim1, dim2) is not None else None,
   vjp={"input": _diagonal_vjp},
   dtype="none", shape=_diagonal_shape,
   samples=explicit(lambda r: Sample((rand(r, 3, 3),)), lambda r: Sample((rand(r, 3, 4), 1)),
                    lambda r: Sample((rand(r, 2, 3, 4), -1, 2, 1))))


def _diag_shape(input, diagonal):
    if len(input) == 1:
        return _diag_embed_shape(input, diagonal, 0, 1)
    if len(input) == 2:
        return _diagonal_shape(input, diagonal, 0, 1)
    raise OpError(f"diag(): Supports 1D or 2D tensors. Got {len(input)}D")


def _diag(input, diagonal=0):
    _diag_shape(tuple(input.shape), diagonal)
    if input.ndim == 1:
        return F.diag_embed(input, diagonal, 0, 1)
    return F.diagonal_copy(input, diagonal, 0, 1)


op("diag(Tensor input, int diagonal=0) -> Tensor", None, composite=True,
   forward=_diag, shape=_diag_shape,
   samples=explicit(lambda r: Sample((rand(r, 3),)), lambda r: Sample((rand(r, 3), 1)),
                    lambda r: Sample((rand(r, 3, 3),)), lambda r: Sample((rand(r, 3, 4), -1)),
                    lambda r: Sample((rand(r, 3, 4), 2))))


# --------------------------------------------------------------------------- det, inv, solve

def _square_check(name, shape):
    if len(shape) < 2:
        raise OpError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if shape[-1] != shape[-2]:
        raise OpError(f"{name}: A must be batches of square matrices, but they are "
                      f"{shape[-2]} by {shape[-1]} matrices")


def _float_check(name, a):
    if a.dtype.kind not in "fc":
        raise OpError(f"{name}: Expected a floating point or complex tensor as input. Got "
                      f"{_scalar_name(a)}")


def _det_shape(input):
    _square_check("linalg.det", input)
    return tuple(input[:-2])


def _det(input):
    _det_shape(input.shape)
    _float_check("linalg.det", input)
    return _arr0(np.linalg.det(input))


def _det_vjp(grad, input, result):
    """d det(A) = tr(adj(A) dA): grad_A = grad * adj(A)^T, which is grad * det * A^-T for an
    invertible A; a singular A (det exactly 0) takes the cofactor form instead."""
    det = result.array if isinstance(result, table._Tensor) else result
    if input.shape[-1] == 1:  # det of a 1x1 matrix is its entry: torch passes grad through
        return F.unsqueeze(F.unsqueeze(grad, -1), -1)
    if not bool(np.all(backend.to_numpy(det) != 0)):
        return _det_cofactor_vjp(grad, input)
    # torch's linalg_det_backward under grad mode: solve(A^T, (grad * det) I)
    d_diag = F.expand(F.unsqueeze(grad * result, -1), tuple(input.shape[:-1]))
    return F.linalg_solve(_mT(input), _mT(F.diag_embed(d_diag)))


def _det_cofactor_vjp(grad, input):
    """grad * cofactor(A): each cofactor is the det of a minor, cut out of A by constant
    selection matrices (rows_i @ A @ cols_j), so the same code differentiates again."""
    n = input.shape[-1]
    keep = [np.delete(np.eye(n, dtype=np.float64), i, axis=0) for i in range(n)]  # (n-1, n)
    dtype = input.dtype.np if isinstance(input, table._Tensor) else input.dtype
    rows = _const_like(np.stack(keep)[:, None].astype(dtype), input)  # (n, 1, n-1, n)
    cols = _const_like(np.stack([k.T for k in keep])[None].astype(dtype), input)  # (1,n,n,n-1)
    a = F.reshape(input, tuple(input.shape[:-2]) + (1, 1, n, n))
    minors = F.matmul(F.matmul(rows, a), cols)  # (..., n, n, n-1, n-1)
    signs = (-1.0) ** (np.arange(n)[:, None] + np.arange(n)[None, :])
    cof = F.linalg_det(minors) * _const_like(signs.astype(dtype), input)
    return F.reshape(grad, tuple(grad.shape) + (1, 1)) * cof


DET_SAMPLES = explicit(lambda r: Sample((rand(r, 3, 3),)), lambda r: Sample((rand(r, 2, 2, 2),)),
                       lambda r: Sample((rand(r, 1, 1),)))
for _name in ("det", "linalg_det"):
    op(f"{_name}(Tensor input) -> Tensor", "LinalgDetBackward0",
       jvp="transpose",
       forward=_det, vjp={"input": _det_vjp}, dtype="none", shape=_det_shape,
       method=_name == "det", samples=DET_SAMPLES,
       torch="torch.det" if _name == "det" else "torch.linalg.det")


def _lu_zero_pivot(a) -> int | None:
    """1-based index of the first exactly-zero pivot of LAPACK getrf (partial pivoting),
    for torch's singular-matrix text."""
    a = backend.to_numpy(a).astype(np.float64)
    n = a.shape[0]
    first = None
    for k in range(n):
        p = k + int(np.argmax(np.abs(a[k:, k])))
        if a[p, k] == 0:
            first = k + 1 if first is None else first
            continue
        a[[k, p]] = a[[p, k]]
        a[k + 1:, k] /= a[k, k]
        a[k + 1:, k + 1:] -= np.outer(a[k + 1:, k], a[k, k + 1:])
    return first


def _inv_shape(input):
    _square_check("linalg.inv", input)
    return tuple(input)


def _inv(input):
    _inv_shape(input.shape)
    _float_check("linalg.inv", input)
    try:
        return np.linalg.inv(input)
    except np.linalg.LinAlgError:
        flat = np.reshape(input, (-1,) + input.shape[-2:])
        for b, m in enumerate(flat):
            k = _lu_zero_pivot(m)
            if k is not None:
                batch = f"(Batch element {b}): " if input.ndim > 2 else ""
                raise OpError(f"linalg.inv: {batch}The diagonal element {k} is zero, the "
                              "inversion could not be completed because the input matrix is "
                              "singular.") from None
        raise OpError("linalg.inv: The input matrix is singular.") from None


INV_SAMPLES = explicit(lambda r: Sample((rand(r, 3, 3) + 3 * np.eye(3),)),
                       lambda r: Sample((rand(r, 2, 2, 2) + 3 * np.eye(2),)))
for _name in ("inverse", "linalg_inv"):
    op(f"{_name}(Tensor input) -> Tensor", "LinalgInvExBackward0",
       jvp=lambda input_t, result: -F.matmul(result, F.matmul(input_t, result)),
       forward=_inv,
       # derivatives.yaml linalg_inv_ex: -A^-H grad A^-H, from the saved inverse
       vjp={"input": lambda grad, result: -F.matmul(_mT(result), F.matmul(grad, _mT(result)))},
       dtype="none", shape=_inv_shape, method=_name == "inverse", samples=INV_SAMPLES,
       torch="torch.inverse" if _name == "inverse" else "torch.linalg.inv")


def _solve_is_vector(a, b) -> bool:
    # linalg.solve treats B as a (batch of) vector(s) when B.ndim == 1, or when it has one
    # dim fewer than A and matches A's batch
    return len(b) == 1 or (len(b) == len(a) - 1 and tuple(b) == tuple(a[:-1]))


def _solve_shape(input, other, left=True):
    _square_check("linalg.solve", input)
    n = input[-1]
    eq = "AX = B" if left else "XA = B"
    if _solve_is_vector(input, other):
        # a vector B is a column (n x 1): AX = B needs n rows, XA = B needs n columns
        if (other[-1] if left else 1) != n:
            raise OpError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                          f"{eq} ({n}x{n} and {other[-1]}x1)")
        return broadcast_shapes(tuple(input[:-2]), tuple(other[:-1])) + (other[-1],)
    rows = other[-2] if len(other) >= 2 else other[-1]
    cols = other[-1] if len(other) >= 2 else 1
    if len(other) < 2 or (rows if left else cols) != n:
        raise OpError(f"linalg.solve: Incompatible shapes of A and B for the equation {eq} "
                      f"({n}x{n} and {rows}x{cols})")
    return broadcast_shapes(tuple(input[:-2]), tuple(other[:-2])) + tuple(other[-2:])


def _solve(input, other, left=True):
    shape = _solve_shape(input.shape, other.shape, left)
    _float_check("linalg.solve", input)
    if input.dtype != other.dtype:
        raise OpError(f"linalg.solve: Expected A and B to have the same dtype, but found A "
                      f"of type {_scalar_name(input)} and B of type {_scalar_name(other)} "
                      "instead")
    vector = _solve_is_vector(input.shape, other.shape)
    b = other[..., None] if vector else other
    full = shape + (1,) if vector else shape
    a = np.broadcast_to(input, full[:-2] + input.shape[-2:])
    b = np.broadcast_to(b, full)
    if not left:  # XA = B  <=>  A^T X^T = B^T
        a, b = np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2)
    try:
        x = np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise OpError("torch.linalg.solve: The solver failed because the input matrix is "
                      "singular.") from None
    if not left:
        x = np.swapaxes(x, -1, -2)
    return x[..., 0] if vector else x


def _as_matrix(t, vector):
    return F.unsqueeze(t, -1) if vector else t


def _solve_grads(grad, input, result, other_shape, left):
    """derivatives.yaml linalg_solve_backward: for AX = B, gB = A^-H G and gA = -gB X^H;
    for XA = B, gB = G A^-H and gA = -X^H gB."""
    vector = _solve_is_vector(tuple(input.shape), tuple(other_shape))
    g, x = _as_matrix(grad, vector), _as_matrix(result, vector)
    if left:
        gb = F.linalg_solve(_mT(input), g)
        return gb, -F.matmul(gb, _mT(x))
    gb = F.linalg_solve(_mT(input), g, left=False)
    return gb, -F.matmul(_mT(x), gb)


def _solve_grad_b(grad, input, result, other_shape, left):
    gb = _solve_grads(grad, input, result, other_shape, left)[0]
    return F.squeeze(gb, -1) if _solve_is_vector(
        tuple(input.shape), tuple(other_shape)) else gb


def _solve_grad_a(grad, input, result, other_shape, left):
    return _solve_grads(grad, input, result, other_shape, left)[1]


op("linalg_solve(Tensor input, Tensor other, *, bool left=True) -> Tensor",
   "LinalgSolveExBackward0", method=False,
   jvp="transpose",
   forward=_solve,
   vjp={"input": _solve_grad_a, "other": _solve_grad_b},
   dtype="none", shape=_solve_shape, torch="torch.linalg.solve",
   samples=explicit(lambda r: Sample((rand(r, 3, 3) + 3 * np.eye(3), rand(r, 3, 2))),
                    lambda r: Sample((rand(r, 3, 3) + 3 * np.eye(3), rand(r, 3))),
                    lambda r: Sample((rand(r, 2, 2, 2) + 3 * np.eye(2), rand(r, 2, 2))),
                    lambda r: Sample((rand(r, 2, 2, 2) + 3 * np.eye(2), rand(r, 2, 2, 1))),
                    lambda r: Sample((rand(r, 3, 3) + 3 * np.eye(3), rand(r, 2, 3)),
                                     {"left": False}),
                    lambda r: Sample((rand(r, 2, 2, 2) + 3 * np.eye(2), rand(r, 4, 2)),
                                     {"left": False})))


# --------------------------------------------------------------------------- matmul's squeeze_

# 1-D @ 2-D ends in ATen with an in-place ``squeeze_(0)`` of the fresh mm result: torch shows
# SqueezeBackward4 (squeeze_.dim). Not public: reached only through matmul.
op("_squeeze_inplace(Tensor input, int dim) -> Tensor", "SqueezeBackward4", method=False,
   jvp="linear",
   forward=lambda input, dim: np.squeeze(input, normalize_dim(dim, input.ndim))
   if input.shape[normalize_dim(dim, input.ndim)] == 1 else input,
   vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none",
   shape=lambda input, dim: tuple(s for i, s in enumerate(input)
                                  if not (i == normalize_dim(dim, len(input)) and s == 1)))


# --------------------------------------------------------------------------- diagonal (view)

if "diagonal" not in OVERLOADS:
    op("diagonal(Tensor input, int offset=0, int dim1=0, int dim2=1) -> Tensor",
       "DiagonalBackward0",
       jvp="linear",
       forward=lambda input, offset, dim1, dim2: np.diagonal(
           input, offset, normalize_dim(dim1, input.ndim), normalize_dim(dim2, input.ndim))
       if _diagonal_shape(input.shape, offset, dim1, dim2) is not None else None,
       vjp={"input": _diagonal_vjp},
       dtype="none", shape=_diagonal_shape,
       samples=explicit(lambda r: Sample((rand(r, 3, 3),)),
                        lambda r: Sample((rand(r, 3, 4), 1)),
                        lambda r: Sample((rand(r, 2, 3, 4), -1, 2, 1))))
