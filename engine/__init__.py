"""A PyTorch-faithful reverse-mode autograd engine on NumPy (CuPy on a GPU).

    from engine import tensor, autograd
    x = tensor([1., 2., 3.], requires_grad=True)
    (x ** 2).sum().backward()
    x.grad  # tensor([2., 4., 6.])
"""

import math as _math
import sys as _sys

from . import (
    _tensor,
    autograd,
    dtypes,
    errors,
    forward_ad,
    function,
    functional,
    gradcheck,
    printing,
    serialization,
)
from ._tensor import Size, Tensor
from .autograd import is_anomaly_check_nan_enabled, is_anomaly_enabled
from .dtypes import bool_ as bool  # noqa: A001  (torch.bool)
from .dtypes import (
    channels_last,
    channels_last_3d,
    contiguous_format,
    dtype,
    float16,
    float32,
    float64,
    int8,
    int16,
    int32,
    int64,
    memory_format,
    preserve_format,
    uint8,
)
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .inference import is_inference
from .ops import F, creation
from .parallel import get_num_threads, set_num_threads
from .serialization import load, save
from .tensor_extras import (
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    allclose,
    equal,
)

# NOTE [Upward bindings]: the engine imports one way, each layer only the ones below it:
# dtypes, backend, errors, grad_mode, anomaly_mode -> graph -> the op table -> the op rows ->
# Tensor and views -> the walk (engine.py) -> autograd -> forward_ad -> functional,
# gradcheck, function. Where a lower layer calls a higher one, the higher one is bound
# into it here, once, after every module has loaded (and forward_ad binds its hooks into
# the table and the graph while a dual level is open: see engine/forward_ad.py).
_tensor.autograd_backward = autograd.backward  # Tensor.backward()
_tensor.forward_ad_inplace = forward_ad.inplace  # an in-place op on a dual tensor
_tensor.forward_ad_detach = forward_ad.detach_  # Tensor.detach_() of a dual tensor
printing.tangent_of = forward_ad.current_tangent  # repr's tangent= of a dual tensor
autograd.function = function  # torch.autograd.function, .functional, .forward_ad, ...
autograd.functional = functional
autograd.forward_ad = forward_ad
autograd.function = function  # torch.autograd.function (InplaceFunction, ...)
autograd.Function = function.Function
autograd.FunctionCtx = function.FunctionCtx
autograd.once_differentiable = function.once_differentiable
# torch.autograd.gradcheck is the function, and the module of that name is only in
# sys.modules (from torch.autograd.gradcheck import GradcheckError), as in torch
_sys.modules[autograd.__name__ + ".gradcheck"] = gradcheck
autograd.torch = _sys.modules[__name__]  # torch.autograd.torch: the package, as in torch
autograd.gradcheck = gradcheck.gradcheck
autograd.gradgradcheck = gradcheck.gradgradcheck

float = float32  # noqa: A001
double = float64
long = int64
half = float16
short = int16

# torch.inf, torch.nan, torch.e, torch.pi: Python floats, as torch's are
inf = _math.inf
nan = _math.nan
e = _math.e
pi = _math.pi

__version__ = "0.1.0"
TORCH_VERSION = "2.13.0"  # the torch whose semantics, names and messages we follow


def _export_ops():
    g = globals()
    for name in vars(F):
        if not name.startswith("_") and name not in g:
            g[name] = getattr(F, name)


_export_ops()


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def manual_seed(seed: int) -> None:
    """Seeds the generator that rand/randn/uniform_/normal_ use without an explicit seed."""
    creation.manual_seed(seed)


# torch.int (last: from here on this module's ``int`` is the dtype, not the builtin)
int = int32  # noqa: A001
