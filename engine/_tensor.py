"""Tensor: an array plus the autograd state torch shows (requires_grad, grad, grad_fn)."""

from __future__ import annotations

import warnings
import weakref

import numpy as np

from . import backend, dtypes, inference, saved_hooks, views
from . import graph as _graph_module
from .dtypes import legacy_type_name
from .errors import (
    NON_LEAF_GRAD_WARNING,
    OVERLAP_ERROR,
    ArgumentTypeError,
    GradientError,
    IndexOpError,
    OpError,
)
from .grad_mode import is_grad_enabled
from .graph import AccumulateGrad, HookDict, RemovableHandle
from .ops import arg_types, inplace, movement, table
from .ops.creation import from_nested
from .printing import tensor_repr
from .tensor_extras import TensorExtras

_ndarray = np.ndarray


def _options(t) -> str:
    """How torch's errors print a tensor's TensorOptions."""
    return (f"TensorOptions(dtype={dtypes.cpp_type_name(t.dtype.name)}, device={t.device}, "
            "layout=Strided, requires_grad=false (default), pinned_memory=false (default), "
            "memory_format=(nullopt))")


# NOTE [no __delattr__ on Tensor]
# torch refuses ``del x.data``, ``del x.requires_grad`` and ``del x._backward_hooks`` with
# these texts, and setting or deleting its read-only attributes (grad_fn, is_leaf, shape...)
# with an AttributeError (_read_only below). They are the properties' setters and deleters
# here, not a ``__delattr__``: a class that defines ``__delattr__`` gets CPython's
# Python-level attribute-setting slot, which made every attribute set (eleven in
# ``Tensor._make``) slower, ~15% of a small op's cost.
# ``del x._grad_fn``, refused by torch too, deletes a slot here: not modelled. Refusing it
# needs either that slot, a property over a renamed slot (a read of ``_grad_fn``, several per
# op, ~4x slower: 22 ns -> 90 ns) or every reader renamed.


# NOTE [_backward_hooks]: torch's Tensor._backward_hooks is the OrderedDict register_hook
# fills (None before the first hook). A leaf's AccumulateGrad reads it when it runs, so
# assigning another dict (or None) replaces the leaf's hooks: here it is the leaf's
# ``_hooks``. A non-leaf's node took the dict of its first register_hook: assigning the
# attribute later changes what it reads back, not what the node runs (kept aside here, by
# id, so that Tensor needs no slot for it).
_nonleaf_hooks_attr: dict = {}


def _refuse_delete(message: str):
    def deleter(self):
        raise GradientError(message)
    return deleter


class Size(tuple):
    """torch.Size: a tuple that prints as torch does."""

    __slots__ = ()

    def __repr__(self):
        return f"torch.Size([{', '.join(str(d) for d in self)}])"

    def numel(self) -> int:
        n = 1
        for d in self:
            n *= d
        return n


def _binary_operator(name: str, reflected: bool = False):
    """An operator method that is the table's op ``name`` as it is, as torch/_tensor.py
    has them: ``name(self, other)``, or ``name(other, self)`` when ``reflected`` (the op
    looked up at each call, as ``table.F.<name>`` would be)."""
    if reflected:
        def operator(self, other):
            return getattr(table.F, name)(other, self)
    else:
        def operator(self, other):
            return getattr(table.F, name)(self, other)
    return operator


def _conversion(dtype):
    """A method that is ``self.to(dtype)``: Tensor.float(), .double(), .long(), ..."""
    def convert(self) -> Tensor:
        return self.to(dtype)
    return convert


def _unary_operator(name: str):
    """An operator method that is the table's one-tensor op ``name``: ``name(self)``."""
    def operator(self):
        return getattr(table.F, name)(self)
    return operator


class Tensor(TensorExtras):
    __slots__ = ("array", "_requires_grad", "_grad_fn", "_output_nr", "_grad",
                 "_retains_grad", "_hooks", "_acc", "_version_counter", "_view", "_views",
                 "__weakref__")

    # -- construction

    def __init__(self, *args):
        """The legacy constructor torch.Tensor(...): data -> float32, or sizes -> zeros."""
        if len(args) == 1 and not isinstance(args[0], int):
            src = args[0]
            arr = (src.array if isinstance(src, Tensor) else
                   np.asarray(from_nested(src) if isinstance(src, (list, tuple)) else src))
            arr = np.array(arr, dtype=np.float32)
        else:  # (no sizes: an empty tensor, shape (0,), as torch's)
            arr = np.zeros(tuple(args) if args else (0,), dtype=np.float32)
        self._init(arr)

    def new(self, *args, device=None) -> Tensor:
        """The legacy ``Tensor.new``, always in this tensor's dtype: ``()`` -> an empty
        tensor, ``(*sizes)`` or ``(Size)`` -> that shape (torch leaves the memory
        uninitialized; zeros here), a Tensor of this dtype -> an alias of it (as torch's,
        AliasBackward0 when it requires grad), a sequence -> those values. Never requires
        grad itself."""
        xp = backend.module_for(device) if device is not None else backend.module_of(self.array)
        np_dtype = self.array.dtype
        if not args:
            return Tensor._make(xp.zeros((0,), dtype=np_dtype))
        sizes = (tuple(args[0]) if len(args) == 1 and isinstance(args[0], Size)  # a tuple
                 else args)  # is data, a Size sizes (Size([]): a 0-d tensor)
        if all(isinstance(a, int) and not isinstance(a, bool) for a in sizes):
            if any(a < 0 for a in sizes):
                raise OpError(f"Trying to create tensor with negative dimension "
                              f"{min(sizes)}: {list(sizes)}")
            return Tensor._make(xp.zeros(sizes, dtype=np_dtype))
        if len(args) == 1 and isinstance(args[0], Tensor):
            if args[0].array.dtype != np_dtype:
                raise TypeError(f"expected {_options(self)} (got {_options(args[0])})")
            return table.F.alias(args[0])
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            return Tensor._make(xp.asarray(np.array(from_nested(args[0]), dtype=np_dtype)))
        raise TypeError(f"new(): data must be a sequence (got {type(args[0]).__name__})")

    def _init(self, arr):
        self.array = arr
        self._requires_grad = False
        self._grad_fn = None
        self._output_nr = 0
        self._grad = None
        self._retains_grad = False
        self._hooks = None
        self._acc = None
        self._version_counter = [0]  # a list shared by a base and its views
        self._view = None  # (base, op, args, output index, grad mode, base required grad)
        self._views = None  # weakrefs to the views made of this tensor

    @classmethod
    def _make(cls, arr) -> Tensor:
        """Wrap an array (internal, no copy)."""
        t = object.__new__(cls)
        if type(arr) is not _ndarray and (not hasattr(arr, "ndim") or type(
                arr).__module__ == "numpy" and not isinstance(arr, np.ndarray)):
            arr = np.asarray(arr)  # NumPy scalars (and numbers) become 0-d arrays
        t.array = arr
        t._requires_grad = False
        t._grad_fn = None
        t._output_nr = 0
        t._grad = None
        t._retains_grad = False
        t._hooks = None
        t._acc = None
        t._version_counter = [0]
        t._view = None
        t._views = None
        return t

    @classmethod
    def _make_with_history(cls, arr, node, output_nr) -> Tensor:
        t = cls._make(arr)
        t._set_history(node, output_nr)
        return t

    def _set_history(self, node, output_nr) -> None:
        self._grad_fn = node
        self._output_nr = output_nr
        self._requires_grad = True

    # -- autograd state

    @property
    def grad_fn(self):
        fn = self._grad_fn
        if fn.__class__ is _RefusedView:  # a view torch gives no history (engine/views.py)
            raise GradientError(fn.message)
        return fn

    @property
    def is_leaf(self) -> bool:
        fn = self._grad_fn
        if fn.__class__ is _RefusedView:
            raise GradientError(fn.message)
        return fn is None

    @property
    def requires_grad(self) -> bool:
        # (a refused view answers too, True, as torch reads it without regenerating the
        # view's grad_fn: only grad_fn and is_leaf raise)
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._grad_fn is not None:  # the setter refuses True too (requires_grad_ doesn't)
            raise GradientError(_ONLY_LEAF if not value else _ONLY_LEAF.split(" If ")[0])
        if value and not self.dtype.is_floating_point:
            raise GradientError("only Tensors of floating point and complex dtype can require "
                                "gradients")
        inference.check_requires_grad(self, value)
        views.set_requires_grad(self, bool(value))

    requires_grad = requires_grad.deleter(_refuse_delete("requires_grad must be a bool"))

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self._grad_fn is not None:
            if not requires_grad:
                raise GradientError(_ONLY_LEAF)
            return self
        if requires_grad and not self.dtype.is_floating_point:
            raise GradientError("only Tensors of floating point dtype can require gradients")
        inference.check_requires_grad(self, requires_grad)
        views.set_requires_grad(self, bool(requires_grad))
        return self

    def is_inference(self) -> bool:
        return inference.is_inference(self)

    @property
    def _version(self) -> int:
        """torch's ``_version``: the counter's value now (an int, not the shared counter)."""
        counter = self._version_counter
        if type(counter) is not list:  # NOTE [inference tensors]
            raise GradientError("Inference tensors do not track version counter.")
        return counter[0]

    @property
    def output_nr(self) -> int:
        return self._output_nr

    @property
    def grad(self):
        if self._grad_fn is not None and not self._retains_grad:
            warnings.warn(NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
            return None
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if value is self:
                raise GradientError("can't assign Variable as its own grad")
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad "
                                f"of type {type(value).__name__}")
            if value.shape != self.shape:
                raise GradientError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor "
                    f"of size '{list(self.shape)}'. Please ensure that the gradient and the "
                    "tensor are the same size")
            if value.dtype is not self.dtype:
                raise GradientError(
                    "attempting to assign a gradient with dtype "
                    f"'{dtypes.cpp_type_name(value.dtype.name)}'"
                    f" to a tensor with grad_dtype '{dtypes.torch_type_name(self.dtype)}'. The "
                    "gradient must match the tensor's grad_dtype (defaults to the tensor's "
                    "dtype). You can set the tensor's grad_dtype attribute with a specific "
                    "dtype, or None to allow any dtype. Set grad_dtype with caution. Diverging "
                    "the dtypes of a tensor and its gradient may break downstream systems that "
                    "assume they match.")
            _graph_module.expose(value._grad_fn)  # a .grad made from self: a cycle
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    @property
    def volatile(self) -> bool:
        """Removed in torch long ago: always False, with torch's warning."""
        warnings.warn("volatile was removed (Variable.volatile is always False)", UserWarning,
                      stacklevel=2)
        return False

    @volatile.setter
    def volatile(self, value) -> None:
        warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` "
                      "instead.", UserWarning, stacklevel=2)

    @volatile.deleter
    def volatile(self) -> None:  # (torch's deleter is its setter)
        warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` "
                      "instead.", UserWarning, stacklevel=2)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def retain_grad(self) -> None:
        if not self._requires_grad:
            raise GradientError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is None or self._retains_grad:
            return
        node = self._grad_fn
        if node.retains_grad_hooks is None:
            node.retains_grad_hooks = {}
        node.retains_grad_hooks[self._output_nr] = weakref.ref(self)
        self._retains_grad = True

    def register_hook(self, hook) -> RemovableHandle:
        """Run ``hook(grad)`` when this tensor's gradient is computed; a non-None return
        replaces the gradient."""
        if not self._requires_grad:
            raise GradientError("cannot register a hook on a tensor that doesn't require "
                                "gradient")
        if self._grad_fn is not None:
            return self._grad_fn._add_tensor_pre_hook(self._output_nr, hook)
        if self._hooks is None:
            self._hooks = HookDict()
        return self._hooks.add(hook)

    def register_post_accumulate_grad_hook(self, hook) -> RemovableHandle:
        """Run ``hook(self)`` after a backward accumulated into this leaf's ``.grad``."""
        if not self._requires_grad:
            raise GradientError("cannot register a hook on a tensor that doesn't require "
                                "gradient")
        if self._grad_fn is not None:
            raise GradientError("post accumulate grad hooks cannot be registered on non-leaf "
                                "tensors")
        return _graph_module.post_accumulate_hooks_of(self).add(hook)

    def _accumulator(self) -> AccumulateGrad | None:
        acc = self._acc
        if acc is _THROUGH_BASE:  # NOTE [a view whose base came to require grad]: no edge
            return None
        node = acc() if acc is not None else None
        if node is None:
            node = AccumulateGrad(self)
            self._acc = weakref.ref(node)
        return node

    def _edge(self):
        if self._grad_fn is not None:
            return (self._grad_fn, self._output_nr)
        return (self._accumulator(), 0)

    def detach(self) -> Tensor:
        t = Tensor._make(self.array)
        t._version_counter = self._version_counter  # a view: shares the version counter
        return t

    def detach_(self) -> Tensor:
        if self._view is not None:
            raise GradientError(_DETACH_VIEW)
        self._grad_fn = None
        self._output_nr = 0
        self._requires_grad = False
        if table.forward_hook is not None:  # its tangent goes too, as torch's
            forward_ad_detach(self)
        return self

    @property
    def data(self) -> Tensor:
        return Tensor._make(self.array)

    @data.setter
    def data(self, value) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
        if self._requires_grad and not value.dtype.is_floating_point:
            raise GradientError("data set to a tensor that requires gradients must be "
                                "floating point or complex dtype")
        self.array = value.array  # the version counter stays this tensor's, as in torch

    data = data.deleter(_refuse_delete(
        "Deleting tensor data is not allowed. Delete tensor instead!"))
    # torch's hooks dict (NOTE [_backward_hooks]); its deletion is refused
    def _get_backward_hooks(self):
        if self._grad_fn is None:
            return self._hooks
        if id(self) in _nonleaf_hooks_attr:
            return _nonleaf_hooks_attr[id(self)][0]
        hooks = self._grad_fn.tensor_pre_hooks
        return None if not hooks else hooks.get(self._output_nr)

    def _set_backward_hooks(self, value) -> None:
        if self._grad_fn is None:
            self._hooks = value
            return
        if id(self) not in _nonleaf_hooks_attr:
            weakref.finalize(self, _nonleaf_hooks_attr.pop, id(self), None)
        _nonleaf_hooks_attr[id(self)] = (value,)

    _backward_hooks = property(_get_backward_hooks, _set_backward_hooks, _refuse_delete(
        "Deletion of _backwards_hooks not allowed!"))

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        autograd_backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # -- array facts

    @property
    def shape(self) -> Size:
        return Size(self.array.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self.array.shape)
        try:
            return self.array.shape[table.normalize_dim(dim, self.array.ndim)]
        except OpError as e:  # torch raises IndexError here
            raise IndexOpError(str(e)) from None

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes.from_numpy(self.array.dtype)

    @property
    def device(self) -> str:
        return backend.device_of(self.array)

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def dim(self) -> int:
        return self.array.ndim

    def numel(self) -> int:
        return int(self.array.size)

    def nelement(self) -> int:
        return int(self.array.size)

    def element_size(self) -> int:
        return self.array.itemsize

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_contiguous(self, memory_format=dtypes.contiguous_format) -> bool:
        if memory_format is dtypes.contiguous_format:
            return bool(self.array.flags.c_contiguous)
        return movement.is_laid_out(self.array, getattr(memory_format, "name", memory_format))

    def numpy(self, force: bool = False) -> np.ndarray:
        if self._requires_grad and not force and is_grad_enabled():
            raise GradientError("Can't call numpy() on Tensor that requires grad. Use "
                                "tensor.detach().numpy() instead.")
        return backend.to_numpy(self.array)

    def item(self):
        if self.array.size != 1:
            raise OpError(f"a Tensor with {self.array.size} elements cannot be converted to "
                          "Scalar")
        return self.array.reshape(()).item()

    def tolist(self):
        return backend.to_numpy(self.array).tolist()

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self):
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(table.F.unbind(self, 0))

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise OpError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.array.reshape(()).item())

    def __float__(self) -> float:
        if self._requires_grad:
            warnings.warn("Converting a tensor with requires_grad=True to a scalar may lead to "
                          "unexpected behavior.\nConsider using tensor.detach() first.",
                          UserWarning, stacklevel=2)
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec) -> str:
        if self.array.ndim == 0 and spec:
            return self.item().__format__(spec)
        return repr(self)

    # -- conversions

    def to(self, *args, **kwargs) -> Tensor:
        dtype = kwargs.get("dtype")
        device = kwargs.get("device")
        memory_format = kwargs.get("memory_format")
        for a in args:
            if isinstance(a, (dtypes.dtype,)) or (isinstance(a, str) and a.removeprefix(
                    "torch.") in ("float32", "float64", "int64", "bool", "float", "double",
                                  "long", "int32", "float16", "half", "int")):
                dtype = a
            elif isinstance(a, str):
                device = a
        out = self
        if dtype is not None and dtypes.as_dtype(dtype) is self.dtype:
            dtype = None  # (no conversion: self, as torch)
        if memory_format is not None:
            name = movement.memory_format_name(memory_format, self.array.ndim)
            if name != "preserve_format" and not movement.is_laid_out(self.array, name):
                out = table.F._to_copy(out, dtype=dtype, memory_format=name)
                dtype = None
        if dtype is not None:
            out = table.F.to_dtype(out, dtypes.as_dtype(dtype))
        if device is not None and device.split(":")[0] != self.device:
            out = table.F.to_device(out, device)
        return out

    def cpu(self) -> Tensor:
        return self.to(device="cpu")

    def cuda(self) -> Tensor:
        return self.to(device="cuda")

    def type(self, dtype=None):
        if dtype is None:
            return legacy_type_name(self.array.dtype)
        if isinstance(dtype, str):  # 'torch.FloatTensor'
            dtype = dtypes.from_legacy_type_name(dtype)
        elif isinstance(dtype, type):  # a legacy tensor type, torch.FloatTensor
            dtype = dtype.dtype
        return self.to(dtype)

    float = _conversion(dtypes.float32)
    double = _conversion(dtypes.float64)
    long = _conversion(dtypes.int64)
    int = _conversion(dtypes.int32)
    half = _conversion(dtypes.float16)
    bool = _conversion(dtypes.bool_)

    def contiguous(self, memory_format=dtypes.contiguous_format) -> Tensor:
        if memory_format is dtypes.contiguous_format:
            return table.contiguous(self)
        name = movement.memory_format_name(memory_format, self.array.ndim)
        if name in ("contiguous_format", "preserve_format"):
            return table.contiguous(self)
        return self if movement.is_laid_out(self.array, name) else table.F.clone(
            self, memory_format=name)

    # -- in place (torch's rebase-history semantics, version counter bump; engine/views.py)

    def _inplace(self, result: Tensor, variant: bool = False, written=(), overlap=False) -> Tensor:
        """Overwrite self with ``result`` (the op computed out of place). ``variant``: an
        in-place variant of a row (exp_, mul_...), whose node must keep the original self
        and sees its saved result become self. ``written``: the basic index of the part
        that changes (``self[i] = v``); ``overlap``: the op may write memory that several
        elements share (torch's fill_/zero_, and a setitem whose part does not overlap)."""
        if self._view is not None and is_grad_enabled():
            views.check_inplace_on_view(self, result)
        if (self._grad_fn is None and self._requires_grad and is_grad_enabled()
                and not inference.is_inference_view(self)):
            raise GradientError("a leaf Variable that requires grad is being used in an "
                                "in-place operation.")
        if type(self._version_counter) is not list:
            inference.check_inplace(self, result)
        if saved_hooks.before_mutation is not None:  # allow_mutation_on_saved_tensors
            saved_hooks.before_mutation(self)
        if result.array.shape != self.array.shape:
            raise OpError(f"output with shape {list(self.array.shape)} doesn't match the "
                          f"broadcast shape {list(result.array.shape)}")
        if table.forward_hook is not None:  # forward AD: the tangent is overwritten too
            forward_ad_inplace(self, result)
        fn = result._grad_fn
        if variant and fn is not None:
            views.save_original_self(fn, self)
        if self._view is not None:
            if not overlap:
                _refuse_overlap(self.array)
            if fn is not None or not self.array.flags.writeable or not self._view[4]:
                # (a view made in no_grad: it may refuse)
                views.rebase_history(self, result, written=written)
                if variant and fn is not None:
                    views.own_saved_outputs(fn, self)
                return self
        if self.array.flags.writeable:
            self.array[...] = result.array
        else:
            self.array = result.array.astype(self.array.dtype, copy=True)
        self._version_counter[0] += 1
        if fn is not None:
            views.set_history(self, fn, result._output_nr)
            if variant:
                views.own_saved_outputs(fn, self)
        root = self if self._view is None else views.root_of(self)
        if root._views:  # views made before see the change: AsStridedBackward0
            views.regenerate(root)
        return self

    def _add_view(self, view: Tensor) -> None:
        views = self._views
        if views is None:
            views = self._views = []
        elif len(views) >= 32 and len(views) & (len(views) - 1) == 0:
            views[:] = [r for r in views if r() is not None]  # drop dead ones now and then
        views.append(weakref.ref(view))

    # overwriting ops get nodes that send zeros to the old history (ZeroBackward0, ...)

    def zero_(self):
        return self._inplace(table.F._zero_(self), overlap=True)

    def fill_(self, value):
        return self._inplace(table.F._fill_(self, value), overlap=True)

    def copy_(self, src):
        src = src if isinstance(src, Tensor) else Tensor._make(np.asarray(src))
        shape = table.broadcast_shapes(tuple(self.shape), tuple(src.shape))  # torch's text
        if shape != tuple(self.shape):
            raise OpError(f"output with shape {list(self.shape)} doesn't match the broadcast "
                          f"shape {list(shape)}")
        return self._inplace(table.F.copy(self, src))  # CopyBackwards: (old self, src)

    def uniform_(self, a=0.0, b=1.0, generator=None):
        return self._inplace(table.F._uniform_(self, float(a), float(b)))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        return self._inplace(table.F._normal_(self, float(mean), float(std)))

    # -- operators (as torch/_tensor.py defines them)

    # __add__/__radd__, __sub__, __mul__/__rmul__, __truediv__: _direct_operator's, set by
    # _bind_operator_rows once their rows exist
    __rsub__ = _binary_operator("rsub")

    def __rtruediv__(self, other):
        return table.F.reciprocal(self) * other

    __floordiv__ = _binary_operator("floor_divide")

    def __rfloordiv__(self, other):
        return table.F.floor_divide(_as_tensor_like(other, self), self)

    __mod__ = _binary_operator("remainder")
    __pow__ = _binary_operator("pow")
    __rpow__ = _binary_operator("pow", reflected=True)
    __neg__ = _unary_operator("neg")

    def __pos__(self):
        return self

    __abs__ = _unary_operator("abs")
    __matmul__ = _binary_operator("matmul")
    __rmatmul__ = _binary_operator("matmul", reflected=True)
    __eq__ = _binary_operator("eq")
    __ne__ = _binary_operator("ne")
    __lt__ = _binary_operator("lt")
    __le__ = _binary_operator("le")
    __gt__ = _binary_operator("gt")
    __ge__ = _binary_operator("ge")
    __invert__ = _unary_operator("logical_not")
    __and__ = _binary_operator("logical_and")
    __or__ = _binary_operator("logical_or")

    def __getitem__(self, index):
        return table.F.index(self, index)

    def __setitem__(self, index, value):
        """``self[index] = value``: torch's copy_ into a view, recorded as CopySlices."""
        if self._grad_fn is None and self._requires_grad and is_grad_enabled():
            raise GradientError("a view of a leaf Variable that requires grad is being used "
                                "in an in-place operation.")
        written = _basic_index(index)
        if written is None:  # advanced indexing: the whole tensor must not overlap
            if (self._view is not None and _overlapping(self.array)
                    and table.forward_hook is None and not (is_grad_enabled() and (
                        self._requires_grad or getattr(value, "_requires_grad", False)))):
                _index_put_into_overlap(self, index, value)
                return
            self._inplace(table.F.setitem(self, index, value))
            return
        _refuse_overlap(self.array[written])  # torch checks the part written, self[index]
        result = table.F.setitem(self, index, value)
        if result._grad_fn is not None and (_overlapping(self.array)
                                            or views.in_custom_function(self)):
            # recorded into an overlapping tensor (an expanded one): as torch, copy_ into the
            # view self[index], whose elements do not overlap, so CopySlices covers just it
            # (and a custom Function's view is refused naming that view's node, as torch)
            table.F.index(self, written).copy_(value)
            return
        self._inplace(result, written=written, overlap=result._grad_fn is None)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    @property
    def T(self) -> Tensor:
        return table.F.permute(self, tuple(range(self.ndim))[::-1])

    @property
    def mT(self) -> Tensor:
        return table.F.transpose(self, -2, -1)


_RefusedView = views.RefusedView
_DETACH_VIEW = ("Can't detach views in-place. Use detach() instead. If you are using "
                "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set "
                "as True, gradients are views of DDP buckets, and hence detach_() cannot be "
                "called on these gradients. To fix this error, please refer to the "
                "Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution.")
_ONLY_LEAF = ("you can only change requires_grad flags of leaf variables. If you want to use a "
              "computed variable in a subgraph that doesn't require differentiation use "
              "var_no_grad = var.detach().")


def _overlapping(arr) -> bool:
    return any(st == 0 and n > 1 for st, n in zip(arr.strides, arr.shape))


def _refuse_overlap(arr) -> None:
    if _overlapping(arr):
        raise OpError(OVERLAP_ERROR)


_INDEX_PUT_EXPANDED = ("Use of index_put_ on expanded tensors is deprecated. Please clone() the "
                       "tensor before performing this operation. This also applies to advanced "
                       "indexing e.g. tensor[indices] = tensor")
_MASKED_FILL_EXPANDED = ("Use of masked_fill_ on expanded tensors is deprecated. Please clone() "
                         "the tensor before performing this operation. This also applies to "
                         "advanced indexing e.g. tensor[mask] = scalar")


def _index_put_into_overlap(t, index, value) -> None:
    """``t[index] = value`` with index tensors on a tensor whose elements share memory (an
    expanded one), nothing recorded: torch warns it is deprecated and writes each indexed
    element's memory in turn (the last write to a shared location stays)."""
    warnings.warn(_INDEX_PUT_EXPANDED, UserWarning, stacklevel=3)
    items = index if type(index) is tuple else (index,)
    masks = [i for i in items if isinstance(i, Tensor) and i.dtype is dtypes.bool_]
    value = value if isinstance(value, Tensor) else Tensor._make(np.asarray(value))
    if (len(masks) == 1 and value.numel() == 1
            and all(i is masks[0] or i is Ellipsis or (type(i) is slice and i == slice(None))
                    for i in items)):
        # (torch's index_put_ hands a single mask and one value to masked_fill_)
        warnings.warn(_MASKED_FILL_EXPANDED, UserWarning, stacklevel=3)
    xp = backend.module_of(t.array)
    flat = Tensor._make(xp.arange(t.array.size).reshape(t.array.shape))
    positions = table.F.index(flat, index).array  # which of t's elements are written
    root, where = views.root_positions(t)
    values = xp.broadcast_to(xp.asarray(value.array, dtype=t.array.dtype), positions.shape)
    written = table.ROWS["_copy_into"].forward(root.array, where.reshape(-1)[positions], values)
    if backend.writeable(root.array):
        root.array[...] = written
    else:  # (a read-only root: it gets new memory, as rebase_history does)
        root.array = written
    root._version_counter[0] += 1
    if root._views:
        views.regenerate(root)


def _basic_index(index):
    """``index`` as a tuple when it only has ints, slices, None and Ellipsis (it then selects
    a view, the same in NumPy as in torch), else None."""
    items = index if type(index) is tuple else (index,)
    if all(type(i) in (int, slice) or i is None or i is Ellipsis for i in items):
        return items
    return None


def _as_tensor_like(value, like: Tensor) -> Tensor:
    return Tensor._make(np.asarray(value, dtype=like.array.dtype))


table._Tensor = Tensor
arg_types.Tensor = Tensor
_THROUGH_BASE = views.THROUGH_BASE
_graph_module._Tensor = Tensor
# NOTE [Tensor's upward bindings]: Tensor sits below the walk and the autograd API that
# some of its methods call (backward(), an in-place op under forward AD). Rather than
# importing upwards, engine/__init__.py binds these names once, after every module loaded.
autograd_backward = None  # engine.autograd.backward
forward_ad_inplace = None  # engine.forward_ad.inplace
forward_ad_detach = None  # engine.forward_ad.detach_


def _direct_operator(qualname: str):
    """The operator method of the row ``qualname`` (add.Tensor, ...): straight to the row's
    Tensor path (see Op.direct) while no forward hook is set, else through the row."""
    row = table.ROWS[qualname]
    assert row.direct and row.nrequired <= 2 <= row.npositional
    direct, tail = row._call_tensors, row.defaults[2:]

    def operator(self, other):
        if table.forward_hook is None:
            return direct((self, other) + tail)
        return row(self, other)
    return operator


def _bind_operator_rows():
    Tensor.__add__ = Tensor.__radd__ = _direct_operator("add.Tensor")
    Tensor.__sub__ = _direct_operator("sub.Tensor")
    Tensor.__mul__ = Tensor.__rmul__ = _direct_operator("mul.Tensor")
    Tensor.__truediv__ = _direct_operator("div.Tensor")


def _install_methods():
    """Tensor.<name> for each row that is also a method (torch's ``variants: method``), the
    in-place variants (exp_, mul_, ...), and the operators' rows."""
    for name, rows in table.OVERLOADS.items():
        if not any(r.method for r in rows) or name in Tensor.__dict__:
            continue
        fn = getattr(table.F, name)

        def method(self, *args, _fn=fn, _rows=rows, _name=name, **kwargs):
            try:  # (free unless raised: torch counts a method's positions after self)
                if len(_rows) == 1:  # one overload: straight to the row, no dispatch
                    row = _rows[0]
                    n = len(args) + 1
                    if (not kwargs and row.direct and row.nrequired <= n <= row.npositional
                            and table.forward_hook is None):
                        return row._call_tensors((self, *args) + row.defaults[n:])
                    return row(self, *args, **kwargs)
                return _fn(self, *args, **kwargs)
            except ArgumentTypeError as e:
                if e.method_text is None or not str(e).startswith(f"{_name}("):
                    raise
                raise ArgumentTypeError(e.method_text) from None

        method.__name__ = name
        setattr(Tensor, name, method)
    for name in sorted(inplace.METHODS):  # exp_, mul_, ...: torch's in-place variants
        setattr(Tensor, name, inplace.method(name[:-1]))
    Tensor.bernoulli_ = inplace.method("_bernoulli_fill")  # (a row of its own: not bernoulli)
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):  # x.eq_(y): rows of their own too
        setattr(Tensor, f"{name}_", inplace.method(f"_{name}_fill"))
    _bind_operator_rows()


_install_methods()


def _read_only(names) -> None:
    """Properties torch does not let one set or delete: AttributeError with its text
    (NOTE [no __delattr__ on Tensor]: a setter and a deleter, reads unchanged)."""
    for name in names:
        prop = getattr(Tensor, name)

        def refuse(self, *value, _name=name):
            raise AttributeError(f"attribute '{_name}' of 'torch._C.TensorBase' objects is not "
                                 "writable")

        setattr(Tensor, name, property(prop.fget, refuse, refuse, prop.__doc__))


_read_only(("grad_fn", "is_leaf", "output_nr", "_version", "retains_grad", "_base", "shape",
            "dtype", "device", "ndim", "T", "mT"))
