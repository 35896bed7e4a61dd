"""torch.nn.functional convolution, pooling and dropout rows.

Convolution is one primitive (``convolution``, ConvolutionBackward0) plus two private
rows for its gradients: ``_conv_grad_input`` (a transposed convolution) and
``_conv_grad_weight``. All three are bilinear and their VJPs are each other, so the family
is closed under differentiation and double backward needs nothing more. Pools work the
same way: max pooling pairs a scatter with a gather at the saved argmax indices, average
pooling pairs the pool with its (linear) backward.

Everything runs in 2-D; 1-D convolution lifts its input to height 1.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import OpError
from . import table
from .samples import Sample, explicit, rand
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
    """Output shape with torch's argument checks (at::native::check_shape_forward)."""
    if transposed:
        raise OpError("transposed convolution is not supported")
    nd = len(weight) - 2
    if nd < 1 or len(input) != nd + 2:
        _pair(stride, max(len(input) - 2, 1))  # torch reports the mismatch via stride
        raise OpError(f"expected stride to be a single integer value or a list of "
                      f"{max(len(input) - 2, 1)} values to match the convolution dimensions, "
                      f"but got stride={_list(_pair(stride, nd))}")
    stride, padding, dilation = (_pair(stride, nd, "stride"), _pair(padding, nd, "padding"),
                                 _pair(dilation, nd, "dilation"))
    if any(s <= 0 for s in stride):
        raise OpError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise OpError("negative padding is not supported")
    if any(d <= 0 for d in dilation):
        raise OpError(f"dilation should be greater than zero, but got {_list(dilation)}")
    if groups <= 0:
        raise OpError("non-positive groups is not supported")
    if weight[0] % groups:
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
    return (input[0], weight[0]) + tuple(
        _out_len(input[2 + i], weight[2 + i], stride[i], padding[i], dilation[i])
        for i in range(nd))


def _check_dtypes(input, weight, bias):
    if input.dtype != weight.dtype:
        raise OpError(f"expected scalar type {_scalar(input)} but found {_scalar(weight)}")
    if bias is not None and hasattr(bias, "dtype") and bias.dtype != input.dtype:
        raise OpError(f"Input type ({_cpp(input)}) and bias type ({_cpp(bias)}) should be the "
                      "same")


def _scalar(a):
    from .linalg import _scalar_name
    return _scalar_name(a)


def _cpp(a):
    from .linalg import _cpp_name
    return _cpp_name(a)


def _conv_forward(input, weight, bias, stride, padding, dilation, transposed, output_padding,
                  groups):
    shape = _conv_shape(input.shape, weight.shape, None if bias is None else np.shape(bias),
                        stride, padding, dilation, transposed, output_padding, groups)
    _check_dtypes(input, weight, bias)
    nd = weight.ndim - 2
    s, p, d = _lift_params(_pair(stride, nd), _pair(padding, nd), _pair(dilation, nd), nd)
    x, w = _lift(input, nd), _lift(weight, nd)
    n, o, g = x.shape[0], w.shape[0], groups
    oh, ow = (1, shape[2]) if nd == 1 else shape[2:]
    win = _windows(_pad(x, p), w.shape[2:], s, d, (oh, ow))
    win = win.reshape(n, g, -1, oh, ow, *w.shape[2:])
    out = np.einsum("ngchwij,gocij->ngohw", win, w.reshape(g, o // g, *w.shape[1:]),
                    optimize=True).reshape(n, o, oh, ow)
    if bias is not None and np.ndim(bias) == 1:
        out = out + bias[:, None, None]
    return out.reshape(shape)


def _conv_grad_input(grad, weight, input_size, stride, padding, dilation, groups):
    """The input-gradient of a convolution: a transposed convolution of ``grad``."""
    nd = weight.ndim - 2
    s, p, d = _lift_params(_pair(stride, nd), _pair(padding, nd), _pair(dilation, nd), nd)
    gr, w = _lift(grad, nd), _lift(weight, nd)
    size = tuple(input_size) if nd == 2 else (input_size[0], input_size[1], 1, input_size[2])
    n, o, oh, ow = gr.shape
    kh, kw = w.shape[2:]
    cols = np.einsum("ngohw,gocij->ngchwij", gr.reshape(n, groups, o // groups, oh, ow),
                     w.reshape(groups, o // groups, *w.shape[1:]), optimize=True)
    cols = cols.reshape(n, size[1], oh, ow, kh, kw)
    xp = np.zeros((n, size[1], size[2] + 2 * p[0], size[3] + 2 * p[1]),
                  dtype=np.result_type(grad, weight))
    for i in range(kh):  # scatter each kernel tap back onto the input positions it read
        for j in range(kw):
            xp[:, :, i * d[0]: i * d[0] + s[0] * (oh - 1) + 1: s[0],
               j * d[1]: j * d[1] + s[1] * (ow - 1) + 1: s[1]] += cols[..., i, j]
    out = xp[:, :, p[0]: p[0] + size[2], p[1]: p[1] + size[3]]
    return np.ascontiguousarray(out.reshape(input_size))


def _conv_grad_weight(input, grad, weight_size, stride, padding, dilation, groups):
    """The weight-gradient of a convolution: windows of ``input`` against ``grad``."""
    nd = len(weight_size) - 2
    s, p, d = _lift_params(_pair(stride, nd), _pair(padding, nd), _pair(dilation, nd), nd)
    x, gr = _lift(input, nd), _lift(grad, nd)
    wsize = tuple(weight_size) if nd == 2 else tuple(weight_size[:2]) + (1, weight_size[2])
    n, o, oh, ow = gr.shape
    win = _windows(_pad(x, p), wsize[2:], s, d, (oh, ow))
    win = win.reshape(n, groups, -1, oh, ow, *wsize[2:])
    out = np.einsum("ngchwij,ngohw->gocij", win, gr.reshape(n, groups, o // groups, oh, ow),
                    optimize=True)
    return out.reshape(weight_size)


def _bias_grad(grad):
    return F.sum(grad, (0,) + tuple(range(2, len(grad.shape))))


op("convolution(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, "
   "int[] dilation, bool transposed, int[] output_padding, int groups) -> Tensor",
   "ConvolutionBackward0", method=False,
   forward=_conv_forward,
   vjp={"input": lambda grad, weight, input_shape, stride, padding, dilation, groups:
        F._conv_grad_input(grad, weight, input_shape, stride, padding, dilation, groups),
        "weight": lambda grad, input, weight_shape, stride, padding, dilation, groups:
        F._conv_grad_weight(input, grad, weight_shape, stride, padding, dilation, groups),
        "bias": lambda grad: _bias_grad(grad)},
   dtype="none", shape=_conv_shape,
   samples=explicit(
       lambda r: Sample((rand(r, 1, 2, 5, 5), rand(r, 3, 2, 3, 3), rand(r, 3), (1, 1), (0, 0),
                         (1, 1), False, (0, 0), 1)),
       lambda r: Sample((rand(r, 2, 2, 5), rand(r, 2, 1, 2), rand(r, 2), (2,), (1,), (1,),
                         False, (0,), 2))))

_CONV_ARGS = "int[] stride, int[] padding, int[] dilation, int groups"

# <a, T(g, w)> = <conv(a, w), g> and <b, W(x, g)> = <conv(x, b), g>: each VJP below is
# one of the three rows again.
op(f"_conv_grad_input(Tensor grad_output, Tensor weight, int[] input_size, {_CONV_ARGS})"
   " -> Tensor", "ConvolutionBackwardBackward0", method=False,
   forward=_conv_grad_input,
   vjp={"grad_output": lambda grad, weight, stride, padding, dilation, groups: F.convolution(
       grad, weight, None, stride, padding, dilation, False, (0,), groups),
        "weight": lambda grad, grad_output, weight_shape, stride, padding, dilation, groups:
        F._conv_grad_weight(grad, grad_output, weight_shape, stride, padding, dilation,
                            groups)},
   dtype="none", shape=lambda grad_output, weight, input_size, *a: tuple(input_size))

op(f"_conv_grad_weight(Tensor input, Tensor grad_output, int[] weight_size, {_CONV_ARGS})"
   " -> Tensor", "ConvolutionBackwardBackward0", method=False,
   forward=_conv_grad_weight,
   vjp={"input": lambda grad, grad_output, input_shape, stride, padding, dilation, groups:
        F._conv_grad_input(grad_output, grad, input_shape, stride, padding, dilation, groups),
        "grad_output": lambda grad, input, stride, padding, dilation, groups: F.convolution(
            input, grad, None, stride, padding, dilation, False, (0,), groups)},
   dtype="none", shape=lambda input, grad_output, weight_size, *a: tuple(weight_size))


# --------------------------------------------------------------------------- conv1d, conv2d

def _conv_padding(padding, weight_shape, stride, dilation, nd):
    """padding='valid'|'same'|int|ints -> ints (symmetric 'same' only)."""
    if not isinstance(padding, str):
        return _pair(padding, nd, "padding")
    if padding == "valid":
        return (0,) * nd
    if padding != "same":
        raise OpError(f"Invalid padding string: '{padding}'")
    if any(s != 1 for s in _pair(stride, nd)):
        raise OpError("padding='same' is not supported for strided convolutions")
    total = [d * (k - 1) for d, k in zip(_pair(dilation, nd), weight_shape[2:])]
    if any(t % 2 for t in total):  # torch pads asymmetrically there (an extra pad node)
        raise OpError("padding='same' with an even effective kernel size is not supported "
                      "here; pad the input explicitly")
    return tuple(t // 2 for t in total)


def _convnd(nd):
    name = f"conv{nd}d"

    def check(input, weight):
        if len(input) not in (nd + 1, nd + 2):
            raise OpError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                          f"{name}, but got input of size: {_list(input)}")

    def shape(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        check(input, weight)
        batched = len(input) == nd + 2
        pad = _conv_padding(padding, weight, stride, dilation, len(weight) - 2)
        out = _conv_shape(input if batched else (1,) + tuple(input), weight, bias, stride,
                          pad, dilation, False, (0,), groups)
        return out if batched else out[1:]

    def forward(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        shape(tuple(input.shape), tuple(weight.shape), table.shape_of(bias), stride, padding,
              dilation, groups)
        k = weight.ndim - 2
        pad = _conv_padding(padding, tuple(weight.shape), stride, dilation, k)
        args = (_pair(stride, k), pad, _pair(dilation, k), False, (0,) * k, groups)
        # torch keeps an edge (None, 0) for a missing bias: pass a wrapped zero, not None
        b = 0.0 if bias is None else bias
        if input.ndim == nd + 2:
            return F.convolution(input, weight, b, *args)
        return F.squeeze(F.convolution(F.unsqueeze(input, 0), weight, b, *args), 0)

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
       lambda r: Sample((rand(r, 2, 5), rand(r, 3, 2, 3), rand(r, 3)), {"padding": "same"})))

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
                        {"padding": "same"})))
