"""Does a value fit a schema type? Overload choice and argument validation in the op table
(engine/ops/table.py) read these."""

from __future__ import annotations

from .. import dtypes
from ..backend import ARRAY_TYPES

Tensor = None  # engine._tensor.Tensor, bound by engine._tensor at import (avoids a cycle)


def type_matches(ptype: str, value, strict: bool = False) -> bool:
    """Does ``value`` fit a schema type? Used to pick overloads and to validate. A Python
    number fits a Tensor parameter (torch wraps it) unless ``strict``."""
    if value is None:
        return ptype.endswith("?") or ptype == "Any"
    base = ptype.rstrip("?")
    if base == "Tensor":
        return isinstance(value, (Tensor, *ARRAY_TYPES)) or (not strict and is_number(value))
    if base == "Tensor[]":
        return isinstance(value, (list, tuple)) and all(
            isinstance(v, (Tensor, *ARRAY_TYPES)) for v in value)
    if base == "Scalar":
        return is_number(value)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool) or is_np_int(value)
    if base == "int[]":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, (list, tuple)) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value))
    if base == "float":
        return is_number(value) and not isinstance(value, bool)
    if base == "float[]":
        return isinstance(value, (list, tuple)) and all(is_number(v) for v in value)
    if base == "bool":
        return isinstance(value, bool)
    if base == "str":
        return isinstance(value, str)
    if base == "ScalarType":
        return isinstance(value, (dtypes.dtype, str))
    if base == "Device":
        return isinstance(value, str)
    if base == "MemoryFormat":
        return isinstance(value, dtypes.memory_format) or value in dtypes.MEMORY_FORMATS
    if base == "Any":
        return True
    raise ValueError(f"unknown schema type {ptype}")


# NOTE [numbers for Tensor parameters]: torch's Python argument parser takes a plain number
# for a Tensor parameter in a few functions only (its should_allow_numbers_as_tensors list);
# elsewhere a number reaches an op only through a Scalar overload (pow.Scalar, where.ScalarOther,
# eq.Scalar), and x.type_as(3) or torch.exp(2.0) is a TypeError. A row's Tensor parameter takes
# a number where its name is in this list, where a sibling overload has a Scalar at that
# position, or where the row says so (``numbers``: torch's Scalar overloads that are no rows
# here). Rows with underscore names are the engine's own, called with numbers by its code.
NUMBERS_AS_TENSORS = frozenset({
    "add", "sub", "mul", "div", "divide", "multiply", "subtract", "true_divide", "floor_divide",
})
# NOTE [type sets]: ``type(x) in S`` with S a frozenset hashes once; with a tuple, each
# miss is a rich comparison of types (~100 instructions), on paths run once per op.
NUMBER_TYPES = frozenset((bool, int, float))
SEQUENCE_TYPES = frozenset((list, tuple))  # for ``type(x) in``; isinstance wants a tuple


def is_number(v) -> bool:
    return isinstance(v, (bool, int, float)) or is_np_int(v) or type(v).__name__ in (
        "float32", "float64", "float16")


def is_np_int(v) -> bool:
    return type(v).__name__ in ("int64", "int32", "int8", "int16", "uint8")


def type_name(value) -> str:
    if isinstance(value, Tensor):
        return "Tensor"
    return type(value).__name__
