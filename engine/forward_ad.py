"""torch.autograd.forward_ad: dual tensors and forward-mode JVP rules.

Tangents ride along op calls: while a dual level is open, the op table calls ``propagate``
after each op on Tensors; an op with a tangent on any input runs its JVP rule (``JVP``
below, by op name) on the primals and tangents, and the result gets the output tangent.
An op without a rule raises torch's NotImplementedError, never a silent zero.

Tangents are kept per level in a dict keyed by id() (Tensors have __slots__ and no weak
references), holding the tensor so the id stays valid; leaving the level drops them all,
so ``unpack_dual`` then gives ``tangent=None`` as in torch.
"""

from __future__ import annotations

from collections import namedtuple

from . import grad_mode
from ._tensor import Tensor
from .ops import table as _table
from .ops.table import F

UnpackedDualTensor = namedtuple("UnpackedDualTensor", ["primal", "tangent"])

_levels: list[dict] = []  # open levels, innermost last: {id(tensor): (tensor, tangent)}


def enter_dual_level() -> int:
    _levels.append({})
    _table.forward_hook = propagate
    return len(_levels) - 1


def exit_dual_level(*, level=None) -> None:
    if _levels:
        _levels.pop()
    if not _levels:
        _table.forward_hook = None


class dual_level:
    """``with dual_level():`` opens a level for make_dual / unpack_dual."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()


def make_dual(tensor: Tensor, tangent: Tensor, *, level=None) -> Tensor:
    if not _levels:
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level "
                           "exists, make sure to enter_dual_level() first.")
    if tangent.shape != tensor.shape:
        raise RuntimeError("Trying to set a forward gradient that has a different size than "
                           "that of the original Tensor, this is not supported. Tensor is of "
                           f"size {list(tensor.shape)} while the given forward gradient is "
                           f"of size {list(tangent.shape)}.")
    dual = _untracked_alias(tensor)
    _levels[-1][id(dual)] = (dual, Tensor._make(tangent.array))
    return dual


def _tangent(t):
    if not _levels or not isinstance(t, Tensor):
        return None
    entry = _levels[-1].get(id(t))
    return entry[1] if entry is not None and entry[0] is t else None


def unpack_dual(tensor: Tensor, *, level=None) -> UnpackedDualTensor:
    tangent = _tangent(tensor)
    primal = tensor if tangent is None else _untracked_alias(tensor)
    return UnpackedDualTensor(primal, tangent)


def _untracked_alias(tensor):
    """A view of ``tensor`` (its autograd history kept) that carries no tangent."""
    hook, _table.forward_hook = _table.forward_hook, None
    try:
        return F.alias(tensor)
    finally:
        _table.forward_hook = hook


# ------------------------------------------------------------------------ propagation

def propagate(op, args, out):
    """After ``op(*args)`` made ``out``: its tangent, when an input has one."""
    if not _levels:
        return out
    tangents = {}
    for i in op.tensor_params:
        t = _tangent(args[i])
        if t is not None:
            tangents[op.params[i].name] = t
    if not tangents:
        return out
    rule = JVP.get(op.name)
    if rule is None:
        raise NotImplementedError(
            f"Trying to use forward AD with {op.name} that does not support it because it "
            "has not been implemented yet.\nPlease file an issue to PyTorch at https://github"
            ".com/pytorch/pytorch/issues/new?template=feature-request.yml so that we can "
            "prioritize its implementation or submit a PR adding the implementation to "
            "derivatives.yaml")
    hook, _table.forward_hook = _table.forward_hook, None  # the rule's own ops: plain
    try:
        with grad_mode.no_grad():
            p = {prm.name: (Tensor._make(a.array) if isinstance(a, Tensor) else a)
                 for prm, a in zip(op.params, args)}
            result = Tensor._make(out.array) if isinstance(out, Tensor) else out
            tangent = rule(op, args, p, tangents, result)
    finally:
        _table.forward_hook = hook
    if tangent is not None and isinstance(out, Tensor):
        if tangent.shape != out.shape:
            tangent = F.expand(tangent, tuple(out.shape)).contiguous()
        if tangent.dtype is not out.dtype:
            tangent = tangent.to(out.dtype)
        _levels[-1][id(out)] = (out, tangent)
    return out


def _t(tangents, name, p):
    """The tangent of argument ``name``: zeros of its shape when it has none."""
    t = tangents.get(name)
    if t is not None:
        return t
    v = p[name]
    return F.zeros_like(v) if isinstance(v, Tensor) else 0.0


def _linear(op, args, p, tangents, result):
    """Ops linear in their (single) Tensor input: the op applied to the tangent."""
    new = [tangents.get(prm.name, a) if prm.is_tensor else a
           for prm, a in zip(op.params, [p[prm.name] for prm in op.params])]
    return op(*new)


def _add(op, args, p, tg, r):
    alpha = p.get("alpha", 1)
    return _t(tg, "input", p) + _t(tg, "other", p) * alpha


def _sub(op, args, p, tg, r):
    alpha = p.get("alpha", 1)
    return _t(tg, "input", p) - _t(tg, "other", p) * alpha


def _mul(op, args, p, tg, r):
    return _t(tg, "input", p) * p["other"] + p["input"] * _t(tg, "other", p)


def _div(op, args, p, tg, r):
    other = p["other"]
    return _t(tg, "input", p) / other - p["input"] * _t(tg, "other", p) / (other * other)


def _bilinear(op, args, p, tg, r):
    """matmul, mm, bmm, mv, dot: (da) b + a (db), with the op itself."""
    a, b = (op.params[i].name for i in op.tensor_params[:2])
    out = None
    if a in tg:
        out = op(tg[a], p[b])
    if b in tg:
        other = op(p[a], tg[b])
        out = other if out is None else out + other
    return out


def _pow(op, args, p, tg, r):
    if "exponent" in p and not isinstance(p["exponent"], Tensor):
        e = p["exponent"]
        return tg["input"] * e * p["input"] ** (e - 1) if e != 0 else None
    raise NotImplementedError("forward AD for pow with a Tensor exponent is not implemented "
                              "here")


def _unary(fn):
    return lambda op, args, p, tg, r: fn(tg["input"], p["input"], r)


JVP = {
    "add": _add, "sub": _sub, "mul": _mul, "div": _div, "matmul": _bilinear, "mm": _bilinear,
    "bmm": _bilinear, "mv": _bilinear, "dot": _bilinear, "pow": _pow,
    "neg": _linear, "sum": _linear, "mean": _linear, "reshape": _linear, "view": _linear,
    "transpose": _linear, "permute": _linear, "expand": _linear, "squeeze": _linear,
    "unsqueeze": _linear, "clone": _linear, "alias": _linear, "select": _linear, "flatten": _linear, "t": _linear,
    "exp": _unary(lambda t, x, r: t * r),
    "log": _unary(lambda t, x, r: t / x),
    "sin": _unary(lambda t, x, r: t * F.cos(x)),
    "cos": _unary(lambda t, x, r: -t * F.sin(x)),
    "tanh": _unary(lambda t, x, r: t * (1 - r * r)),
    "sigmoid": _unary(lambda t, x, r: t * r * (1 - r)),
    "relu": _unary(lambda t, x, r: F.where(x > 0, t, 0.0)),
    "sqrt": _unary(lambda t, x, r: t / (2 * r)),
}
