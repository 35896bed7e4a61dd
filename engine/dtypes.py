"""dtypes as torch names them, and torch's type promotion.

Promotion follows torch.result_type: categories bool < integer < floating; within the
highest category present, dimensioned tensors outrank zero-dim tensors, which outrank
Python scalars; a float Python scalar meeting integer tensors gives the default float32.
"""

import numpy as np


class dtype:
    __slots__ = ("name", "np", "is_floating_point", "itemsize", "_rank")

    def __init__(self, name, np_dtype, is_floating_point, rank):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = is_floating_point
        self.itemsize = self.np.itemsize
        self._rank = rank

    def __repr__(self):
        return f"torch.{self.name}"  # print(x.dtype) reads as it does in torch

    def __reduce__(self):
        return (from_name, (self.name,))


bool_ = dtype("bool", np.bool_, False, 0)
uint8 = dtype("uint8", np.uint8, False, 1)
int8 = dtype("int8", np.int8, False, 1.5)
int16 = dtype("int16", np.int16, False, 1.7)
int32 = dtype("int32", np.int32, False, 2)
int64 = dtype("int64", np.int64, False, 3)
float16 = dtype("float16", np.float16, True, 4)
float32 = dtype("float32", np.float32, True, 5)
float64 = dtype("float64", np.float64, True, 6)
# (no bfloat16: NumPy has no such type, and the engine computes in NumPy's)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"float": float32, "double": float64, "long": int64, "int": int32,
                 "half": float16, "short": int16, "char": int8})
_BY_NP = {d.np: d for d in ALL}
ALL_BY_NAME = {d.name: d for d in ALL}  # by the canonical name only

default_float = float32


def from_name(name: str) -> dtype:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; expected one of "
                         f"{', '.join(d.name for d in ALL)}") from None


def from_numpy(np_dtype) -> dtype:
    d = _BY_NP.get(np_dtype)
    if d is None and not isinstance(np_dtype, np.dtype):
        d = _BY_NP.get(np.dtype(np_dtype))
    if d is None:
        raise TypeError(f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The only "
                        "supported types are: float64, float32, float16, int64, int32, int16, "
                        "int8, uint8, and bool.")
    return d


def as_dtype(value) -> dtype | None:
    if value is None or isinstance(value, dtype):
        return value
    if isinstance(value, str):
        return from_name(value.removeprefix("torch.").removeprefix("engine."))
    return from_numpy(value)


def _category(d: dtype) -> int:
    return 2 if d.is_floating_point else (0 if d is bool_ else 1)


def scalar_dtype(value) -> dtype:
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    return float32 if isinstance(value, float) else float64


def result_type(tensor_dtypes_dims, scalars=()) -> dtype:
    """torch.result_type over (dtype, ndim) pairs of tensors and Python scalars."""
    best = [None, None, None]  # dimensioned tensors, zero-dim tensors, scalars
    for d, ndim in tensor_dtypes_dims:
        slot = 0 if ndim else 1
        best[slot] = d if best[slot] is None else _promote(best[slot], d)
    for s in scalars:
        d = bool_ if isinstance(s, bool) else int64 if isinstance(s, int) else default_float
        best[2] = d if best[2] is None else _promote(best[2], d)
    result = None
    for d in best:
        if d is None:
            continue
        if result is None or _category(d) > _category(result):
            result = d
    if result is None:
        return default_float
    return result


def _promote(a: dtype, b: dtype) -> dtype:
    if {a.name, b.name} == {"uint8", "int8"}:  # neither holds the other: torch takes int16
        return int16
    return a if a._rank >= b._rank else b


_TORCH_TYPE = {"float64": "Double", "float32": "Float", "float16": "Half",
               "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
               "uint8": "Byte", "bool": "Bool"}  # torch's ScalarType names


def torch_type_name(d) -> str:
    """The ScalarType name torch's errors use ('Long', 'Bool', 'Float') for a NumPy or an
    engine dtype, or its name."""
    name = d if isinstance(d, str) else d.name
    return _TORCH_TYPE.get(name, name)


_CPP_NAME = {"float32": "float", "float64": "double", "float16": "c10::Half",
             "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
             "uint8": "unsigned char", "bool": "bool"}  # C++ type names
_LEGACY = {"float32": "torch.FloatTensor", "float64": "torch.DoubleTensor",
           "float16": "torch.HalfTensor", "int64": "torch.LongTensor",
           "int32": "torch.IntTensor", "uint8": "torch.ByteTensor", "bool": "torch.BoolTensor",
           "int16": "torch.ShortTensor", "int8": "torch.CharTensor"}


def cpp_type_name(np_dtype) -> str:
    """The C++ type name torch's kernels print ('float', 'long int')."""
    name = np.dtype(np_dtype).name
    return _CPP_NAME.get(name, name)


def legacy_type_name(np_dtype) -> str:
    """torch's legacy tensor type: 'torch.FloatTensor'."""
    return _LEGACY[from_numpy(np_dtype).name]


def from_legacy_type_name(name: str) -> dtype:
    """The dtype of a legacy tensor type named as torch's Tensor.type takes it."""
    for np_name, legacy in _LEGACY.items():
        if legacy == name:
            return from_numpy(np.dtype(np_name))
    raise ValueError(f"invalid type: '{name}'")


class memory_format:  # noqa: N801 - torch's spelling
    """torch.memory_format: how clone(), contiguous() and to() lay out a copy, and what
    is_contiguous() checks."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"

    def __reduce__(self):
        return (_memory_format, (self.name,))


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last")  # NCHW sizes with NHWC strides
channels_last_3d = memory_format("channels_last_3d")  # NCDHW sizes with NDHWC strides
MEMORY_FORMATS = {f.name: f for f in (contiguous_format, preserve_format, channels_last,
                                      channels_last_3d)}
# the dimension order, outermost first, whose row-major layout each channels-last format is
CHANNELS_LAST_ORDER = {"channels_last": (0, 2, 3, 1), "channels_last_3d": (0, 2, 3, 4, 1)}


def _memory_format(name: str) -> memory_format:
    return MEMORY_FORMATS[name]
