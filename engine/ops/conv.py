"""torch.nn.functional convolution, pooling and dropout rows.

Convolution is one primitive (``convolution``, ConvolutionBackward0) plus three private
rows for its gradients: ``_conv_grad_input`` (a transposed convolution),
``_conv_grad_weight`` and ``_conv_grad_bias``. The convolution and the first two are
bilinear and their VJPs are each other, so the family is closed under differentiation and
double backward needs nothing more. The three gradient rows take (grad_output, input,
weight), the inputs of torch's convolution_backward, so each shows torch's node,
ConvolutionBackwardBackward0 with those three edges (an input a gradient does not depend on
gets an undefined gradient, as in torch). Pools work the
same way: max pooling pairs a scatter with a gather at the saved argmax indices, average
pooling pairs the pool with its (linear) backward.

Everything runs in 2-D; 1-D convolution lifts its input to height 1.
"""

import math
import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import backend, dtypes
from ..errors import IndexOpError, OpError
from . import table
from .indexing import scatter_add
from .samples import Sample, explicit, rand
from .sizes import numel
from .table import F, op

# --------------------------------------------------------------------------- helpers


def _pair(v, n=2, name="stride"):
    """An int or a list of n ints -> tuple of n ints."""
    if isinstance(v, int):
        return (v,) * n
    v = tuple(v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise OpError(f"expected {name} to be a single integer value or a list of {n} values "
                      f"to match the convolution dimensions, but got {name}="
                      f"[{', '.join(map(str, v))}]")
    return v


def _list(v) -> str:
    return "[" + ", ".join(map(str, v)) + "]"


def _out_len(size, k, s, p, d, ceil_mode=False):
    span = size + 2 * p - d * (k - 1) - 1
    if ceil_mode:
        out = -(-span // s) + 1
        if (out - 1) * s >= size + p:  # the last window must start inside input or left pad
            out -= 1
        return out
    return span // s + 1


def _windows(xp, k, s, d, out):
    """View of padded ``xp`` (N, C, H, W) as (N, C, oh, ow, kh, kw) windows."""
    eff = tuple(d[i] * (k[i] - 1) + 1 for i in range(2))
    win = sliding_window_view(xp, eff, axis=(2, 3))
    return win[:, :, ::s[0], ::s[1], ::d[0], ::d[1]][:, :, :out[0], :out[1]]


def _pad(x, p, value=0, extra=(0, 0)):
    if not any(p) and not any(extra):
        return x
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0] + extra[0]), (p[1], p[1] + extra[1])),
                  constant_values=value)


def _lift(x, nd):
    """(N, C, L) -> (N, C, 1, L) for 1-D convolution."""
    return x[:, :, None, :] if nd == 1 else x


def _lift_params(stride, padding, dilation, nd):
    if nd == 1:
        return (1, stride[0]), (0, padding[0]), (1, dilation[0])
    return stride, padding, dilation


# --------------------------------------------------------------------------- convolution

def _conv_shape(input, weight, bias, stride, padding, dilation, transposed, output_padding,
                groups):
    """Output shape with torch's argument checks, in its order (at::_convolution, then
    check_shape_forward, then its kernel's for a zero dilation)."""
    if transposed:
        raise OpError("transposed convolution is not supported")
    nd = len(weight) - 2
    if nd < 1:
        raise OpError("weight should have at least three dimensions")
    stride, padding, dilation = (_pair(stride, nd, "stride"), _pair(padding, nd, "padding"),
                                 _pair(dilation, nd, "dilation"))
    if groups <= 0:
        raise OpError("non-positive groups is not supported")
    if any(p < 0 for p in padding):
        raise OpError("negative padding is not supported")
    if any(s <= 0 for s in stride):
        raise OpError("non-positive stride is not supported")
    if any(d < 0 for d in dilation):
        raise OpError("dilation should be greater than zero")
    if len(input) != nd + 2:
        raise OpError(f"Expected {nd + 2}-dimensional input for {nd + 2}-dimensional weight "
                      f"{_list(weight)}, but got {len(input)}-dimensional input of size "
                      f"{_list(input)} instead")
    if weight[0] < groups:
        raise OpError(f"Given groups={groups}, expected weight to be at least {groups} at "
                      f"dimension 0, but got weight of size {_list(weight)} instead")
    if weight[0] % groups:  # (torch prints this size in double brackets)
        raise OpError(f"Given groups={groups}, expected weight to be divisible by {groups} at "
                      f"dimension 0, but got weight of size [{_list(weight)}] instead")
    if input[1] != weight[1] * groups:
        raise OpError(f"Given groups={groups}, weight of size {_list(weight)}, expected "
                      f"input{_list(input)} to have {weight[1] * groups} channels, but got "
                      f"{input[1]} channels instead")
    if bias is not None and bias != () and (len(bias) != 1 or bias[0] != weight[0]):
        raise OpError(f"Given weight of size {_list(weight)}, expected bias to be "
                      f"1-dimensional with {weight[0]} elements, but got bias of size "
                      f"{_list(bias)} instead")
    padded = [input[2 + i] + 2 * padding[i] for i in range(nd)]
    kernel = [dilation[i] * (weight[2 + i] - 1) + 1 for i in range(nd)]
    if any(k > p for k, p in zip(kernel, padded)):
        raise OpError(f"Calculated padded input size per channel: ({' x '.join(map(str, padded))})"
                      f". Kernel size: ({' x '.join(map(str, kernel))}). Kernel size can't be "
                      f"greater than actual input size")
    if 0 in dilation:  # torch's kernel, which runs a 1-d convolution as a 2-d one
        raise OpError("dilation should be greater than zero, but got "
                      f"{_list((1, *dilation) if nd == 1 else dilation)}")
    return (input[0], weight[0]) + tuple(
        _out_len(input[2 + i], weight[2 + i], stride[i], padding[i], dilation[i])
        for i in range(nd))


def _uses_mkldnn(input, weight, groups) -> bool:
    """torch's choice of its oneDNN (MKLDNN) kernel on the CPU, whose dtype check words its
    error differently: a float32 input and a batch, groups, kernels over 3x3 or a large
    input (ConvParams::use_mkldnn; a 1-d convolution runs as 2-d with a kernel height 1)."""
    return input.dtype == np.float32 and (
        groups > 1 or input.shape[0] > 1 or input.size > 20480
        or weight.ndim > 3 and weight.shape[-1] > 3 and weight.shape[-2] > 3)


def _check_dtypes(input, weight, bias, groups):
    """aten convolution's operand dtypes: the weight's must be the input's; a bias of
    another dtype is cast, except by the oneDNN kernel."""
    mkldnn = _uses_mkldnn(input, weight, groups)
    if input.dtype != weight.dtype:
        if mkldnn:
            raise OpError(f"Input type ({_tensor_type(input)}) and weight type "
                          f"({_tensor_type(weight)}) should be the same or input should be a "
                          "MKLDNN tensor and weight is a dense tensor")
        raise OpError(f"expected scalar type {_scalar(input)} but found {_scalar(weight)}")
    if mkldnn and bias is not None and hasattr(bias, "dtype") and bias.dtype != input.dtype:
        raise OpError(f"Input type ({_tensor_type(input)}) and bias type ({_tensor_type(bias)}) "
                      "should be the same or input should be a MKLDNN tensor and bias is a "
                      "dense tensor")


def _check_bias_dtype(input, bias):
    """at::conv1d / conv2d check the bias first, in their own words."""
    x, b = getattr(input, "array", input), getattr(bias, "array", bias)
    if b is not None and hasattr(b, "dtype") and b.dtype != x.dtype:
        raise OpError(f"Input type ({_cpp(x)}) and bias type ({_cpp(b)}) should be the same")


def _tensor_type(a) -> str:
    """torch's legacy tensor type name: torch.FloatTensor."""
    return dtypes.legacy_type_name(a.dtype)


def _scalar(a):
    return dtypes.torch_type_name(np.dtype(a.dtype))


def _cpp(a):
    return dtypes.cpp_type_name(a.dtype)


def _conv_forward(input, weight, bias, stride, padding, dilation, transposed, output_padding,
                  groups):
    shape = _conv_shape(input.shape, weight.shape, None if bias is None else np.shape(bias),
                        stride, padding, dilation, transposed, output_padding, groups)
    _check_dtypes(input, weight, bias, groups)
    nd = weight.ndim - 2
    s, p, d = _lift_params(_pair(stride, nd), _pair(padding, nd), _pair(dilation, nd), nd)
    x, w = _lift(input, nd), _lift(weight, nd)
    n, o, g = x.shape[0], w.shape[0], groups
    oh, ow = (1, shape[2]) if nd == 1 else shape[2:]
    win = _windows(_pad(x, p), w.shape[2:], s, d, (oh, ow))
    win = win.reshape(n, g, x.shape[1] // g, oh, ow, *w.shape[2:])  # (no -1: n may be 0)
    out = np.einsum("ngchwij,gocij->ngohw", win, w.reshape(g, o // g, *w.shape[1:]),
                    optimize=True).reshape(n, o, oh, ow)
    if bias is not None and np.ndim(bias) == 1:  # (torch adds it in place: the input's dtype)
        out = out + bias[:, None, None].astype(out.dtype, copy=False)
    return out.reshape(shape)


def _padded_elements(input, padding, nd) -> int:
    """Elements of the zero-padded copy of ``input`` (N, C, *spatial) that _pad makes."""
    p = _pair(padding, nd, "padding")
    if not any(p):
        return 0
    return input[0] * input[1] * math.prod(input[2 + i] + 2 * p[i] for i in range(nd))


def _conv_extra(input, weight, bias, stride, padding, dilation, transposed, output_padding,
                groups):
    """Beyond the output: the padded input and the windows (N, C, *out, *kernel), which
    einsum's contraction copies twice (measured: tests/test_extra_memory_rules.py)."""
    out = _conv_shape(input, weight, bias, stride, padding, dilation, transposed,
                      output_padding, groups)
    nd = len(weight) - 2
    return (_padded_elements(input, padding, nd)
            + 2 * input[0] * input[1] * math.prod(out[2:]) * math.prod(weight[2:]))


def _conv_grad_extra(copies):
    """The VJP rows: the padded input and the windows (the weight's VJP reads them as the
    forward does, in two copies) or their gradient (the input's VJP: one array)."""
    def extra(grad_output, input, weight, stride, padding, dilation, groups):
        nd = len(weight) - 2
        return (_padded_elements(input, padding, nd) + copies * input[0] * input[1]
                * math.prod(grad_output[2:]) * math.prod(weight[2:]))
    return extra


def _shape_of(i):
    """A shape function giving the shape of argument ``i`` (the VJP rows: the shape of what
    they are the gradient of)."""
    return lambda *shapes: tuple(shapes[i])


def _conv_grad_input(grad, input, weight, stride, padding, dilation, groups):
    """The input-gradient of a convolution: a transposed convolution of ``grad`` (``input``
    gives only its size)."""
    input_size = input.shape
    nd = weight.ndim - 2
    s, p, d = _lift_params(_pair(stride, nd), _pair(padding, nd), _pair(dilation, nd), nd)
    gr, w = _lift(grad, nd), _lift(weight, nd)
    size = tuple(input_size) if nd == 2 else (input_size[0], input_size[1], 1, input_size[2])
    n, o, oh, ow = gr.shape
    kh, kw = w.shape[2:]
    cols = np.einsum("ngohw,gocij->ngchwij", gr.reshape(n, groups, o // groups, oh, ow),
                     w.reshape(groups, o // groups, *w.shape[1:]), optimize=True)
    cols = cols.reshape(n, size[1], oh, ow, kh, kw)
    xp = backend.module_of(gr).zeros((n, size[1], size[2] + 2 * p[0], size[3] + 2 * p[1]),
                                     dtype=np.result_type(grad.dtype, weight.dtype))
    for i in range(kh):  # scatter each kernel tap back onto the input positions it read
        for j in range(kw):
            xp[:, :, i * d[0]: i * d[0] + s[0] * (oh - 1) + 1: s[0],
               j * d[1]: j * d[1] + s[1] * (ow - 1) + 1: s[1]] += cols[..., i, j]
    out = xp[:, :, p[0]: p[0] + size[2], p[1]: p[1] + size[3]]
    return backend.ascontiguousarray(out.reshape(input_size))


def _conv_grad_weight(grad, input, weight, stride, padding, dilation, groups):
    """The weight-gradient of a convolution: windows of ``input`` against ``grad``
    (``weight`` gives only its size)."""
    weight_size = weight.shape
    nd = len(weight_size) - 2
    s, p, d = _lift_params(_pair(stride, nd), _pair(padding, nd), _pair(dilation, nd), nd)
    x, gr = _lift(input, nd), _lift(grad, nd)
    wsize = tuple(weight_size) if nd == 2 else tuple(weight_size[:2]) + (1, weight_size[2])
    n, o, oh, ow = gr.shape
    win = _windows(_pad(x, p), wsize[2:], s, d, (oh, ow))
    win = win.reshape(n, groups, x.shape[1] // groups, oh, ow, *wsize[2:])
    out = np.einsum("ngchwij,ngohw->gocij", win, gr.reshape(n, groups, o // groups, oh, ow),
                    optimize=True)
    return out.reshape(weight_size)


def _conv_grad_bias(grad, input, weight):
    return np.sum(grad, axis=(0,) + tuple(range(2, grad.ndim)))


def _undefined(grad):
    return None  # the gradient does not depend on this input: torch's undefined gradient


op("convolution(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, "
   "int[] dilation, bool transposed, int[] output_padding, int groups) -> Tensor",
   "ConvolutionBackward0", method=False, kernel=("slow_conv2d_cpu", "fi"),
   numbers=("bias",),  # conv<n>d passes a wrapped zero for a missing bias (an edge, as torch)
   jvp="transpose",
   forward=_conv_forward,
   vjp={"input": lambda grad, input, weight, stride, padding, dilation, groups:
        F._conv_grad_input(grad, input, weight, stride, padding, dilation, groups),
        "weight": lambda grad, input, weight, stride, padding, dilation, groups:
        F._conv_grad_weight(grad, input, weight, stride, padding, dilation, groups),
        # one derivatives.yaml formula for all three saves input and weight for any of them
        "bias": lambda grad, input, weight: F._conv_grad_bias(grad, input, weight)},
   dtype="none", shape=_conv_shape, extra=_conv_extra,
   samples=explicit(
       lambda r: Sample((rand(r, 1, 2, 5, 5), rand(r, 3, 2, 3, 3), rand(r, 3), (1, 1), (0, 0),
                         (1, 1), False, (0, 0), 1)),
       lambda r: Sample((rand(r, 2, 2, 5), rand(r, 2, 1, 2), rand(r, 2), (2,), (1,), (1,),
                         False, (0,), 2))))

_CONV_ARGS = "int[] stride, int[] padding, int[] dilation, int groups"

# <a, T(g, w)> = <conv(a, w), g> and <b, W(x, g)> = <conv(x, b), g>: each VJP below is
# one of the three rows again. Each row's output has the shape of the argument it is the
# gradient of (input: 1, weight: 2).
for _name, _forward, _vjp, _of, _copies in [
        ("_conv_grad_input", _conv_grad_input,
         {"grad_output": lambda grad, weight, stride, padding, dilation, groups: F.convolution(
             grad, weight, None, stride, padding, dilation, False, (0,), groups),
          "input": _undefined,
          "weight": lambda grad, grad_output, weight, stride, padding, dilation, groups:
          F._conv_grad_weight(grad_output, grad, weight, stride, padding, dilation, groups)},
         1, 1),
        ("_conv_grad_weight", _conv_grad_weight,
         {"grad_output": lambda grad, input, stride, padding, dilation, groups: F.convolution(
             input, grad, None, stride, padding, dilation, False, (0,), groups),
          "input": lambda grad, grad_output, input, stride, padding, dilation, groups:
          F._conv_grad_input(grad_output, input, grad, stride, padding, dilation, groups),
          "weight": _undefined},
         2, 2)]:
    op(f"{_name}(Tensor grad_output, Tensor input, Tensor weight, {_CONV_ARGS}) -> Tensor",
       "ConvolutionBackwardBackward0", method=False,
       jvp="transpose",
       forward=_forward, vjp=_vjp,
       dtype="none", shape=_shape_of(_of),
       extra=_conv_grad_extra(_copies))

op("_conv_grad_bias(Tensor grad_output, Tensor input, Tensor weight) -> Tensor",
   "ConvolutionBackwardBackward0", method=False, forward=_conv_grad_bias,
   # a sum of grad_output: input and weight are there for torch's edges only
   jvp=lambda grad_output_t, input, weight: F._conv_grad_bias(grad_output_t, input, weight),
   vjp={"grad_output": lambda grad, grad_output_shape: F.expand(F.reshape(grad, (1, -1) + (
       1,) * (len(grad_output_shape) - 2)), grad_output_shape),
        "input": _undefined, "weight": _undefined},
   dtype="none", shape=lambda grad_output, input, weight: (grad_output[1],))


# --------------------------------------------------------------------------- conv1d, conv2d

def _conv_padding(padding, weight_shape, stride, dilation, nd):
    """padding='valid'|'same'|int|ints -> (left pads, extra right pads). 'same' puts the odd
    one out on the right, as ATen's _convolution_same (which pads the input first)."""
    if not isinstance(padding, str):
        return _pair(padding, nd, "padding"), (0,) * nd
    if padding == "valid":
        return (0,) * nd, (0,) * nd
    if padding != "same":
        raise OpError(f"Invalid padding string: '{padding}'")
    if any(s != 1 for s in _pair(stride, nd)):
        raise OpError("padding='same' is not supported for strided convolutions")
    total = [d * (k - 1) for d, k in zip(_pair(dilation, nd), weight_shape[2:])]
    return tuple(t // 2 for t in total), tuple(t - t // 2 - t // 2 for t in total)


_warned_same = []


def _warn_same_once():
    """ATen's TORCH_WARN_ONCE for an asymmetric 'same' padding."""
    if not _warned_same:
        _warned_same.append(True)
        warnings.warn("Using padding='same' with even kernel lengths and odd dilation may "
                      "require a zero-padded copy of the input be created", UserWarning,
                      stacklevel=4)


def _convnd(nd):
    name = f"conv{nd}d"

    def check(input, weight):
        if len(input) not in (nd + 1, nd + 2):
            raise OpError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                          f"{name}, but got input of size: {_list(input)}")

    def shape(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        check(input, weight)
        batched = len(input) == nd + 2
        pad, extra = _conv_padding(padding, weight, stride, dilation, nd)
        full = tuple(input) if batched else (1,) + tuple(input)
        full = full[:2] + tuple(s + e for s, e in zip(full[2:], extra))
        out = _conv_shape(full, weight, bias, _pair(stride, nd), pad, _pair(dilation, nd),
                          False, (0,), groups)
        return out if batched else out[1:]

    def forward(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        _check_bias_dtype(input, bias)
        shape(tuple(input.shape), tuple(weight.shape), table.shape_of(bias), stride, padding,
              dilation, groups)
        pad, extra = _conv_padding(padding, tuple(weight.shape), stride, dilation, nd)
        args = (_pair(stride, nd), pad, _pair(dilation, nd), False, (0,) * nd, groups)
        # torch keeps an edge (None, 0) for a missing bias: pass a wrapped zero, not None
        b = 0.0 if bias is None else bias
        x = input if input.ndim == nd + 2 else F.unsqueeze(input, 0)
        if any(extra):  # F.pad order: last dim first, (left, right) each
            _warn_same_once()
            x = F.constant_pad_nd(x, [v for e in reversed(extra) for v in (0, e)], 0)
        out = F.convolution(x, weight, b, *args)
        return out if input.ndim == nd + 2 else F.squeeze(out, 0)

    return forward, shape


_conv1d, _conv1d_shape = _convnd(1)
_conv2d, _conv2d_shape = _convnd(2)

op("conv1d(Tensor input, Tensor weight, Tensor? bias=None, int[] stride=1, Any padding=0, "
   "int[] dilation=1, int groups=1) -> Tensor", None, composite=True, method=False,
   forward=_conv1d, shape=_conv1d_shape,
   samples=explicit(
       lambda r: Sample((rand(r, 1, 2, 5), rand(r, 3, 2, 3))),
       lambda r: Sample((rand(r, 2, 2, 6), rand(r, 2, 2, 2), rand(r, 2)),
                        {"stride": 2, "padding": 1}),
       lambda r: Sample((rand(r, 1, 4, 7), rand(r, 4, 2, 2), rand(r, 4)),
                        {"dilation": 2, "groups": 2, "padding": "valid"}),
       lambda r: Sample((rand(r, 2, 5), rand(r, 3, 2, 3), rand(r, 3)), {"padding": "same"}),
       lambda r: Sample((rand(r, 1, 2, 6), rand(r, 3, 2, 4)), {"padding": "same",
                                                              "dilation": 1})))

op("conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[] stride=1, Any padding=0, "
   "int[] dilation=1, int groups=1) -> Tensor", None, composite=True, method=False,
   forward=_conv2d, shape=_conv2d_shape,
   samples=explicit(
       lambda r: Sample((rand(r, 1, 2, 5, 5), rand(r, 3, 2, 3, 3), rand(r, 3))),
       lambda r: Sample((rand(r, 1, 2, 5, 5), rand(r, 3, 2, 3, 3))),
       lambda r: Sample((rand(r, 2, 2, 5, 4), rand(r, 2, 2, 2, 3), rand(r, 2)),
                        {"stride": (2, 1), "padding": (1, 0)}),
       lambda r: Sample((rand(r, 1, 4, 6, 6), rand(r, 2, 2, 2, 2), rand(r, 2)),
                        {"dilation": 2, "groups": 2, "stride": 2}),
       lambda r: Sample((rand(r, 1, 4, 4), rand(r, 2, 1, 3, 3), rand(r, 2)),
                        {"padding": "same"}),
       lambda r: Sample((rand(r, 1, 2, 5, 4), rand(r, 3, 2, 2, 3)), {"padding": "same"}),
       lambda r: Sample((rand(r, 2, 5, 5), rand(r, 3, 2, 2, 2), rand(r, 3)),
                        {"padding": "same"})))


# --------------------------------------------------------------------------- pooling

def _pool_params(name, kernel_size, stride, padding, dilation=1):
    k = _pool_pair(name, kernel_size, "kernel_size")
    s = k if stride is None or stride == () or stride == [] else _pool_pair(name, stride,
                                                                             "stride")
    return k, s, _pool_pair(name, padding, "padding"), _pool_pair(name, dilation, "dilation")


def _pool_pair(name, v, what):
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    if len(v) == 1:
        return v * 2
    if len(v) != 2:
        what = {"kernel_size": "kernel_size must", "stride": "stride must"}.get(
            what, f"{what} must")
        raise OpError(f"{name}: {what} either be a single int, or a tuple of two ints")
    return v


def _pool_shape(name, input, k, s, p, d, ceil_mode):
    """Output shape with ATen's checks, in ATen's order: the rank, then per dim
    pooling_output_shape (stride, padding), then pool2d_shape_check."""
    if len(input) not in (3, 4):
        raise OpError("non-empty 3D or 4D (batch mode) tensor expected for input")
    for i in range(2):
        if s[i] == 0:
            raise OpError("stride should not be zero")
        if p[i] < 0:
            raise OpError(f"pad must be non-negative, but got pad: {p[i]}")
        if p[i] > (d[i] * (k[i] - 1) + 1) // 2:
            raise OpError(f"pad should be at most half of effective kernel size, but got "
                          f"pad={p[i]}, kernel_size={k[i]} and dilation={d[i]}")
    if any(x <= 0 for x in k):
        raise OpError(f"kernel size should be greater than zero, but got kH: {k[0]} kW: {k[1]}")
    if any(x <= 0 for x in s):
        raise OpError(f"stride should be greater than zero, but got dH: {s[0]} dW: {s[1]}")
    if any(x <= 0 for x in d):
        raise OpError(f"dilation should be greater than zero, but got dilationH: {d[0]} "
                      f"dilationW: {d[1]}")
    if 0 in input[-3:]:
        raise OpError("non-empty 3D or 4D (batch mode) tensor expected for input")
    out = [_out_len(input[-2 + i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(2)]
    if any(o < 1 for o in out):
        raise OpError(f"Given input size: ({'x'.join(map(str, input[-3:]))}). Calculated "
                      f"output size: ({input[-3]}x{out[0]}x{out[1]}). Output size is too small")
    return tuple(input[:-2]) + tuple(out)


def _pool_extra(input, k, s, p, d, ceil_mode, windows: bool) -> int:
    """Beyond the output: the padded input (ceil_mode's right padding too) and, for max
    pooling, the windows flattened to one array (N, C, oh, ow, kh * kw)."""
    shape = _pool_shape("pool", input, k, s, p, d, ceil_mode)
    out = shape[-2:]
    extra = _extra_pad(tuple(input[-2:]), out, k, s, p, d)
    planes = math.prod(input[:-2])
    padded = planes * math.prod(input[-2 + i] + 2 * p[i] + extra[i] for i in range(2)) if (
        any(p) or any(extra)) else 0
    return padded + (planes * math.prod(out) * k[0] * k[1] if windows else 0)


def _batched(x):
    return x[None] if x.ndim == 3 else x


def _extra_pad(size, out, k, s, p, d):
    """Right padding that ceil_mode's last window reaches beyond the left-padded input."""
    return tuple(max(0, (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 - (size[i] + 2 * p[i]))
                 for i in range(2))


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode):
    k, s, p, d = _pool_params("max_pool2d", kernel_size, stride, padding, dilation)
    shape = _pool_shape("max_pool2d", input.shape, k, s, p, d, ceil_mode)
    x = _batched(input)
    h, w = x.shape[2:]
    out = shape[-2:]
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = _pad(x, p, fill, _extra_pad((h, w), out, k, s, p, d))
    win = _windows(xp, k, s, d, out)
    flat = win.reshape(win.shape[:4] + (k[0] * k[1],))  # (not -1: an empty batch has no size)
    arg = np.argmax(flat, axis=-1)  # first maximum in scan order (NaN wins), as ATen
    values = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    xp = backend.module_of(x)
    oh = xp.arange(out[0])[:, None] * s[0] - p[0] + (arg // k[1]) * d[0]
    ow = xp.arange(out[1])[None, :] * s[1] - p[1] + (arg % k[1]) * d[1]
    indices = (oh * w + ow).astype(np.int64)  # flat index within each (H, W) plane
    return values.reshape(shape), indices.reshape(shape)


def _plane_scatter(grad, input, indices):
    """Sum ``grad`` into zeros shaped like ``input`` at the flat per-plane ``indices``."""
    input_size = input.shape
    planes = int(np.prod(input_size[:-2]))
    hw = input_size[-2] * input_size[-1]
    xp = backend.module_of(grad)
    out = xp.zeros((planes, hw), dtype=grad.dtype)
    rows = xp.arange(planes)[:, None]
    per_plane = indices.shape[-2] * indices.shape[-1]  # (not -1: planes may be 0)
    scatter_add(out, (rows, np.reshape(indices, (planes, per_plane))),
                np.reshape(grad, (planes, per_plane)))
    return out.reshape(input_size)


def _plane_gather(input, indices):
    planes = int(np.prod(input.shape[:-2]))
    flat = np.reshape(input, (planes, input.shape[-2] * input.shape[-1]))
    per_plane = indices.shape[-2] * indices.shape[-1]
    return np.take_along_axis(flat, np.reshape(indices, (planes, per_plane)), axis=1).reshape(
        indices.shape)


op("max_pool2d_with_indices(Tensor input, int[] kernel_size, int[]? stride=None, "
   "int[] padding=0, int[] dilation=1, bool ceil_mode=False) -> (Tensor, Tensor)",
   "MaxPool2DWithIndicesBackward0", method=False, kernel=("max_pool2d", "fi"),
   jvp="transpose",
   forward=_max_pool,
   # derivatives.yaml saves self and the indices (result1)
   vjp={"input": lambda grad, input, result1: F._max_pool_scatter(grad, input, result1)},
   dtype="none",
   shape=lambda input, kernel_size, stride, padding, dilation, ceil_mode: [_pool_shape(
       "max_pool2d", input, *_pool_params("max_pool2d", kernel_size, stride, padding,
                                          dilation), ceil_mode)] * 2,
   extra=lambda input, kernel_size, stride, padding, dilation, ceil_mode: _pool_extra(
       input, *_pool_params("max_pool2d", kernel_size, stride, padding, dilation), ceil_mode,
       windows=True),
   torch="torch.nn.functional.max_pool2d_with_indices",
   samples=explicit(lambda r: Sample((rand(r, 1, 2, 4, 4), 2)),
                    lambda r: Sample((rand(r, 2, 5, 5), 3, 2, 1))))

# As ATen's max_pool2d_with_indices_backward, it takes the input too (with a zero
# derivative), so a create_graph gradient requires grad as torch's does.
op("_max_pool_scatter(Tensor grad_output, Tensor input, Tensor indices) -> Tensor",
   "MaxPool2DWithIndicesBackwardBackward0", method=False, nondiff=("indices",),
   jvp="transpose",
   forward=_plane_scatter,
   vjp={"grad_output": lambda grad, indices: F._max_pool_gather(grad, indices),
        "input": lambda grad: F.zeros_like(grad)},
   dtype="none", shape=lambda grad_output, input, indices: tuple(input))

op("_max_pool_gather(Tensor input, Tensor indices) -> Tensor", "MaxPool2DWithIndicesBackward0",
   jvp="linear",
   method=False, nondiff=("indices",),
   forward=_plane_gather,
   vjp={"input": lambda grad, input, indices: F._max_pool_scatter(grad, input, indices)},
   dtype="none", shape=lambda input, indices: tuple(indices))


def _max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                return_indices=False):
    out, indices = F.max_pool2d_with_indices(input, kernel_size, stride, padding, dilation,
                                             ceil_mode)
    return (out, indices) if return_indices else out


op("max_pool2d(Tensor input, int[] kernel_size, int[]? stride=None, int[] padding=0, "
   "int[] dilation=1, bool ceil_mode=False, bool return_indices=False) -> Tensor", None,
   composite=True, method=False, forward=_max_pool2d,
   shape=lambda input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
   return_indices=False: _pool_shape("max_pool2d", input, *_pool_params(
       "max_pool2d", kernel_size, stride, padding, dilation), ceil_mode),
   samples=explicit(
       lambda r: Sample((rand(r, 1, 2, 5, 5), 2)),
       lambda r: Sample((rand(r, 1, 2, 5, 5), 3), {"stride": 2, "padding": 1}),
       lambda r: Sample((rand(r, 2, 1, 5, 6), (2, 3)), {"stride": (1, 2), "dilation": (2, 1)}),
       lambda r: Sample((rand(r, 1, 2, 5, 5), 2), {"ceil_mode": True}),
       lambda r: Sample((rand(r, 2, 4, 4), 2))))


def _avg_divisor(size, out, k, s, p, ceil_mode, count_include_pad, divisor_override):
    """ATen's per-window divisor: window area clipped to the padded input (or to the input
    itself without count_include_pad), unless overridden."""
    if divisor_override:
        return np.full(out, float(divisor_override))
    areas = []
    for i in range(2):
        start = np.arange(out[i]) * s[i] - p[i]
        end = np.minimum(start + k[i], size[i] + p[i])
        if count_include_pad:
            areas.append(end - start)
        else:
            areas.append(np.minimum(end, size[i]) - np.maximum(start, 0))
    return np.outer(areas[0], areas[1]).astype(np.float64)


def _avg_check(kernel_size, stride, padding, divisor_override, shape, ceil_mode):
    if divisor_override is not None and divisor_override == 0:
        raise OpError("divisor must be not zero")
    k, s, p, d = _pool_params("avg_pool2d", kernel_size, stride, padding)
    if not shape:  # ATen reads input.size(-3) first
        raise IndexOpError("Dimension specified as -3 but tensor has no dimensions")
    if len(shape) < 3:
        raise IndexOpError(f"Dimension out of range (expected to be in range of "
                           f"[{-len(shape)}, {len(shape) - 1}], but got -3)")
    return k, s, p, d, _pool_shape("avg_pool2d", shape, k, s, p, d, ceil_mode)


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    k, s, p, d, shape = _avg_check(kernel_size, stride, padding, divisor_override,
                                   input.shape, ceil_mode)
    x = _batched(input)
    size, out = x.shape[2:], shape[-2:]
    xp = _pad(x, p, 0, _extra_pad(size, out, k, s, p, d))
    sums = _windows(xp, k, s, d, out).sum(axis=(-2, -1))
    div = backend.to_device(_avg_divisor(size, out, k, s, p, ceil_mode, count_include_pad,
                                          divisor_override), backend.device_of(x))
    if x.dtype.kind == "f":
        res = sums / div.astype(x.dtype)
    else:  # integer pooling divides as C++ does: truncating toward zero
        res = np.sign(sums) * (np.abs(sums) // div.astype(np.int64))
    return res.astype(x.dtype).reshape(shape)


def _avg_pool_grad(grad_output, input, kernel_size, stride, padding, ceil_mode,
                   count_include_pad, divisor_override):
    input_size = input.shape
    k, s, p, d, shape = _avg_check(kernel_size, stride, padding, divisor_override,
                                   tuple(input_size), ceil_mode)
    size, out = tuple(input_size[-2:]), shape[-2:]
    div = backend.to_device(_avg_divisor(size, out, k, s, p, ceil_mode, count_include_pad,
                                          divisor_override), backend.device_of(grad_output))
    g = np.reshape(grad_output, (-1, 1) + tuple(out)) / div.astype(grad_output.dtype)
    extra = _extra_pad(size, out, k, s, p, d)
    xp = backend.module_of(g).zeros(
        g.shape[:2] + (size[0] + 2 * p[0] + extra[0], size[1] + 2 * p[1] + extra[1]),
        dtype=grad_output.dtype)
    for i in range(k[0]):  # every window tap gets its window's share
        for j in range(k[1]):
            xp[:, :, i: i + s[0] * (out[0] - 1) + 1: s[0], j: j + s[1] * (out[1] - 1) + 1:
               s[1]] += g
    return backend.ascontiguousarray(
        xp[:, :, p[0]: p[0] + size[0], p[1]: p[1] + size[1]]).reshape(input_size)


_AVG_ARGS = ("int[] kernel_size, int[]? stride=None, int[] padding=0, bool ceil_mode=False, "
             "bool count_include_pad=True, int? divisor_override=None")


def _avg_shape(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_check(kernel_size, stride, padding, divisor_override, input, ceil_mode)[-1]


def _avg_extra(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Beyond the output: the padded input (the forward's copy, the VJP's sums)."""
    k, s, p, d, _ = _avg_check(kernel_size, stride, padding, divisor_override, input,
                               ceil_mode)
    return _pool_extra(input, k, s, p, d, ceil_mode, windows=False)


op(f"avg_pool2d(Tensor input, {_AVG_ARGS}) -> Tensor", "AvgPool2DBackward0", method=False,
   kernel=("avg_pool2d", "fi"),
   jvp="linear",
   forward=_avg_pool,
   # derivatives.yaml saves self (avg_pool2d_backward takes it), though only its size matters
   vjp={"input": lambda grad, input, kernel_size, stride, padding, ceil_mode,
        count_include_pad, divisor_override: F._avg_pool2d_grad(
            grad, input, kernel_size, stride, padding, ceil_mode,
            count_include_pad, divisor_override)},
   dtype="none", shape=_avg_shape, extra=_avg_extra,
   samples=explicit(
       lambda r: Sample((rand(r, 1, 2, 5, 5), 2)),
       lambda r: Sample((rand(r, 1, 2, 5, 5), 3), {"stride": 2, "padding": 1}),
       lambda r: Sample((rand(r, 1, 2, 5, 5), 3), {"stride": 2, "padding": 1,
                                                   "count_include_pad": False}),
       lambda r: Sample((rand(r, 2, 1, 5, 6), (2, 3)), {"stride": (1, 2),
                                                        "divisor_override": 5}),
       lambda r: Sample((rand(r, 1, 2, 5, 5), 2), {"ceil_mode": True}),
       lambda r: Sample((rand(r, 1, 2, 5, 5), 3), {"stride": 2, "padding": 1,
                                                   "ceil_mode": True,
                                                   "count_include_pad": False}),
       lambda r: Sample((rand(r, 2, 4, 4), 2))))

# Takes the input (zero derivative) as ATen's avg_pool2d_backward does; see _max_pool_scatter
op(f"_avg_pool2d_grad(Tensor grad_output, Tensor input, {_AVG_ARGS}) -> Tensor",
   "AvgPool2DBackwardBackward0", method=False,
   jvp="transpose",
   forward=_avg_pool_grad,
   vjp={"grad_output": lambda grad, kernel_size, stride, padding, ceil_mode,
        count_include_pad, divisor_override: F.avg_pool2d(
            grad, kernel_size, stride, padding, ceil_mode, count_include_pad,
            divisor_override),
        "input": lambda grad: F.zeros_like(grad)},
   dtype="none", shape=lambda grad_output, input, *a: tuple(input),
   extra=lambda grad_output, input, *a: _avg_extra(input, *a))


# --------------------------------------------------------------------------- dropout

def dropout_mask(shape, p, seed, dtype=np.float32):
    """The scaled keep-mask our dropout multiplies by: 1/(1-p) where kept, 0 where dropped.
    Deterministic for a seed (NumPy's PCG64), so a test can apply it in torch too."""
    keep = np.random.default_rng(seed).random(tuple(shape)) < 1 - p
    return keep.astype(dtype) / np.asarray(1 - p, dtype=dtype)


def _dropout(input, p=0.5, training=True, inplace=False, seed=None):
    if p < 0 or p > 1:
        raise OpError(f"dropout probability has to be between 0 and 1, but got {p}")
    if inplace:
        raise OpError("dropout(inplace=True) is not supported; use inplace=False")
    if p == 0 or not training or numel(input.shape) == 0:
        return input  # ATen returns the input itself: no node
    if p == 1:  # ATen: input * zeros({}), a wrapped constant (next edge (None, 0))
        return input * _on_device(np.zeros((), dtype=_np_dtype(input)), input)
    return input * _on_device(dropout_mask(input.shape, p, seed, _np_dtype(input)), input)


def _on_device(const, like):
    arr = like.array if isinstance(like, table._Tensor) else like
    return backend.to_device(const, backend.device_of(arr))


def _np_dtype(x):
    return x.dtype.np if isinstance(x, table._Tensor) else x.dtype


# ATen's CPU dropout is input * (bernoulli(1 - p) / (1 - p)): MulBackward0 over the input and
# a constant. torch's RNG cannot be reproduced, so ``seed`` picks our mask; see
# tests/test_dropout.py, which applies the same mask in torch.
op("dropout(Tensor input, float p=0.5, bool training=True, bool inplace=False, *, "
   "int? seed=None) -> Tensor", None, composite=True, method=False,
   forward=_dropout, shape=lambda input, *a, **k: tuple(input))
