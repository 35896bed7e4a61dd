"""nll_loss and cross_entropy, as torch.nn.functional has them (engine/ops/losses.py says
how a loss is a composite over a kernel row), with the small kernels cross_entropy's label
smoothing shows in its graph."""


import numpy as np

from .. import dtypes
from ..backend import module_of, to_numpy
from ..errors import IndexOpError, KernelNotImplemented, OpError
from . import table
from .losses import (
    MEAN,
    NONE,
    SUM,
    f32,
    functional,
    no_grad_for,
    probs,
    raw,
    reduction_enum,
    value_shape,
)
from .samples import Const, Sample, explicit, rand
from .table import F, broadcast_shapes, check_same_dtype, op


def _nll_parts(input, target, weight, ignore_index):
    """Per-row (class index, weight, valid) with torch's checks. Indices are few (one per
    target): they are worked out in NumPy, wherever the data lives."""
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    t = to_numpy(target).reshape(-1).astype(np.int64)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= c))
    if bad.any():
        raise OpError(f"Target {int(t[bad][0])} is out of bounds.")
    safe = np.where(valid, t, 0)
    w = np.ones(len(t)) if weight is None else to_numpy(weight)[safe]
    w = np.where(valid, w, 0).astype(input.dtype)
    return safe, w, valid


def _plain_rows(input, target, weight, ignore_index) -> bool:
    """A NumPy (N, C) input, N > 0, no weight, and int64 targets that are all classes in
    [0, C) other than ignore_index: torch's numbers then need no masks and no weights."""
    if weight is not None or type(input) is not np.ndarray or input.ndim != 2 or (
            target.dtype != np.int64 or target.ndim != 1 or not len(target)):
        return False
    low, high = target.min(), target.max()
    return 0 <= low and high < input.shape[1] and not low <= ignore_index <= high


def _classes_last(x):
    """(N, C, H, W) -> (N, H, W, C), so that rows line up with the flattened target."""
    return x if x.ndim <= 2 else module_of(x).moveaxis(x, 1, -1)


def _nll_forward(input, target, weight=None, reduction=MEAN, ignore_index=-100):
    if input.dtype.kind not in "fc":
        raise KernelNotImplemented('"nll_loss_out_frame" not implemented for '
                                   f"'{dtypes.torch_type_name(input.dtype)}'")
    if reduction != NONE and _plain_rows(input, target, weight, ignore_index):
        # the common case (a batch of rows, no weight, every target a class): no masks
        total = np.sum(input[np.arange(len(target)), target])
        if reduction == MEAN:
            total = total / input.dtype.type(len(target))
        return (-total).astype(input.dtype, copy=False)
    moved = _classes_last(input)
    rows = moved.reshape(-1, moved.shape[-1])
    safe, w, valid = _nll_parts(input, target, weight, ignore_index)
    xp = module_of(input)
    picked = rows[xp.arange(len(safe)), xp.asarray(safe)]
    losses = xp.where(xp.asarray(valid), -xp.asarray(w) * picked, 0).astype(input.dtype)
    if reduction == NONE:  # one loss per target; a (C,) input gives a 0-d loss
        return losses.reshape(np.shape(target) if input.ndim >= 2 else ())
    total = xp.sum(losses)
    if reduction == MEAN:
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / w.sum()  # all ignored: 0/0 = nan, as torch
    return total.astype(input.dtype, copy=False)


def _nll_backward(grad_output, input, target, weight, reduction, ignore_index):
    """-w[t] * grad at each target's class (divided by the total weight for mean)."""
    grad, x, t = grad_output, input, target
    if reduction != NONE and _plain_rows(x, t, weight, ignore_index):
        coef = x.dtype.type(-1) / x.dtype.type(len(t)) if reduction == MEAN else -1
        out = np.zeros(x.shape, x.dtype)
        out[np.arange(len(t)), t] = (grad * coef).astype(x.dtype, copy=False)
        return out
    xp = module_of(x)
    safe, w, valid = _nll_parts(x, t, weight, ignore_index)
    if reduction == MEAN:
        total = w.sum()
        w = w / total if total != 0 else w * 0
    moved_shape = _classes_last(np.empty(x.shape, dtype=bool)).shape
    onehot = np.zeros((len(safe), moved_shape[-1]), dtype=x.dtype)
    onehot[np.arange(len(safe)), safe] = np.where(valid, -w, 0)
    onehot = onehot.reshape(moved_shape)
    coef = xp.asarray(onehot if x.ndim <= 2 else np.moveaxis(onehot, -1, 1))
    if reduction == NONE and x.ndim >= 2:  # (N, ...) losses -> (N, 1, ...) to meet classes
        grad = grad.reshape((x.shape[0], 1, *x.shape[2:]))
    # a new contiguous tensor, as torch's kernel writes (so a view of it needs no copy)
    return xp.ascontiguousarray((grad * coef).astype(x.dtype, copy=False))


def _nll_loss_again(grad, target, weight, reduction, ignore_index):
    return F._nll_loss(grad, target, weight, reduction, ignore_index)


def _nll_loss2d_again(grad, target, weight, reduction, ignore_index):
    return F._nll_loss2d(grad, target, weight, reduction, ignore_index)


def _single_grad_output(grad_output):
    gshape = value_shape(grad_output)
    if len(gshape) > 1 or int(np.prod(gshape)) != 1:
        raise OpError("Expected a single element grad_output tensor, but got: "
                      f"{_dims_text(gshape)}")


def _nll_backward_check(grad_output, input, target, weight, reduction, ignore_index):
    """torch's nll_loss_backward meta checks, in its order."""
    shape, tshape, gshape = value_shape(input), value_shape(target), value_shape(grad_output)
    if len(shape) not in (1, 2):
        raise OpError("input tensor should be 1D or 2D")
    if len(tshape) > 1:
        raise OpError("0D or 1D target tensor expected, multi-target not supported")
    if not (len(shape) == 1 and not tshape) and shape[0] != (tshape[0] if tshape else 1):
        raise OpError(f"size mismatch (got input: {_dims_text(shape)}, target: "
                      f"{_dims_text(tshape)})")
    if weight is not None and int(np.prod(value_shape(weight))) != shape[-1]:
        raise OpError("weight tensor should be defined either for all or no classes")
    if reduction == NONE and len(shape) == 2:
        if not gshape:  # torch's message reads grad_output.size(0)
            raise IndexOpError("Dimension specified as 0 but tensor has no dimensions")
        if len(gshape) != 1 or gshape[0] != shape[0]:
            raise OpError(f"Expected a tensor of dimension 1 and tensor.size[0] == {shape[0]} "
                          f"but got: dimension {len(gshape)} and tensor.size[0] = {gshape[0]}")
    else:
        _single_grad_output(grad_output)
    _nll_same_dtype(input, weight, grad_output)


def _nll_same_dtype(input, *tensors):
    """nll_loss's kernels do not promote: the weight (then grad_output) must have the
    input's dtype, as torch's."""
    check_same_dtype(input, *tensors, text="expected scalar type {expected} but found {found}")


def _nll2d_backward_check(grad_output, input, target, weight, reduction, ignore_index):
    """torch's check_inputs_nll_loss2d and grad_output checks, in its order (its texts)."""
    shape, tshape, gshape = value_shape(input), value_shape(target), value_shape(grad_output)
    if len(tshape) != 3:
        raise OpError("only batches of spatial targets supported (3D tensors) but got targets "
                      f"of dimension: {len(tshape)}")
    if len(shape) != 4:
        raise OpError("only batches of spatial inputs supported (4D tensors), but got input "
                      f"of dimension: {len(shape)}")
    if weight is not None and int(np.prod(value_shape(weight))) != shape[1]:
        raise OpError("weight tensor should be defined either for all or no classes")
    if (shape[0], *shape[2:]) != tshape:
        raise OpError(f"size mismatch (got input: {_dims_text(shape)} , target: "
                      f"{_dims_text(tshape)}")
    if reduction == NONE:
        if len(gshape) != 3:
            raise OpError("grad_output must have same dimension as target (3) but got "
                          f"dimension: {_dims_text(gshape)}")
        if gshape != tshape:
            raise OpError(f"size mismatch (got grad_output: {_dims_text(gshape)} target: "
                          f"{_dims_text(tshape)}")
    else:
        _single_grad_output(grad_output)
    _nll_same_dtype(input, weight, grad_output)


# torch's derivative kernels for nll_loss: ops of their own whose output depends on
# grad_output linearly (its VJP is nll_loss again) and on the input not at all (zeros, so that
# under create_graph the gradient still requires grad, as torch's does)
for _suffix, _Name in [("", "NllLoss"), ("2d", "NllLoss2D")]:
    op(f"nll_loss{_suffix}_backward(Tensor grad_output, Tensor input, Tensor target,"
       " Tensor? weight, int reduction, int ignore_index) -> Tensor",
       f"{_Name}BackwardBackward0", method=False, dtype="none",
       kernel=(f"nll_loss{_suffix}_backward_out_frame", "f"),
       check=_nll2d_backward_check if _suffix else _nll_backward_check,
       forward=_nll_backward, nondiff=("target", "weight"),
       jvp="linear",  # linear in grad_output; the input gives only its shape and dtype
       vjp={"grad_output": _nll_loss2d_again if _suffix else _nll_loss_again,
            "input": lambda grad: F.zeros_like(grad)},
       shape=lambda grad_output, input, *rest: input,
       samples=explicit(
           (lambda r: Sample((rand(r), rand(r, 3, 4), Const(np.array([0, 3, 1])), None, 1,
                              -100))) if not _suffix else
           (lambda r: Sample((rand(r, 2, 2, 2), rand(r, 2, 3, 2, 2),
                              Const(r.integers(0, 3, (2, 2, 2))), None, 0, -100)))),
       torch=lambda torch, grad_output, input, target, weight, reduction, ignore_index,
       _s=_suffix: getattr(torch.ops.aten, f"nll_loss{_s}_backward")(
           grad_output, input, target, weight, reduction, ignore_index,
           _nll_total_weight(torch, target, weight, ignore_index)))


def _nll_total_weight(torch, target, weight, ignore_index):
    """torch's nll_loss_backward takes the forward's total weight; the tests compute it."""
    valid = target != ignore_index
    if weight is None:
        return valid.sum().to(torch.float32)
    return torch.where(valid, weight[target.clamp(min=0)], 0).sum()


def _nll_vjp(grad, input, target, weight, reduction, ignore_index):
    return F.nll_loss_backward(grad, input, target, weight, reduction, ignore_index)


def _nll2d_vjp(grad, input, target, weight, reduction, ignore_index):
    return F.nll_loss2d_backward(grad, input, target, weight, reduction, ignore_index)


def _nll_kernel_shape(input, target, weight, reduction, ignore_index):
    return tuple(target) if reduction == NONE and len(input) >= 2 else ()


NLL_SAMPLES = [
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1])))),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1]))), {"reduction": "sum"}),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1]))), {"reduction": "none"}),
    lambda r: Sample((rand(r, 4), Const(np.array(2)))),
    lambda r: Sample((rand(r, 4), Const(np.array(2))), {"reduction": "none"}),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, -100, 1])))),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([2, 2, 1]))), {"ignore_index": 2}),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([2, 2, 1]))),
                     {"ignore_index": 2, "reduction": "none"}),
    # an ignore_index no target has, inside and outside the targets' range
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 2, 2]))), {"ignore_index": 1}),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 2, 2]))), {"ignore_index": 3}),
    # a batch of logits: the fast route of nll_loss and log_softmax
    lambda r: Sample((rand(r, 64, 3), Const(r.integers(0, 3, 64)))),
    lambda r: Sample((rand(r, 2, 4), Const(np.array([-100, -100]))),  # all ignored: nan
                     gradcheck=False),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1]))),
                     {"weight": Const(f32(rand(r, 4, low=0.5, high=2.0)))}),
    lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 3]))),
                     {"weight": Const(f32(rand(r, 4, low=0.5, high=2.0))), "reduction": "none"}),
    # spatial: (N, C, d) and (N, C, d1, d2, d3) are viewed as 4-D; (N, C, H, W) is direct
    lambda r: Sample((rand(r, 2, 3, 4), Const(r.integers(0, 3, (2, 4))))),
    lambda r: Sample((rand(r, 2, 3, 4), Const(r.integers(0, 3, (2, 4)))), {"reduction": "none"}),
    lambda r: Sample((rand(r, 2, 3, 2, 3), Const(r.integers(0, 3, (2, 2, 3)))),
                     {"reduction": "sum"}),
    lambda r: Sample((rand(r, 2, 3, 2, 3), Const(np.array([[[0, 1, -100], [2, 2, 1]]] * 2))),
                     {"reduction": "none"}),
    lambda r: Sample((rand(r, 2, 3, 2, 1, 2), Const(r.integers(0, 3, (2, 2, 1, 2)))),
                     {"weight": Const(f32(rand(r, 3, low=0.5, high=2.0)))}),
    lambda r: Sample((rand(r, 2, 3, 1, 2, 2), Const(r.integers(0, 3, (2, 1, 2, 2)))),
                     {"reduction": "none"}),
]

_NLL_SAMPLES = {
    "": explicit(lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1])), None, 1)),
                 lambda r: Sample((rand(r, 3, 4), Const(np.array([0, -100, 1])), None, 0,
                                   -100))),
    "2d": explicit(lambda r: Sample((rand(r, 2, 3, 2, 2), Const(r.integers(0, 3, (2, 2, 2))),
                                     None, 1)),
                   lambda r: Sample((rand(r, 2, 3, 1, 2), Const(r.integers(0, 3, (2, 1, 2))),
                                     None, 0, -100)))}
for _suffix, _Name, _vjp in [("", "NllLoss", _nll_vjp), ("2d", "NllLoss2D", _nll2d_vjp)]:
    op(f"_nll_loss{_suffix}(Tensor input, Tensor target, Tensor? weight=None, int reduction=1,"
       " int ignore_index=-100) -> Tensor", f"{_Name}Backward0", method=False,
       jvp="transpose",
       check=lambda input, target, weight=None, *rest: _nll_same_dtype(input, weight),
       forward=_nll_forward, nondiff=("target", "weight"), dtype="none",
       vjp={"input": _vjp},
       shape=_nll_kernel_shape,
       samples=_NLL_SAMPLES[_suffix],
       torch=f"torch._C._nn.nll_loss{_suffix}")


def _target_dtype_name(target) -> str:
    return dtypes.torch_type_name(raw(target).dtype)


def _dims_text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


_TARGET_DTYPES = (np.dtype(np.int64), np.dtype(np.uint8))  # (a dtype's .name is slow)


def _nll_checks(input, target, weight):
    """torch's checks, in its order: nll_loss_nd first, then the kernel's."""
    shape, tshape = value_shape(input), value_shape(target)
    if len(shape) < 1:
        raise OpError(f"Expected 1 or more dimensions (got {len(shape)})")
    if len(shape) != 1 and shape[0] != (tshape[0] if tshape else 1):
        raise OpError(f"Expected input batch_size ({shape[0]}) to match target batch_size "
                      f"({tshape[0] if tshape else 1}).")
    if (len(shape) == 3 or len(shape) > 4) and tshape[1:] != shape[2:]:
        raise OpError(f"Expected target size {_dims_text((shape[0], *shape[2:]))}, got "
                      f"{_dims_text(tshape)}")
    if raw(target).dtype not in _TARGET_DTYPES:
        raise OpError("expected target dtype to be Long or Byte, but got "
                      f"{_target_dtype_name(target)}")
    if len(shape) <= 2 and (len(tshape) > 1 or len(shape) == 1 and tshape not in ((), (1,))):
        raise OpError("0D or 1D target tensor expected, multi-target not supported")
    if len(shape) == 4:
        if len(tshape) != 3:
            raise OpError("only batches of spatial targets supported (3D tensors) but got "
                          f"targets of dimension: {len(tshape)}")
        if tshape != (shape[0], *shape[2:]):
            raise OpError(f"size mismatch (got input: {_dims_text(shape)} , target: "
                          f"{_dims_text(tshape)}")
    classes = shape[1] if len(shape) > 1 else shape[0]
    if weight is not None and value_shape(weight) != (classes,):
        if len(shape) > 2:  # nll_loss2d words it differently
            raise OpError("weight tensor should be defined either for all or no classes")
        raise OpError(f"weight tensor should be defined either for all {classes} classes or "
                      f"no classes but got weight tensor of shape: "
                      f"{_dims_text(value_shape(weight))}")


def _nll_nd(input, target, weight, reduction, ignore_index):
    """torch's nll_loss_nd: (C,) and (N, C) go to nll_loss, (N, C, H, W) to nll_loss2d, and
    other shapes are viewed as (N, C, 1, rest) for nll_loss2d (then back, for 'none')."""
    shape = value_shape(input)
    if len(shape) <= 2:
        return F._nll_loss(input, target, weight, reduction, ignore_index)
    if len(shape) == 4:
        return F._nll_loss2d(input, target, weight, reduction, ignore_index)
    n, c = shape[0], shape[1]
    numel = int(np.prod(shape))
    x = table.contiguous(input)
    x = F.view(x, (n, c, 1, numel // (n * c)) if numel else (n, c, 0, 0))
    tnumel = int(np.prod(value_shape(target)))
    t = F.reshape(target, (n, 1, tnumel // n) if tnumel else (n, 0, 0))
    out = F._nll_loss2d(x, t, weight, reduction, ignore_index)
    return out if reduction != NONE else F.view(out, (n, *shape[2:]))


def _nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
              reduction="mean"):
    no_grad_for("nll_loss_forward", "weight", weight)
    reduction = reduction_enum(size_average, reduce, reduction)
    _nll_checks(input, target, weight)
    return _nll_nd(input, target, weight, reduction, ignore_index)


def _nll_shape(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
               reduction="mean", *rest):
    if reduction_enum(size_average, reduce, reduction) != NONE:
        return ()
    if tuple(target) == tuple(input):  # class probabilities: the class dim is summed out
        return tuple(d for i, d in enumerate(input) if i != (0 if len(input) == 1 else 1))
    return tuple(target) if len(input) >= 2 else ()


op("nll_loss(Tensor input, Tensor target, Tensor? weight=None, Any size_average=None,"
   " int ignore_index=-100, Any reduce=None, str reduction='mean') -> Tensor", None,
   composite=True, method=False, forward=_nll_loss, shape=_nll_shape,
   samples=explicit(*NLL_SAMPLES), torch=functional("nll_loss"))


# Two small kernels that cross_entropy's label smoothing shows in its graph, as torch's C++
# does (a Tensor times a double is mul.Scalar there, and the ignored targets are masked_fill_).
op("_mul_scalar(Tensor input, Scalar other) -> Tensor", "MulBackward1", method=False,
   jvp="elementwise",
   forward=lambda input, other: input * other,
   vjp={"input": lambda grad, other: F._mul_scalar(grad, other)}, dtype="none",
   shape=lambda input, other: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 0.25)), lambda r: Sample((rand(r), -2.0))),
   torch=lambda torch, input, other: torch.ops.aten.mul.Scalar(input, other))

op("_masked_fill(Tensor input, Tensor mask, Scalar value) -> Tensor", "MaskedFillBackward0",
   jvp="elementwise",
   method=False, nondiff=("mask",),
   forward=lambda input, mask, value: np.where(mask, value, input).astype(input.dtype),
   vjp={"input": lambda grad, mask: F.where(mask, 0.0, grad)}, dtype="none",
   shape=lambda input, mask, value: broadcast_shapes(input, mask),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), Const(rand(r, 2, 3) > 0), 0.0)),
                    lambda r: Sample((rand(r, 2, 3), Const(rand(r, 3) > 0), 1.5))),
   torch=lambda torch, input, mask, value: torch.ops.aten.masked_fill.Scalar(input, mask, value))


op("_add_scalar(Tensor input, Scalar other, Scalar alpha=1) -> Tensor", "AddBackward1",
   jvp="elementwise",
   method=False, forward=lambda input, other, alpha: input + alpha * other,
   vjp={"input": lambda grad: grad}, dtype="none",
   shape=lambda input, other, alpha: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 0.25))),
   torch=lambda torch, input, other, alpha=1: torch.ops.aten.add.Scalar(input, other, alpha))

op("_div_scalar(Tensor input, Scalar other) -> Tensor", "DivBackward1",
   jvp="elementwise",
   method=False, forward=lambda input, other: input / other,
   vjp={"input": lambda grad, other: F._div_scalar(grad, other)}, dtype="none",
   shape=lambda input, other: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), 4)), lambda r: Sample((rand(r), 0.5))),
   torch=lambda torch, input, other: torch.ops.aten.div.Scalar(input, other))


def _smoothed(log_probs, target, nll, reduction, ignore_index, label_smoothing, class_dim):
    """cross_entropy with label_smoothing > 0 (no weight), as torch's
    cross_entropy_loss_label_smoothing: (1 - ls) * nll + ls / C * mean of -log_probs."""
    classes = value_shape(log_probs)[class_dim]
    ignore_mask = F.eq(target, ignore_index)
    smooth = F._masked_fill(F.neg(F.sum(log_probs, class_dim)), ignore_mask, 0.0)
    if reduction == MEAN:
        smooth = F.div(F.sum(smooth), F.sum(F.logical_not(ignore_mask)))
    elif reduction == SUM:
        smooth = F.sum(smooth)
    return F.add(F._mul_scalar(nll, 1 - label_smoothing),
                 F._mul_scalar(smooth, label_smoothing / classes))


def _cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                   reduce=None, reduction="mean", label_smoothing=0.0):
    """torch's cross_entropy_loss: a target shaped like the input holds class
    probabilities; otherwise class indices go to nll_loss(log_softmax(input, class dim)),
    so the graph shows NllLossBackward0 over LogSoftmaxBackward0, as torch's does."""
    reduction = reduction_enum(size_average, reduce, reduction)
    shape = value_shape(input)
    class_dim = 0 if len(shape) == 1 else 1
    if value_shape(target) == shape:
        if raw(target).dtype.kind != "f":
            raise OpError("Expected floating point type for target with class probabilities, "
                          f"got {_target_dtype_name(target)}")
        if ignore_index >= 0:
            raise OpError("ignore_index is not supported for floating point target")
        if not shape:  # torch reads the class count, input.size(1), first
            raise IndexOpError("Dimension specified as 1 but tensor has no dimensions")
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing,
                                    class_dim)
    if label_smoothing > 0 and label_smoothing > 1.0:
        raise OpError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing:g}")
    if label_smoothing > 0 and weight is not None:
        raise OpError("cross_entropy(): label_smoothing together with weight is not supported")
    if not shape:  # torch's log_softmax(input, 1) comes before nll_loss's checks
        raise IndexOpError("Dimension out of range (expected to be in range of [-1, 0], but "
                           "got 1)")
    no_grad_for("nll_loss_forward", "weight", weight)
    _nll_checks(input, target, weight)
    log_probs = F.log_softmax(input, class_dim)
    nll = _nll_nd(log_probs, target, weight, reduction, ignore_index)
    if label_smoothing > 0:
        return _smoothed(log_probs, target, nll, reduction, ignore_index, label_smoothing,
                         class_dim)
    return nll


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing, class_dim):
    """torch's cross_entropy_loss_prob_target: -(log_softmax(input) * target [* weight]),
    summed over classes, then reduced (the mean divides by the number of rows)."""
    shape = value_shape(input)
    classes = shape[class_dim]
    if weight is not None and value_shape(weight) != (classes,):
        raise OpError(f"cross_entropy: weight tensor should be defined either for all {classes} "
                      "classes or no classes but got weight tensor of shape: "
                      f"{_dims_text(value_shape(weight))}")
    log_probs = F.log_softmax(input, class_dim)
    if label_smoothing > 0:
        if label_smoothing > 1.0:
            raise OpError("label_smoothing must be between 0.0 and 1.0. Got: "
                          f"{label_smoothing:g}")
        target = F._add_scalar(F._mul_scalar(target, 1 - label_smoothing),
                               label_smoothing / classes)
    terms = F.mul(log_probs, target)
    if weight is not None:
        if len(shape) > 1:
            weight = F.view(weight, tuple(classes if d == class_dim else 1
                                          for d in range(len(shape))))
        terms = F.mul(terms, weight)
    if reduction == NONE:
        return F.neg(F.sum(terms, class_dim))
    if reduction == SUM:
        return F.neg(F.sum(terms))
    numel = int(np.prod(shape))
    if numel == 0:
        raise OpError("cross_entropy(): the mean over an empty batch of class probabilities is "
                      "not supported")
    return F._div_scalar(F.neg(F.sum(terms)), numel // classes)


op("cross_entropy(Tensor input, Tensor target, Tensor? weight=None, Any size_average=None,"
   " int ignore_index=-100, Any reduce=None, str reduction='mean',"
   " float label_smoothing=0.0) -> Tensor", None,
   composite=True, method=False, forward=_cross_entropy, shape=_nll_shape,
   samples=explicit(
       *NLL_SAMPLES,
       lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1]))), {"label_smoothing": 0.2}),
       lambda r: Sample((rand(r, 3, 4), Const(np.array([0, -100, 1]))),
                        {"label_smoothing": 0.1, "reduction": "sum"}),
       lambda r: Sample((rand(r, 3, 4), Const(np.array([0, -100, 1]))),
                        {"label_smoothing": 0.3, "reduction": "none"}),
       lambda r: Sample((rand(r, 4), Const(np.array(2))), {"label_smoothing": 0.5}),
       lambda r: Sample((rand(r, 2, 3, 4), Const(r.integers(0, 3, (2, 4)))),
                        {"label_smoothing": 1.0}),
       lambda r: Sample((rand(r, 3, 4), Const(np.array([0, 3, 1]))), {"label_smoothing": -0.1}),
       # class probabilities: a target shaped like the input
       lambda r: Sample((rand(r, 3, 4), probs(r, 3, 4))),
       lambda r: Sample((rand(r, 3, 4), rand(r, 3, 4, low=0, high=1)), {"reduction": "sum"}),
       lambda r: Sample((rand(r, 2, 3, 2), probs(r, 2, 3, 2)), {"reduction": "none"}),
       lambda r: Sample((rand(r, 4), rand(r, 4, low=0, high=1)), {"label_smoothing": 0.3}),
       lambda r: Sample((rand(r, 3, 4), probs(r, 3, 4)),
                        {"weight": rand(r, 4, low=0.5, high=2.0)}),
       lambda r: Sample((rand(r, 3, 4), probs(r, 3, 4)),
                        {"weight": Const(f32(rand(r, 4, low=0.5, high=2.0))),
                         "reduction": "none", "label_smoothing": 0.1})),
   torch=functional("cross_entropy"))
