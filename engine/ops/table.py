"""The op table: one row per op, read by the engine, /ops, validation, the source
compiler and the per-op tests.

A row is declared with :func:`op`::

    op("mul.Tensor(Tensor input, Tensor other) -> Tensor", "MulBackward0",
       forward=lambda input, other: input * other,
       vjp={"input": lambda grad, other: grad * other,
            "other": lambda grad, input: grad * input},
       shape=broadcast, samples=binary_samples)

* The schema string is PyTorch's native_functions.yaml form; it gives the public name
  (``mul``), the overload (``Tensor``), argument names, types and defaults.
* ``forward`` receives arrays (NumPy or CuPy) and plain values, positionally in schema
  order, and returns an array (or a tuple/list of arrays for multi-output ops).
* ``vjp`` maps each differentiable Tensor argument to a function written with
  differentiable ops (``F.*`` and operators), so double backward needs nothing more. Its
  parameter names say what it needs, as in derivatives.yaml: ``grad`` (or ``grads`` for
  multi-output ops), argument names, ``result``/``resultN`` (outputs), and
  ``<arg>_shape``/``<arg>_dtype`` (metadata that survives freeing). Tensor arguments and
  results named there are saved for backward and freed after a backward without
  ``retain_graph``; everything else is kept.
* ``shape`` gives the output shape(s) from input shapes and arguments *without computing*,
  so callers can refuse memory bombs before any allocation.
* ``composite=True`` rows have a forward written with ``F.*`` on Tensors and no VJP: the
  graph is made of the primitives' nodes, as PyTorch shows them.
* ``inplace=True``: torch's in-place variant too, ``Tensor.<name>_`` (``x.exp_()``): the
  same row, written into self, as engine/ops/inplace.py explains (which also flags the
  existing rows from one list).
* ``kernel=(name, kinds)``: the ATen kernel behind the forward and the dtype kinds it has
  loops for ("f", "i", "b"); other inputs raise torch's ``"<name>" not implemented for
  'Bool'`` (a NotImplementedError). ``check``: a function of the arguments before type
  promotion that raises where torch refuses their dtypes (any bool in a subtraction).
  ``scalar_operands``: Scalar arguments that promote as torch's wrapped numbers (pow's
  exponent: an integer tensor to a float power is float32).
* ``jvp`` is the forward-mode rule (engine/forward_ad.py), as derivatives.yaml's
  ``result:`` line: ``"linear"`` (auto_linear: the op on the tangents), ``"elementwise"``
  (auto_element_wise: each VJP with ``grad`` replaced by the input's tangent),
  ``"transpose"`` (the VJP transposed: it is linear in ``grad``), or a function of
  ``<arg>_t`` (tangents, zeros where none), arguments and results, written with ``F.*``.
  No ``jvp``: a dual input raises, as torch does for ops without forward AD. Composite
  rows need none (their primitives carry the tangents).
* ``extra`` gives the elements the forward allocates *beyond its outputs* (a padded copy
  of the input, the windows a convolution multiplies as one array), from the same
  arguments as ``shape`` and without computing: see NOTE [allocation guard]. Composite
  rows need none (each primitive they call is checked).

The same ``F.<name>`` function runs on Tensors (recording the graph) and on raw arrays
(computing only): first-order backward runs the VJPs on arrays, ``create_graph=True``
runs them on Tensors.
"""

from __future__ import annotations

import collections
import inspect
import re
import threading
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import anomaly_mode as _anomaly
from .. import array_cache, backend, dtypes, grad_mode, parallel
from .. import graph as _graph
from .. import inference as _inference
from ..array_cache import LARGE_BYTES
from ..backend import ARRAY_TYPES
from ..errors import (
    ArgumentTypeError,
    DerivativeNotImplemented,
    GradientError,
    KernelNotImplemented,
    OpError,
)
from ..grad_mode import _state as _grad_state
from .arg_types import (
    NUMBER_TYPES,
    NUMBERS_AS_TENSORS,
    SEQUENCE_TYPES,
    is_number,
    type_matches,
    type_name,
)
from .schema import parse_schema
from .sizes import broadcast_shapes, check_same_dtype, normalize_dim, shape_of  # noqa: F401  (re-exported)

# The registry: every row by qualified name ("pow.Tensor_Scalar"), and overloads by name.
ROWS: dict[str, Op] = {}
OVERLOADS: dict[str, list[Op]] = {}
# The public functions, one per name, dispatching over overloads: F.mul, F.sum, ...
F = types.SimpleNamespace()

_seq = _graph.sequence_nrs  # (a module global: read per recorded op)
_EMPTY = inspect.Parameter.empty
forward_hook = None  # set by engine/forward_ad.py while a dual level is open
# set by engine/forward_ad.py: ``(name, tensors)`` refuses an out= call given a dual tensor
refuse_dual_out = None
_Tensor = None  # engine.tensor.Tensor, bound by engine.tensor at import (avoids a cycle)


class _Guard(threading.local):
    """NOTE [allocation guard]: whoever runs calls it does not trust (the service, for a
    request) sets ``guard.check`` in its thread to a function ``check(op, args)``; every op
    call then runs it before allocating anything: before a primitive's forward, a composite's
    (and so before each primitive a composite calls), a creation op's, and a forward on raw
    arrays (first-order VJPs, hooks). It reads the row's ``shape`` and ``extra`` rules and
    may raise to refuse the call. Unset (None, the default) it costs one attribute read."""

    check = None


guard = _Guard()


# --------------------------------------------------------------------------- rows

@dataclass(eq=False)
class Op:
    schema: str
    grad_fn: str | None
    forward: Callable
    vjp: dict[str, Callable] = field(default_factory=dict)
    jvp: str | Callable | None = None  # forward-mode rule, see the module docstring
    shape: Callable | None = None
    dtype: str = "promote"  # promote | float | keep | none: how Tensor inputs are cast
    composite: bool = False
    creation: bool = False
    method: bool = True  # also a Tensor method, as in torch
    samples: Callable | None = None  # test inputs (OpInfo-style), see tests/op_samples.py
    torch: str | Callable | None = None  # how the tests call torch; default torch.<name>
    nondiff: tuple = ()  # Tensor arguments that never get a gradient (indices, targets)
    # Scalar arguments that take part in type promotion as torch's wrapped numbers do
    # (pow's exponent, remainder's other: an integer tensor and a float give float32)
    scalar_operands: tuple = ()
    kernel: tuple | None = None  # (name, dtype kinds): see the module docstring
    check: Callable | None = None  # refuses dtypes before promotion: the module docstring
    doc: str = ""
    twice_differentiable: bool = True
    varargs: bool = False  # Python also takes the first int[] argument as *ints: view(2, 3)
    inplace: bool = False  # Tensor.<name>_ too, written into self (engine/ops/inplace.py)
    extra: Callable | None = None  # elements allocated beyond the outputs (see docstring)
    # Tensor parameters that also take a plain number, beyond what NOTE [numbers for Tensor
    # parameters] derives (torch's Scalar overloads that are no rows here: where.ScalarOther)
    numbers: tuple = ()
    # outputs that share the input's memory without autograd knowing them as views (torch's
    # unsafe_split): each keeps a version counter of its own and no view record
    untracked_views: bool = False
    # filled in by __post_init__
    name: str = ""
    overload: str = ""
    params: tuple = ()
    returns: str = ""

    def __post_init__(self):
        self.name, self.overload, self.params, self.returns = parse_schema(self.schema)
        self.qualname = f"{self.name}.{self.overload}" if self.overload else self.name
        self.nparams = len(self.params)
        self.defaults = tuple(p.default for p in self.params)
        self.npositional = sum(not p.kwarg_only for p in self.params)
        self.nrequired = max((i + 1 for i, p in enumerate(self.params)
                              if p.default is inspect.Parameter.empty), default=0)
        self.index = {p.name: i for i, p in enumerate(self.params)}
        self.tensor_params = tuple(i for i, p in enumerate(self.params) if p.is_tensor)
        self.diff_params = tuple(i for i in self.tensor_params
                                 if self.params[i].name not in self.nondiff)
        self.multi_output = self.returns.startswith("(") or self.returns == "Tensor[]"
        # named returns, "(Tensor values, Tensor indices)", come back as torch.return_types do
        names = re.findall(r"Tensor (\w+)", self.returns) if self.returns[0] == "(" else []
        self.return_type = collections.namedtuple(self.name, names) if names else None
        self.signature = inspect.Signature([
            inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY if p.kwarg_only
                              else inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default)
            for p in self.params])
        self.vjp_params = {name: tuple(inspect.signature(fn).parameters)
                           for name, fn in self.vjp.items()}
        for name in self.vjp:
            if name not in self.index or not self.params[self.index[name]].is_tensor:
                raise ValueError(f"{self.qualname}: vjp for unknown Tensor argument {name}")
        self._plans: dict[int, tuple] = {}
        self._refusals: frozenset | None = None  # see number_refusals()
        # torch's autogradNotImplementedFallback node: edges only to inputs requiring grad
        self.not_implemented = self.grad_fn == "torch::autograd::NotImplemented"
        # per-row facts the hot paths read instead of re-deriving them per call
        # direct: a call whose first argument is a Tensor (an operator, a method) may go
        # straight to _call_tensors once its arguments are bound positionally
        self.direct = (not self.varargs and not self.creation and not self.composite and
                       self.tensor_params[:1] == (0,))
        self._cast = self.dtype not in ("none", "keep")
        self._scalar_operands = tuple(self.index[n] for n in self.scalar_operands)
        # varargs: where Python's *ints start (the first int[] argument: view(2, 3))
        self._varargs_at = next((i for i, q in enumerate(self.params)
                                 if q.type.startswith("int[]")), None)
        if self.kernel is not None and "f" not in self.kernel[1]:
            raise ValueError(f"{self.qualname}: a kernel takes floating inputs (its fast path "
                             "assumes so)")
        # indices, targets and weights take no part in the kernel's dtype
        self._kernel_params = tuple(i for i in self.tensor_params
                                    if self.params[i].name not in self.nondiff)
        # NOTE [parallel elementwise] in engine/parallel.py
        self._pointwise = (self.jvp == "elementwise" and not self.composite and
                           not self.creation and not self.multi_output)
        self._diff_set = frozenset(self.diff_params)
        self._diff_bits = tuple((i, 1 << k) for k, i in enumerate(self.diff_params))
        self._all_diff = self.diff_params == self.tensor_params
        self._plain_diff = (not self.not_implemented and
                            all(self.params[i].type == "Tensor" for i in self.diff_params))
        # per differentiable parameter: (name, vjp, its parameter names, Tensor[]?, arity
        # kind: 1 for vjp(grad), 2 for vjp(grad, <saved>), 0 otherwise)
        self._vjp_rows = tuple(
            (name, self.vjp.get(name), names, self.params[i].type == "Tensor[]",
             1 if names == ("grad",) else 2 if len(names) == 2 and names[0] == "grad" and
             names[1] != "grads" else 0)
            for i in self.diff_params
            for name in [self.params[i].name]
            for names in [self.vjp_params.get(name, ())])
        if self.grad_fn and not self.composite:
            self.node_class = _graph.node_class(self.grad_fn)
            self.node_class.op = self
            _graph.add_saved_attributes(self.node_class, self)

    # -- calling

    def bind(self, args, kwargs) -> tuple:
        if self.varargs:
            args = self._pack_varargs(args)
        values = self._bind_keywords(args, kwargs)
        if values is not None:
            return values
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise OpError(f"{self.name}(): {e}") from None
        bound.apply_defaults()
        return tuple(bound.arguments.values())

    def _bind_keywords(self, args, kwargs) -> tuple | None:
        """What ``signature.bind`` gives for well-formed arguments, without it (inspect's
        bind costs ~20 us a call); None for anything else (an unknown, repeated or missing
        argument), which the caller binds the slow way for inspect's error."""
        n = len(args)
        if n > self.npositional:
            return None
        values = list(args)
        values += self.defaults[n:]
        index = self.index
        for key, value in kwargs.items():
            i = index.get(key)
            if i is None or i < n:
                return None
            values[i] = value
        for v in values:  # (not ``in``: that compares arrays elementwise)
            if v is _EMPTY:
                return None
        return tuple(values)

    def _pack_varargs(self, args):
        p = self._varargs_at
        if len(args) > p + (not self.creation) and all(type(a) is int for a in args[p:]):
            return (*args[:p], tuple(args[p:]))
        return args

    def matches(self, args, kwargs, strict: bool = False) -> tuple | None:
        """Bound arguments if they fit this overload's types, else None."""
        if self.varargs:
            args = self._pack_varargs(args)
        n = len(args)
        if not kwargs:  # positional only: what inspect's bind would give, without it
            if not self.nrequired <= n <= self.npositional:
                return None
            values = tuple(args) + self.defaults[n:]
        else:
            values = self._bind_keywords(args, kwargs)
            if values is None:
                index = self.index
                for key in kwargs:  # a keyword this overload lacks: inspect's bind would refuse
                    if key not in index:
                        return None
                try:
                    bound = self.signature.bind(*args, **kwargs)
                except TypeError:
                    return None
                bound.apply_defaults()
                values = tuple(bound.arguments.values())
        refusals = self.number_refusals()
        for i, (p, v) in enumerate(zip(self.params, values)):
            if not type_matches(p.type, v, strict or i in refusals):
                return None
        return values

    def number_refusals(self) -> frozenset:
        """The positions of the Tensor parameters that refuse a plain number (NOTE [numbers
        for Tensor parameters]); worked out on first use, once every overload is a row."""
        refusals = self._refusals
        if refusals is None:
            if self.name.startswith("_") or self.name in NUMBERS_AS_TENSORS:
                refusals = frozenset()
            else:
                siblings = [r for r in OVERLOADS.get(self.name, ()) if r is not self]
                refusals = frozenset(
                    i for i in self.tensor_params
                    if self.params[i].type.rstrip("?") == "Tensor"
                    and self.params[i].name not in self.numbers
                    and not any(i < len(r.params) and r.params[i].type.rstrip("?") == "Scalar"
                                for r in siblings))
            self._refusals = refusals
        return refusals

    def refuse_number(self, i, value):
        """torch's TypeError for a plain number given to the Tensor parameter at ``i``."""
        p = self.params[i]
        text = "{}(): argument '{}' (position {}) must be Tensor, not {}"
        raise ArgumentTypeError(text.format(self.name, p.name, i + 1, type(value).__name__),
                                text.format(self.name, p.name, i, type(value).__name__))

    def check_types(self, values) -> None:
        refusals = self.number_refusals()
        for i, (p, v) in enumerate(zip(self.params, values)):
            if not type_matches(p.type, v, i in refusals):
                if i in refusals and is_number(v):
                    self.refuse_number(i, v)
                raise ArgumentTypeError(f"{self.name}(): argument '{p.name}' (position {i + 1}) "
                                        f"must be {p.type}, not {type_name(v)}")

    def __call__(self, *args, **kwargs):
        if self.varargs:  # x.expand(3, 2): else the fast path binds 2 to a keyword-only flag
            args = self._pack_varargs(args)
        n = len(args)
        if kwargs or n != self.nparams:
            if not kwargs and self.nrequired <= n <= self.npositional:
                args = args + self.defaults[n:]  # the common case, without inspect's bind
            else:
                args = self.bind(args, kwargs)
        check = guard.check
        if self.creation:
            if check is not None:
                check(self, args)
            if self.tensor_params and not isinstance(args[self.tensor_params[0]], _Tensor):
                return self.forward(*args)  # zeros_like(array) inside a first-order VJP
            return self._call_creation(args)
        Tensor = _Tensor
        for i in self.tensor_params:
            a = args[i]
            if isinstance(a, Tensor) or (type(a) in SEQUENCE_TYPES and a and
                                         isinstance(a[0], Tensor)):
                break
        else:  # no Tensor anywhere: raw arrays inside a first-order backward
            tp = self.tensor_params
            if tp and type(args[tp[0]]) in NUMBER_TYPES:  # torch.exp(2.0): no arrays either?
                self._check_numbers(args)
            if check is not None:
                check(self, args)
            if (self._pointwise and getattr(args[0], "nbytes", 0) >= LARGE_BYTES and
                    (shape := parallel.splittable(args)) is not None):
                return parallel.run(self.forward, args, shape)
            return self.forward(*args)
        if self.composite:
            if any(type(args[i]) in NUMBER_TYPES for i in self.tensor_params):
                self._check_numbers(args, False)
            if check is not None:
                check(self, args)
            return self.forward(*args)
        if forward_hook is not None:  # forward-mode AD: tangents ride along
            return forward_hook(self, args, self._call_tensors(args))
        return self._call_tensors(args)

    def _check_numbers(self, args, raw: bool = True):
        """A call with a plain number for a Tensor parameter: torch's TypeError where that
        parameter refuses numbers (NOTE [numbers for Tensor parameters]). ``raw``: a call with
        no Tensor, refused only where no array came either (else it is a VJP's raw call)."""
        for i in self.tensor_params if raw else ():
            if isinstance(args[i], ARRAY_TYPES):
                return
        refusals = self.number_refusals()
        for i in self.tensor_params:
            if i in refusals and type(args[i]) in NUMBER_TYPES:
                self.refuse_number(i, args[i])

    def _call_creation(self, args):
        idx = self.index
        requires_grad = args[idx["requires_grad"]] if "requires_grad" in idx else False
        if self.check is not None:
            self.check(*args)
        arrays = [a.array if isinstance(a, _Tensor) else a for a in args]
        out = _Tensor._make(self.forward(*arrays))
        if _grad_state.inference:
            _inference.mark(out)
        if requires_grad:
            if not out.dtype.is_floating_point:
                raise GradientError("Only Tensors of floating point and complex dtype can "
                                    "require gradients")
            out._requires_grad = True
        return out

    def _call_tensors(self, args):
        Tensor = _Tensor
        check = guard.check
        if check is not None:
            check(self, args)
        if self.check is not None:
            self.check(*args)
        if self.kernel is not None:
            self._check_kernel(args)
        arrays = list(args)
        inputs = []  # (position, Tensor) for every Tensor argument, lists flattened
        for i in self.tensor_params:
            a = args[i]
            if isinstance(a, Tensor):
                arrays[i] = a.array
                inputs.append((i, a))
            elif type(a) in SEQUENCE_TYPES:
                arrays[i] = [t.array for t in a]
                inputs.extend((i, t) for t in a)
            elif type(a) in NUMBER_TYPES and i in self.number_refusals():
                self.refuse_number(i, a)
        if self._cast and inputs:
            first = inputs[0][1].array.dtype
            if first.kind != "f":
                self._cast_inputs(args, arrays, inputs)
            else:
                for _, t in inputs:
                    if t.array.dtype != first:
                        self._cast_inputs(args, arrays, inputs)
                        break
        try:
            if inputs and inputs[0][1].array.nbytes >= LARGE_BYTES:
                out = self._forward_large(arrays)
            else:
                out = self.forward(*arrays)
        except ValueError:  # NumPy's broadcast error: the shape rule words it as torch does
            self.infer_shape(args)
            raise
        requires_grad = False
        if self.grad_fn and _grad_state.enabled:  # is_grad_enabled() without a call
            if self._all_diff:
                for _, t in inputs:
                    if t._requires_grad:
                        requires_grad = True
                        break
            else:
                diff = self._diff_set
                for i, t in inputs:
                    if t._requires_grad and i in diff:
                        requires_grad = True
                        break
        if requires_grad and grad_mode.inference_used:  # NOTE [inference tensors]
            requires_grad = _inference.records(inputs)
        if not self.multi_output:
            result = Tensor._make(out)
            if result.array.base is not None and not self.untracked_views:
                _share_version_with_base(result, inputs, self, args, None)
            if requires_grad and result.array.dtype.kind == "f":
                self._record(args, (result,))
            elif _grad_state.inference:
                _inference.mark_output(result)
            return result
        results = tuple(Tensor._make(o) for o in out)
        for k, r in enumerate(results):
            if r.array.base is not None and not self.untracked_views:
                _share_version_with_base(r, inputs, self, args, k)
        if requires_grad:
            self._record(args, results)
        elif _grad_state.inference:
            for r in results:
                _inference.mark_output(r)
        if self.return_type is not None:
            return self.return_type(*results)
        return results  # torch.split, unbind...: a tuple (only torch.ops.aten gives a list)

    def _forward_large(self, arrays):
        """The forward over a large input: its outputs reuse freed blocks (array_cache),
        and an elementwise one runs on the intra-op threads (NOTE [parallel elementwise])."""
        token = array_cache.use() if array_cache.enabled else None
        try:
            if self._pointwise and (shape := parallel.splittable(arrays)) is not None:
                return parallel.run(self.forward, arrays, shape)
            return self.forward(*arrays)
        finally:
            if token is not None:
                array_cache.restore(token)

    def _check_kernel(self, args) -> None:
        """The kernel runs in the inputs' promoted dtype, before any cast to float: its kind
        is the highest of the differentiable Tensor arguments' (a number in a Tensor's
        place takes no part: conv passes one for a missing bias)."""
        first = args[self._kernel_params[0]] if self._kernel_params else None
        if isinstance(first, _Tensor) and first.array.dtype.kind == "f":
            return  # the common case: a floating input makes the kernel floating
        name, kinds = self.kernel
        seen = {}
        for i in self._kernel_params:
            a = args[i]
            for t in (a if type(a) in SEQUENCE_TYPES else (a,)):
                if isinstance(t, _Tensor):
                    kind = t.array.dtype.kind
                    seen.setdefault("i" if kind == "u" else kind, t.array.dtype)
        kind = next((k for k in "fci" if k in seen), "b" if "b" in seen else "f")
        if kind not in kinds and kind != "c":
            raise KernelNotImplemented(
                f'"{name}" not implemented for \'{dtypes.torch_type_name(seen[kind])}\'')

    def _cast_inputs(self, args, arrays, inputs):
        # (the caller skips this when every Tensor has one floating dtype: Python scalars never
        # change a floating dtype, and NumPy's weak scalars agree)
        scalars = [args[i] for i in self.tensor_params + self._scalar_operands
                   if is_number(args[i])]
        target = dtypes.result_type([(t.dtype, t.array.ndim) for _, t in inputs], scalars)
        if self.dtype == "float" and not target.is_floating_point:
            target = dtypes.default_float
        want = target.np
        for i in self.tensor_params:
            a = arrays[i]
            if a is None:  # an absent Tensor? argument
                continue
            if isinstance(a, list):
                arrays[i] = [x if x.dtype == want else x.astype(want) for x in a]
            elif is_number(args[i]):
                if self.dtype == "float" or isinstance(args[i], bool):
                    arrays[i] = want.type(args[i])
            elif a.dtype != want:
                arrays[i] = a.astype(want)

    def infer_shape(self, args):
        """Output shape(s) from bound arguments, without computing: Tensors (or anything
        with a ``shape``) become shape tuples, numbers in Tensor positions become ()."""
        return self.shape(*self._shapes(args))

    def extra_elements(self, args) -> int:
        """Elements the forward allocates beyond its outputs (the ``extra`` rule), from
        bound arguments, without computing; 0 for rows without the rule."""
        return 0 if self.extra is None else int(self.extra(*self._shapes(args)))

    def _shapes(self, args) -> list:
        values = list(args)
        for i in self.tensor_params:
            a = values[i]
            values[i] = [shape_of(t) for t in a] if isinstance(a, (list, tuple)) else (
                shape_of(a))
        return values

    # -- recording the graph

    def _plan(self, mask: int):
        """Which arguments/outputs a node must save, given which inputs need grad (bit k of
        ``mask``: the k-th differentiable parameter)."""
        plan = self._plans.get(mask)
        if plan is None:
            names = set()
            for k, i in enumerate(self.diff_params):
                if mask >> k & 1 and self.params[i].name in self.vjp:
                    names.update(self.vjp_params[self.params[i].name])
            names -= {"grad", "grads"}
            saved = tuple(sorted(n for n in names if n in self.index and self.params[
                self.index[n]].is_tensor))
            results = tuple(sorted(n for n in names if re.fullmatch(r"result\d*", n)))
            attrs = tuple(sorted(n for n in names if n not in saved and n not in results))
            saved_idx = tuple((n, self.index[n]) for n in saved)
            result_nrs = tuple((n, 0 if n == "result" else int(n[6:])) for n in results)
            getters = tuple((n, self._attr_getter(n)) for n in attrs)
            plan = self._plans[mask] = (saved_idx, result_nrs, getters)
        return plan

    def _record(self, args, results):
        # Once per op, so one function. Few objects per node (a graph holds one per op):
        # edge metadata equal to the output's is not stored (metas None), the output meta is
        # shared with the input's producer when equal, counts of one edge per parameter are
        # not stored, and saved Python numbers stay plain values.
        Tensor = _Tensor
        node = self.node_class()
        node.seq = next(_seq)
        if _anomaly.enabled:
            _graph.record_forward_trace(node)
        single = len(results) == 1
        if single:
            out = results[0].array
            out_shape, out_dtype = out.shape, out.dtype
        share = None  # an input producer's output meta equal to this node's (to share)
        if self._plain_diff:  # differentiable parameters all plain Tensors: one edge each
            mask, same = 0, single  # parameters requiring grad; all inputs of the output's meta?
            fns = []
            for i, bit in self._diff_bits:
                t = args[i]
                if isinstance(t, Tensor):
                    if t._requires_grad:
                        fn = t._grad_fn
                        if fn is not None:
                            fns.append((fn, t._output_nr))
                            if share is None and same:
                                m = fn.out_metas[t._output_nr]
                                if m[0] == out_shape and m[1] == out_dtype:
                                    share = fn.out_metas if len(fn.out_metas) == 1 else (m,)
                        else:
                            fns.append((t._accumulator(), 0))
                        mask |= bit
                    else:
                        fns.append((None, 0))
                    if same:
                        a = t.array
                        if a.shape != out_shape or a.dtype != out_dtype:
                            same = False
                else:  # a Python number in a Tensor position: torch's wrapped number
                    fns.append((None, 0))
            node.next_functions = tuple(fns)
            if not same:
                node.metas = tuple([None if not isinstance(args[i], Tensor) else
                                    (args[i].array.shape, args[i].array.dtype)
                                    for i in self.diff_params])  # (a list: no generator)
        else:
            mask = self._listed_edges(node, args)
        saved_idx, result_nrs, attr_getters = self._plans.get(mask) or self._plan(mask)
        if saved_idx or result_nrs:  # what the VJPs need, as SavedTensors
            saved = node.saved = {}
            for n, i in saved_idx:
                a = args[i]
                if isinstance(a, Tensor):
                    saved[n] = _graph.SavedTensor(a)
                elif type(a) in SEQUENCE_TYPES:
                    saved[n] = [_graph.SavedTensor(t) for t in a]
                else:
                    saved[n] = a  # a number (or None): kept as is, freed like a tensor
        else:
            node.saved = _NOTHING_SAVED
        if attr_getters:
            node.attrs = {n: get(args) for n, get in attr_getters}
        if single:
            r = results[0]
            node.out_metas = share if share is not None else ((out_shape, out_dtype),)
            r._grad_fn = node
            r._requires_grad = True
        else:
            node.out_metas = tuple((r.array.shape, r.array.dtype) for r in results)
            for nr, r in enumerate(results):
                if r.array.dtype.kind == "f":
                    r._grad_fn = node
                    r._output_nr = nr
                    r._requires_grad = True
        for n, nr in result_nrs:
            saved[n] = _graph.SavedTensor(results[nr], output_nr=nr)
        hide_node = _graph.hide_node
        if hide_node is not None:  # out of the cyclic GC's sight, as torch's nodes (graph.py)
            hide_node(node)
        return node

    def _listed_edges(self, node, args) -> int:
        """node.next_functions, metas and per-parameter edge counts for a row with Tensor[]
        or Tensor? parameters (or torch's NotImplemented fallback); returns the mask of
        parameters that require grad."""
        Tensor = _Tensor
        mask = 0
        fns, metas, counts = [], [], []
        for k, i in enumerate(self.diff_params):  # non-differentiable inputs get no edge
            a = args[i]
            items = a if type(a) in SEQUENCE_TYPES else (a,)  # None (Tensor?) -> (None, 0)
            count = len(items)
            for t in items:
                if isinstance(t, Tensor):
                    if t._requires_grad:
                        fn = t._grad_fn
                        fns.append((fn, t._output_nr) if fn is not None else
                                   (t._accumulator(), 0))
                        mask |= 1 << k
                    elif self.not_implemented:  # torch's fallback: edges only where needed
                        count -= 1
                        continue
                    else:
                        fns.append((None, 0))
                    metas.append((t.array.shape, t.array.dtype))
                else:
                    fns.append((None, 0))
                    metas.append(None)
            counts.append(count)
        node.next_functions = tuple(fns)
        node.metas = tuple(metas)
        if any(c != 1 for c in counts):
            node.param_edge_counts = tuple(counts)
        return mask

    def _attr(self, n, args):
        return self._attr_getter(n)(args)

    def _attr_getter(self, n):
        """``args -> value`` for a VJP's non-Tensor name: an argument, or an argument's
        ``_shape``/``_dtype``/``_strides``; built once per plan, called once per node."""
        i = self.index.get(n)
        if i is not None:
            return lambda args: args[i]
        if n.endswith("_shape") or n.endswith("_dtype") or n.endswith("_strides"):
            base, _, kind = n.rpartition("_")
            j = self.index[base]

            def get(t):
                if kind == "shape":
                    return t.shape
                if kind == "dtype":
                    return t.dtype
                a = t.array  # strides in elements, as torch's (mm's backward reads its layout)
                return tuple([s // a.itemsize for s in a.strides])

            def of(args):
                a = args[j]
                if isinstance(a, _Tensor):
                    return get(a)
                if isinstance(a, (list, tuple)):
                    return [get(t) for t in a]
                return () if kind == "shape" else dtypes.scalar_dtype(a)  # a Python number
            return of
        raise ValueError(f"{self.qualname}: vjp names unknown value {n!r}")

    # -- the VJP, called by the engine for one node

    def backward(self, node, grads, raw: bool, reach=None):
        """Gradients for each edge of ``node``, given its output grads (Nones allowed).
        ``reach``: autograd.grad's map of the nodes that lead to its inputs; an edge to
        any other gets no gradient computed (torch's should_compute_output: a derivative
        torch has not implemented raises only where it is needed)."""
        edges_all = node.next_functions
        if self.multi_output:
            if all(g is None for g in grads):
                return [None] * len(edges_all)
            like = next(g for g in grads if g is not None)
            grads = [g if g is not None else _graph.zeros_for(meta, like, raw)
                     for g, meta in zip(grads, node.out_metas)]
        elif grads[0] is None:
            return [None] * len(edges_all)
        grad = grads[0]
        out = []
        counts = node.param_edge_counts
        k = 0
        for j, (name, fn, names, is_list, kind) in enumerate(self._vjp_rows):
            if counts is None:  # the common case: one edge per parameter, edge j
                child = edges_all[j][0]
                if child is None or reach is not None and not reach.get(child, False):
                    out.append(None)
                    continue
            else:
                count = counts[j]
                k += count
                if not any(e[0] is not None and (reach is None or reach.get(e[0], False))
                           for e in edges_all[k - count:k]):
                    out.extend([None] * count)
                    continue
            if fn is None:
                raise DerivativeNotImplemented(
                    f"the derivative for '{self.name}' is not implemented." if name == "input"
                    else f"the derivative for '{name}' is not implemented.", node)
            if kind == 1:
                g = fn(grad)
            elif kind == 2:
                g = fn(grad, node.unpack(names[1], raw))
            else:
                g = fn(*[grad if n == "grad" else grads if n == "grads" else
                         node.unpack(n, raw) for n in names])
            if is_list:
                out.extend(g)
            else:
                out.append(g)
        return out


_NOTHING_SAVED: dict = {}  # shared by nodes that save nothing (never mutated)



def _share_version_with_base(result, inputs, op, args, k) -> None:
    """A view shares its base's version counter (as torch's views do), so an in-place
    edit through either one invalidates what was saved from the other, instead of a
    backward silently reading the changed values. Must run before the node saves it.

    The view also remembers how it was made (``op(*args)``, output ``k``, in grad mode or
    not), so that an in-place op on it can be written into its base and its history rebuilt
    from the base's new one (engine/views.py)."""
    root = backend.root_array(result.array)
    for _, t in inputs:
        if backend.root_array(t.array) is root:
            result._version_counter = t._version_counter
            # grad mode at creation: True, False (no_grad), None (inference mode); and
            # whether torch's base required grad then (a no_grad view of one does too)
            result._view = (t, op, args, k, _grad_state.enabled or (
                None if _grad_state.inference else False),
                t._requires_grad or (t._view is not None and t._view[5]))
            t._add_view(result)
            return


def op(schema: str, grad_fn: str | None, **fields) -> Op:
    """Declare one row of the table and publish F.<name>."""
    row = Op(schema, grad_fn, **fields)
    if row.qualname in ROWS:
        raise ValueError(f"duplicate op {row.qualname}")
    ROWS[row.qualname] = row
    OVERLOADS.setdefault(row.name, []).append(row)
    setattr(F, row.name, _dispatcher(row.name))
    return row


def _dispatcher(name: str):
    rows = OVERLOADS[name]

    def dispatch(*args, **kwargs):
        if kwargs and "out" in kwargs:
            return _into_out(name, kwargs.pop("out"), dispatch, args, kwargs)
        if len(rows) == 1:
            return rows[0](*args, **kwargs)
        for strict in (True, False):  # exact types first, then numbers as Tensors
            for row in rows:
                bound = row.matches(args, kwargs, strict)
                if bound is not None:
                    return row(*bound)
        def text(shown):
            return (f"{name}() received an invalid combination of arguments - got ({shown}"
                    f"{', ' if kwargs and shown else ''}"
                    f"{', '.join(f'{k}={type_name(v)}' for k, v in kwargs.items())}), "
                    f"but expected one of: "
                    + "; ".join(r.schema.split(' ->')[0] for r in rows))
        shown = [type_name(a) for a in args]
        raise ArgumentTypeError(text(", ".join(shown)), text(", ".join(shown[1:])))

    dispatch.__name__ = name
    dispatch.__qualname__ = name
    dispatch.rows = rows
    return dispatch


def _into_out(name, out, fn, args, kwargs):
    """``torch.<name>(..., out=t)``: computed, then written into ``t`` (resized to fit), as
    torch's out= variants; refused where autograd would have to record it."""
    if out is None:
        return fn(*args, **kwargs)
    if forward_hook is not None:
        refuse_dual_out(name, (out, *args, *kwargs.values()))
    if _grad_state.enabled and (out._requires_grad or any(
            isinstance(a, _Tensor) and a._requires_grad for a in (*args, *kwargs.values()))):
        raise GradientError(f"{name}(): functions with out=... arguments don't support "
                            "automatic differentiation, but one of the arguments requires "
                            "grad.")
    with grad_mode.no_grad():
        result = fn(*args, **kwargs)
        got, want = result.array.dtype, out.array.dtype
        if got != want and "bui".find(got.kind) > "bui".find(want.kind) or (
                got.kind == "f" and want.kind != "f"):
            raise OpError(f"result type {dtypes.torch_type_name(got)} can't be cast to the "
                          f"desired output type {dtypes.torch_type_name(want)}")
        if out.array.shape != result.array.shape:
            if out.array.size:
                warnings.warn(
                    "An output with one or more elements was resized since it had shape "
                    f"{list(out.array.shape)}, which does not match the required output shape "
                    f"{list(result.array.shape)}. This behavior is deprecated, and in a future "
                    "PyTorch release outputs will not be resized unless they have zero "
                    "elements. You can explicitly reuse an out tensor t by resizing it, "
                    "inplace, to zero elements with t.resize_(0).", UserWarning, stacklevel=3)
            out._resize_array(result.array.shape)  # no new version, as torch's
        out.copy_(result)
    return out


def resolve(name: str, args, kwargs) -> tuple[Op, tuple]:
    """The overload of ``name`` that fits, with bound arguments (for the service)."""
    rows = OVERLOADS.get(name)
    if not rows:
        raise OpError(f"unknown op {name!r}")
    for strict in (True, False):
        for row in rows:
            bound = row.matches(args, kwargs, strict)
            if bound is not None:
                return row, bound
    if len(rows) == 1:
        row = rows[0]
        bound = row.bind(args, kwargs)
        row.check_types(bound)
    raise OpError(f"{name}(): no overload takes these arguments; expected one of: "
                  + "; ".join(r.schema.split(' ->')[0] for r in rows))


# --------------------------------------------------------------------------- shape rules
# (broadcast_shapes, normalize_dim, shape_of, check_same_dtype: engine/ops/sizes.py)

def is_contiguous(x) -> bool:
    """For composites that run on Tensors and on raw arrays alike."""
    if isinstance(x, _Tensor):
        return x.is_contiguous()
    return not hasattr(x, "flags") or bool(x.flags.c_contiguous)


def contiguous(x):
    """torch's x.contiguous() for composites on Tensors and raw arrays alike: x itself, or a
    row-major copy (clone with contiguous_format: CloneBackward0)."""
    return x if is_contiguous(x) else F.clone(x, memory_format=dtypes.contiguous_format)
