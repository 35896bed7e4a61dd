"""Tensor methods about memory and identity rather than math: stride, storage_offset,
data_ptr, _base, untyped_storage / storage, resize_, pickling, allclose. Tensor inherits
them (engine/_tensor.py keeps the autograd state)."""

from __future__ import annotations

import warnings

import numpy as np

from . import backend, graph, inference, views
from .errors import DerivativeNotImplemented, GradientError, OpError
from .ops import table


def _address(a) -> int:
    try:
        return a.__array_interface__["data"][0]
    except AttributeError:  # CuPy
        return a.data.ptr


class UntypedStorage:
    """The memory a tensor and its views share (torch.UntypedStorage), in bytes."""

    def __init__(self, array):
        self._array = backend.root_array(array)

    def nbytes(self) -> int:
        return int(self._array.nbytes)

    def size(self) -> int:
        return self.nbytes()

    def data_ptr(self) -> int:
        return _address(self._array)

    def __len__(self) -> int:
        return self.nbytes()


class TypedStorage(UntypedStorage):
    """torch.TypedStorage (deprecated there): the same memory counted in elements."""

    def __init__(self, array, np_dtype):
        super().__init__(array)
        self._np_dtype = np_dtype

    def size(self) -> int:
        return self.nbytes() // self._np_dtype.itemsize

    def __len__(self) -> int:
        return self.size()

    def tolist(self) -> list:
        root = backend.to_numpy(self._array)
        return np.frombuffer(np.ascontiguousarray(root).tobytes(), self._np_dtype).tolist()


def _rebuild(array, requires_grad):
    """Unpickling: a leaf with the values, requiring grad as the pickled tensor did."""
    t = table._Tensor._make(array)
    t._requires_grad = requires_grad
    return t


class TensorExtras:
    __slots__ = ()

    def stride(self, dim=None):
        a = self.array
        strides = tuple(s // a.itemsize for s in a.strides)
        if dim is None:
            return strides
        return strides[table.normalize_dim(dim, a.ndim)]

    def storage_offset(self) -> int:
        a = self.array
        return (_address(a) - _address(backend.root_array(a))) // a.itemsize

    def data_ptr(self) -> int:
        return _address(self.array)

    @property
    def _base(self):
        """The tensor this one is a view of (the first one made), None if not a view (as
        an inference tensor never is one for torch)."""
        if type(self._version_counter) is not list:
            return None
        t = self
        while t._view is not None:
            t = t._view[0]
        return None if t is self else t

    def _is_view(self) -> bool:
        """(a view of an inference tensor, made in inference mode or not, is none for torch:
        it is an inference tensor, which has no version counter to share)"""
        return self._view is not None and type(self._version_counter) is list

    def untyped_storage(self) -> UntypedStorage:
        return UntypedStorage(self.array)

    def storage(self) -> TypedStorage:
        warnings.warn("TypedStorage is deprecated. It will be removed in the future and "
                      "UntypedStorage will be the only storage class. This should only matter "
                      "to you if you are using storages directly.  To access UntypedStorage "
                      "directly, use tensor.untyped_storage() instead of tensor.storage()",
                      UserWarning, stacklevel=2)
        return TypedStorage(self.array, self.array.dtype)

    def resize_(self, *sizes, memory_format=None):
        """Give this tensor ``sizes``: its values kept in order as far as they go, zeros
        after; refused for a tensor that requires grad (outside inference mode, where torch
        records nothing), as torch does. A new shape is a new version: an inference tensor,
        which has none, is refused there outside the mode, once resized (as torch's)."""
        inf = table._grad_state.inference
        counted = type(self._version_counter) is list
        if self._requires_grad and counted and not inf:
            raise GradientError("cannot resize variables that require grad")
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        sizes = tuple(int(s) for s in sizes)
        if sizes != self.array.shape:
            self._resize_array(sizes)
            if counted:
                self._version_counter[0] += 1
            elif not inf:
                raise GradientError(inference.INPLACE_ERROR)
        return self

    def resize_as_(self, the_template, memory_format=None):
        if not isinstance(the_template, table._Tensor):
            raise TypeError("resize_as_(): argument 'the_template' (position 1) must be "
                            f"Tensor, not {type(the_template).__name__}")
        if self._requires_grad and not table._grad_state.inference:  # an inference tensor too
            raise GradientError("cannot resize variables that require grad")
        return self.resize_(the_template.array.shape)

    def _resize_array(self, sizes) -> None:
        """The memory work of resize_, without its checks or version (an out= tensor)."""
        if any(s < 0 for s in sizes):
            raise OpError(f"Trying to create tensor with negative dimension {min(sizes)}: "
                          f"{list(sizes)}")
        xp = backend.module_of(self.array)
        flat = self.array.reshape(-1)
        n = int(np.prod(sizes, dtype=np.int64))
        if n <= flat.size and self.array.flags.c_contiguous:
            self.array = flat[:n].reshape(sizes)
        else:
            out = xp.zeros(n, dtype=self.array.dtype)
            out[:min(n, flat.size)] = flat[:n]
            self.array = out.reshape(sizes)

    def set_(self, source=None, storage_offset=None, size=None, stride=None):
        """torch's set_: this tensor takes ``source``'s memory, sizes and strides (a Tensor;
        with ``storage_offset`` and ``size``, that part of its memory, the offset counted
        from the Tensor's own), or a storage's, or none (no elements). A new version; a
        leaf that requires grad is refused in grad mode, and where this tensor or the source
        requires grad the result comes out of a node whose backward raises, as torch's."""
        Tensor = table._Tensor  # (bound once _tensor.py is loaded; this module is its base)
        if source is not None and not isinstance(source, (Tensor, UntypedStorage)):
            raise TypeError(_set_refusal(type(source).__name__))
        want = self.array.dtype
        if source is None:
            array = backend.module_of(self.array).zeros((0,), dtype=want)
        else:
            is_tensor = isinstance(source, Tensor)
            root = backend.root_array(source.array) if is_tensor else source._array
            if is_tensor and source.array.dtype != want:
                names = [table.dtypes.cpp_type_name(d) for d in (source.array.dtype, want)]
                raise OpError(f"Could not set tensor of type {names[0]} to a tensor of type "
                              f"{names[1]}")
            if is_tensor and size is None:
                array = source.array
            else:
                base = source.storage_offset() if is_tensor else 0
                if size is None:  # a whole storage, as elements of this tensor's dtype
                    size, storage_offset = (root.nbytes // want.itemsize,), 0
                array = _strided_over(root, want, base + (storage_offset or 0), tuple(size),
                                      stride)
        grad_on = table._grad_state.enabled
        if self._grad_fn is None and self._requires_grad and grad_on:
            raise GradientError("a leaf Variable that requires grad is being used in an "
                                "in-place operation.")
        source_grad = isinstance(source, Tensor) and source._requires_grad
        edges = ((self._edge() if self._requires_grad else (None, 0)),
                 (source._edge() if source_grad else (None, 0)))
        self.array = array
        self._version_counter[0] += 1
        self._acc = None  # as torch's: a leaf's graph made before no longer reaches it
        if grad_on and (self._requires_grad or source_grad):
            node = _SetNotImplemented()
            node.seq = next(graph.sequence_nrs)
            node.next_functions = edges
            node.out_metas = ((array.shape, array.dtype),)
            views.set_history(self, node, 0)
        return self

    def polygamma(self, n):
        """x.polygamma(n): torch.polygamma(n, x) (the row's order puts n first)."""
        return table.F.polygamma(n, self)

    def transpose_(self, dim0, dim1):
        """In place: this tensor takes the transposed layout (a new version, and
        TransposeBackward1 as its grad_fn when it requires grad)."""
        grad_on = table._grad_state.enabled
        if self._grad_fn is None and self._requires_grad and grad_on and not (
                inference.is_inference_view(self)):
            raise GradientError("a leaf Variable that requires grad is being used in an "
                                "in-place operation.")
        if type(self._version_counter) is not list and not table._grad_state.inference:
            raise GradientError(inference.INPLACE_ERROR)
        if inference.is_inference_view(self) and grad_on and views.root_of(self)._requires_grad:
            raise GradientError(inference.VIEW_INPLACE_ERROR)
        result = table.F._transpose_inplace(self, dim0, dim1)
        self.array = result.array
        self._version_counter[0] += 1
        if result._grad_fn is not None:
            views.set_history(self, result._grad_fn, 0)
        root = self if self._view is None else views.root_of(self)
        if root._views:  # views made before see the change
            views.regenerate(root)
        return self

    def t_(self):
        return self.transpose_(0, 1) if self.ndim == 2 else self

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
        return allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other) -> bool:
        return equal(self, other)

    def __reduce_ex__(self, protocol):
        return (_rebuild, (backend.to_numpy(self.array).copy(), self._requires_grad))


class _SetNotImplemented(graph.node_class("torch::autograd::NotImplemented")):
    """set_'s node, as torch's (named NotImplemented): its backward raises."""

    def apply(self, grads, raw: bool):
        raise DerivativeNotImplemented("derivative for set_ is not implemented", self)


_SetNotImplemented.__name__ = _SetNotImplemented.__qualname__ = "NotImplemented"


def _set_refusal(got: str) -> str:
    bad = f"      didn't match because some of the arguments have invalid types: (!{got}!)\n"
    return (f"set_() received an invalid combination of arguments - got ({got}), but expected "
            "one of:\n * ()\n" + bad + " * (torch.Storage source)\n" + bad
            + " * (torch.Storage source, int storage_offset, tuple of ints size, tuple of ints "
            "stride = None)\n * (Tensor source)\n" + bad + " * (Tensor source, int "
            "storage_offset, tuple of ints size, tuple of ints stride = None)\n")


def _strided_over(root, dtype, offset: int, size: tuple, stride) -> np.ndarray:
    """``size`` elements of ``dtype`` at ``stride`` (contiguous when None) from element
    ``offset`` of the memory ``root`` owns, checked against its size as torch's
    setStorage."""
    if offset < 0:
        raise OpError(f"Tensor: invalid storage offset {offset}")
    shown = "[]" if stride is None else f"[{', '.join(map(str, stride))}]"
    if stride is None:
        stride, step = [], 1
        for n in reversed(size):
            stride.insert(0, step)
            step *= max(n, 1)
    stride = tuple(stride)
    itemsize = np.dtype(dtype).itemsize
    needed = 0 if 0 in size else (offset + 1 + sum((n - 1) * st for n, st in zip(size, stride)))
    if needed * itemsize > root.nbytes:
        raise OpError(f"setStorage: sizes [{', '.join(map(str, size))}], strides {shown}, "
                      f"storage offset {offset}, and itemsize {itemsize} requiring a storage "
                      f"size of {needed * itemsize} are out of bounds for storage of size "
                      f"{root.nbytes}")
    if not isinstance(root, np.ndarray):
        raise NotImplementedError("set_ with a storage offset or sizes: NumPy arrays only")
    return np.ndarray(size, dtype=dtype, buffer=root, offset=offset * itemsize,
                      strides=tuple(st * itemsize for st in stride))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """torch.allclose: |input - other| <= atol + rtol * |other| everywhere (broadcast),
    for tensors of one dtype."""
    a, b = input.array, other.array
    if a.dtype != b.dtype:
        raise OpError(f"{table.dtypes.torch_type_name(a.dtype.name)} did not match "
                      f"{table.dtypes.torch_type_name(b.dtype.name)}")
    table.broadcast_shapes(tuple(a.shape), tuple(b.shape))  # torch's size error
    xp = backend.module_of(a)
    return bool(xp.all(xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)))


def equal(input, other) -> bool:
    """torch.equal: the same shape and the same values (NaN never equals)."""
    a, b = input.array, other.array
    return a.shape == b.shape and bool(backend.module_of(a).all(a == b))


class tensortype(type):  # noqa: N801 - torch.tensortype, the type of torch.FloatTensor
    """torch.LongTensor and its kin (torch.tensortype): called, the legacy constructor in
    that dtype, ``(data)`` -> a tensor of it, ``(*sizes)`` -> zeros of that shape, as the
    legacy torch.Tensor constructor does in float32; as a type, what a CPU tensor of that
    dtype is an instance of; ``.dtype`` names the dtype."""

    def __instancecheck__(cls, obj) -> bool:
        return (isinstance(obj, table._Tensor) and obj.array.dtype == cls._np_dtype
                and obj.device == "cpu")

    def __call__(cls, *args):
        t = table._Tensor(*args)
        t.array = t.array.astype(cls._np_dtype)
        return t


def _legacy_constructor(name, np_dtype):
    return tensortype(name, (), {"_np_dtype": np.dtype(np_dtype),
                                        "dtype": table.dtypes.from_numpy(np_dtype),
                                        "__module__": "torch"})


FloatTensor = _legacy_constructor("FloatTensor", np.float32)
DoubleTensor = _legacy_constructor("DoubleTensor", np.float64)
HalfTensor = _legacy_constructor("HalfTensor", np.float16)
LongTensor = _legacy_constructor("LongTensor", np.int64)
IntTensor = _legacy_constructor("IntTensor", np.int32)
ShortTensor = _legacy_constructor("ShortTensor", np.int16)
CharTensor = _legacy_constructor("CharTensor", np.int8)
ByteTensor = _legacy_constructor("ByteTensor", np.uint8)
BoolTensor = _legacy_constructor("BoolTensor", np.bool_)
