"""The JSON form of a tensor index (x[index] on the wire): decoded to the Python object
torch would be given, and encoded back."""

import operator

import numpy as np

from engine.backend import to_numpy
from engine.errors import IndexOpError, IndexTypeError, OpError
from engine.ops.creation import nested_shape
from engine.ops.subscript import (
    BAD_INDEX,
    is_int_index,
    list_is_tuple,
    sequence_index,
    tensor_array,
)

# --------------------------------------------------------------------------- the JSON form
# An index on the wire: a list is a tuple of items; any other value is one item on its own
# (torch treats x[:] and x[(slice(None),)] differently, so the two forms are kept apart).
# Items: int; null (None); "..." (Ellipsis); {"slice": [start, stop, step]} with ints or
# nulls; a (nested) list of ints (an int64 index) or of bools (a mask); true/false; any
# other string names a tensor, left for the caller to resolve.

_ITEM_FORMS = ('an int, null, "...", true/false, {"slice": [start, stop, step]}, a (nested) '
               'list of ints or of bools, or a tensor name')


def decode_index(spec):
    """The JSON form of an index -> the Python index object torch would be given."""
    if isinstance(spec, list):
        return tuple(_decode_item(item) for item in spec)
    return _decode_item(spec)


def _decode_item(item):
    if item is None or isinstance(item, bool):
        return item
    if isinstance(item, int):
        return item
    if isinstance(item, str):
        return Ellipsis if item == "..." else item
    if isinstance(item, dict):
        bounds = item.get("slice")
        if (set(item) != {"slice"} or not isinstance(bounds, list) or len(bounds) != 3
                or any(b is not None and (isinstance(b, bool) or not isinstance(b, int))
                       for b in bounds)):
            raise OpError(f"invalid slice {item!r}: expected {{\"slice\": [start, stop, step]}} "
                          "with ints or nulls")
        return slice(*bounds)
    if isinstance(item, list):
        return _decode_array(item)
    raise OpError(f"invalid index item {item!r}: expected {_ITEM_FORMS}")


def _decode_array(data):
    try:
        nested_shape(data)
    except OpError as e:
        raise OpError(f"invalid index list: {e}") from None
    leaves, stack = [], [data]
    while stack:  # iterative: nesting depth is the user's
        x = stack.pop()
        if isinstance(x, list):
            stack.extend(x)
        else:
            leaves.append(x)
    if leaves and all(isinstance(x, bool) for x in leaves):
        return np.array(data, dtype=np.bool_)
    if all(isinstance(x, int) and not isinstance(x, bool) for x in leaves):
        return np.array(data, dtype=np.int64)
    raise OpError("invalid index list: expected only ints or only bools")


def encode_index(obj):
    """A Python index -> its JSON form (the inverse of :func:`decode_index`)."""
    if isinstance(obj, tuple) or list_is_tuple(obj):
        return [_encode_item(o) for o in obj]
    item = _encode_item(obj)
    # a lone index list encodes as a list: wrap it so it reads back as one item (torch
    # treats x[idx] and x[(idx,)] the same for these)
    return [item] if isinstance(item, list) else item


def _encode_item(obj):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if obj is Ellipsis:
        return "..."
    if isinstance(obj, np.bool_):
        return bool(obj)
    if is_int_index(obj):
        return int(obj)
    if isinstance(obj, slice):
        bounds = []
        for b in (obj.start, obj.stop, obj.step):
            try:
                bounds.append(None if b is None else operator.index(b))
            except TypeError:
                raise IndexTypeError("slice indices must be integers or None or have an "
                                     "__index__ method") from None
        return {"slice": bounds}
    arr = tensor_array(obj)
    if arr is None and isinstance(obj, (list, tuple)):
        arr = sequence_index(obj)
    if arr is None:
        raise IndexOpError(BAD_INDEX.format(type(obj).__name__))
    if arr.dtype.kind not in "biu":
        raise IndexOpError("tensors used as indices must be long, int, byte or bool tensors")
    arr = to_numpy(arr)
    return (arr.astype(bool) if arr.dtype == np.uint8 else arr).tolist()
