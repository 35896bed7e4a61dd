"""torch's in-place variants, ``x.exp_()``: which rows have one, and the method they get.

native_functions.yaml declares ``exp_(Tensor(a!) self) -> Tensor(a!)`` beside ``exp``, and
derivatives.yaml gives the variant the same formula: the same forward, VJP and grad_fn name
(``ExpBackward0`` on the modified tensor), written into ``self`` by Tensor._inplace (the
version counter moves, views see it, a view's base gets CopySlices). So a variant is one
flag on its row, ``inplace=True``; the rows below get it from this one list, which keeps
the row files as they are. Every ``Tensor.<name>_`` of a flagged row is made here, and
``METHODS`` is what the service accepts as in-place methods.
"""

from __future__ import annotations

from .. import dtypes, saved_hooks
from ..errors import OpError
from .table import OVERLOADS, ROWS, F

# The rows' names whose torch Tensor has ``<name>_`` (asked of torch 2.13: hasattr(
# torch.Tensor, name + "_")), for the ops that keep self's shape and have a derivative.
# Not acosh_, asinh_, atanh_: torch gives those a node of their own (AcoshBackward1, ...)
# whose derivative is not implemented, which would be rows of their own here.
VARIANTS = (
    "abs", "acos", "add", "asin", "atan", "atan2", "ceil",
    "clamp", "clamp_max", "clamp_min", "cos", "cosh", "div", "erf", "erfc", "exp", "exp2",
    "expm1", "floor", "frac", "log", "log10", "log1p", "log2", "logit", "masked_fill", "mul",
    "neg", "pow",
    "reciprocal", "relu", "remainder", "round", "rsqrt", "sgn", "sigmoid", "sign", "sin",
    "sinh", "sqrt", "square", "sub", "tan", "tanh", "trunc",
)

for _name in VARIANTS:
    for _row in OVERLOADS[_name]:
        if _row.params[0].is_tensor:  # not pow.Scalar (2 ** x): self is a number there
            _row.inplace = True

METHODS = frozenset(f"{row.name}_" for row in ROWS.values() if row.inplace)

# torch's clamp kernels with Scalar bounds check the cast themselves and spell the output
# type as caffe2's TypeMeta does ("long int"); every other variant says "Long"
_META_SPELLING = frozenset({"clamp", "clamp_min", "clamp_max"})
_KIND_RANK = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def method(name: str):
    """``Tensor.<name>_``: the row computed out of place, then written into self."""
    fn = getattr(F, name)

    def inplace_method(self, *args, **kwargs):
        if saved_hooks.active:  # a pack hook sees the clone torch saves of self
            saved_hooks.inplace_self(self, F.clone)
            try:
                result = fn(self, *args, **kwargs)
            finally:
                saved_hooks.inplace_self(None, None)
        else:
            result = fn(self, *args, **kwargs)
        want, got = self.array.dtype, result.array.dtype
        if got != want and _KIND_RANK[got.kind] > _KIND_RANK[want.kind]:
            spelling = dtypes.cpp_type_name if name in _META_SPELLING and not any(
                hasattr(a, "shape") for a in (*args, *kwargs.values())) else (
                dtypes.torch_type_name)
            raise OpError(f"result type {dtypes.torch_type_name(got)} can't be cast to the "
                          f"desired output type {spelling(want.name)}")
        return self._inplace(result, variant=True)

    inplace_method.__name__ = inplace_method.__qualname__ = f"{name}_"
    return inplace_method
