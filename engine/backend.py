"""The one array indirection: NumPy by default, CuPy for device="cuda".

Op forwards are written against ``numpy`` functions; CuPy arrays implement NumPy's
``__array_function__``/``__array_ufunc__`` protocols, so the same code runs on the GPU.
Only creation and transfers need to know which module to use, and they ask here.
"""

import numpy as np

try:  # optional: pip install .[cuda]
    import cupy  # type: ignore[import-not-found]
except Exception:  # ImportError, or a CuPy that finds no CUDA driver
    cupy = None


def cuda_available() -> bool:
    if cupy is None:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def module_for(device: str):
    """The array module that allocates on ``device``."""
    if device == "cpu":
        return np
    if device.startswith("cuda"):
        if not cuda_available():
            raise RuntimeError("Torch not compiled with CUDA enabled" if cupy is None else
                               "No CUDA GPUs are available")
        return cupy
    raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: "
                       f"{device}")


def device_of(array) -> str:
    return "cpu" if isinstance(array, (np.ndarray, np.generic)) else "cuda"


def to_device(array, device: str):
    if device_of(array) == device.split(":")[0]:
        return array
    if device == "cpu":
        return _keeping_layout(array, cupy.asnumpy)
    return _keeping_layout(array, module_for(device).asarray)


def _keeping_layout(array, transfer):
    """``transfer(array)``, with the array's dimension order kept: a transfer makes a
    C-contiguous copy, and torch's .to() keeps strides (so a transposed tensor reshapes
    with a copy on either device, UnsafeViewBackward0, not a view)."""
    if array.ndim < 2 or array.flags.c_contiguous:
        return transfer(array)
    order = sorted(range(array.ndim), key=lambda k: -abs(array.strides[k]))  # outer first
    moved = transfer(array.transpose(order))
    return moved.transpose(sorted(range(array.ndim), key=order.__getitem__))


def ascontiguousarray(array):
    """A C-contiguous array on the array's own device (NumPy's does not dispatch to CuPy)."""
    return module_of(array).ascontiguousarray(array)


def writeable(array) -> bool:
    """Whether an array may be written in place (CuPy arrays have no read-only flag)."""
    return getattr(array.flags, "writeable", True)


def to_numpy(array) -> np.ndarray:
    return np.asarray(array) if device_of(array) == "cpu" else cupy.asnumpy(array)


ARRAY_TYPES = (np.ndarray, np.generic) + ((cupy.ndarray,) if cupy is not None else ())


def root_array(a):
    """The array that owns ``a``'s memory (``a`` itself, or the end of its ``.base`` chain):
    views of one memory share it."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def module_of(array):
    """The array module an existing array belongs to."""
    return np if isinstance(array, (np.ndarray, np.generic)) else cupy
