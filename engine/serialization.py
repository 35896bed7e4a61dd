"""torch.save and torch.load (torch.serialization) for the engine's tensors.

A saved file is a zip archive, as torch's is: ``archive/data.pkl`` pickles the object with
each Tensor replaced by a persistent id (dtype, shape, device, requires_grad and the name of
its record), and ``archive/data/<k>`` holds that tensor's bytes. Loading rebuilds each
tensor as torch does: a leaf with the values, requiring grad as the saved tensor did (its
.grad and history are not saved). The engine cannot read torch's files, nor torch the
engine's.

``load`` defaults to ``weights_only=True``, as torch 2.6 and later: the unpickler then
accepts only plain containers, numbers, strings, tensors, sizes, dtypes and what
``add_safe_globals`` allows, and refuses any other global with torch's error, so loading a
file does not run code of its choosing. ``weights_only=False`` unpickles anything (trusted
files only). Each tensor is saved on its own: tensors that shared memory load as copies.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import pickle
import zipfile

import numpy as np

from . import backend
from ._tensor import Size, Tensor
from .dtypes import from_name

DEFAULT_PROTOCOL = 2  # torch.serialization.DEFAULT_PROTOCOL
_ARCHIVE = "archive"

# globals a weights_only load resolves: (module, name) -> the object
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
    ("engine._tensor", "Size"): Size,
    ("engine.dtypes", "from_name"): from_name,  # (how a dtype pickles)
}
_safe_globals: list = []  # add_safe_globals


def _qualified(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def add_safe_globals(safe_globals) -> None:
    """Allow these classes and functions in weights_only loads (torch's name)."""
    _safe_globals.extend(safe_globals)


def get_safe_globals() -> list:
    return list(_safe_globals)


def clear_safe_globals() -> None:
    _safe_globals.clear()


@contextlib.contextmanager
def safe_globals(safe_globals):
    """add_safe_globals for the duration of a ``with`` block."""
    before = list(_safe_globals)
    _safe_globals.extend(safe_globals)
    try:
        yield
    finally:
        _safe_globals[:] = before


def _weights_only_error(detail: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(
        "Weights only load failed. This file can still be loaded, to do so you have two "
        "options, \x1b[1mdo those steps only if you trust the source of the checkpoint\x1b[0m. "
        "\n\t(1) In PyTorch 2.6, we changed the default value of the `weights_only` argument "
        "in `torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` "
        "set to `False` will likely succeed, but it can result in arbitrary code execution. "
        "Do it only if you got the file from a trusted source.\n\t(2) Alternatively, to load "
        "with `weights_only=True` please check the recommended steps in the following error "
        f"message.\n\tWeightsUnpickler error: {detail}\n\nCheck the documentation of "
        "torch.load to learn more about types accepted by default with weights_only "
        "https://pytorch.org/docs/stable/generated/torch.load.html.")


class _Pickler(pickle.Pickler):
    def __init__(self, file, protocol, archive):
        super().__init__(file, protocol)
        self._archive = archive
        self._records = 0

    def persistent_id(self, obj):
        if type(obj) is not Tensor:
            return None
        arr = backend.to_numpy(obj.array)
        key = str(self._records)
        self._records += 1
        self._archive.writestr(f"{_ARCHIVE}/data/{key}",
                               np.ascontiguousarray(arr).tobytes())
        return ("engine.Tensor", key, arr.dtype.str, tuple(int(n) for n in arr.shape),
                backend.device_of(obj.array), bool(obj._requires_grad))


def _target_device(saved: str, map_location) -> str:
    if map_location is None:
        return saved
    if isinstance(map_location, dict):
        return str(map_location.get(saved, saved))
    if callable(map_location):
        raise NotImplementedError("torch.load: a callable map_location is not supported by "
                                  "the engine; give a device or a dict")
    return str(map_location)


def _unpickler(base, weights_only: bool):
    class Unpickler(base):
        def __init__(self, file, archive, map_location, **kwargs):
            super().__init__(file, **kwargs)
            self._archive, self._map_location = archive, map_location

        def persistent_load(self, pid):
            if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "engine.Tensor"):
                raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
            _, key, dtype, shape, device, requires_grad = pid
            raw = self._archive.read(f"{_ARCHIVE}/data/{key}")
            arr = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
            t = Tensor._make(backend.to_device(arr, _target_device(device,
                                                                   self._map_location)))
            t._requires_grad = requires_grad
            return t

        if weights_only:
            def find_class(self, module, name):
                if module == "__builtin__":  # (protocol 2 writes Python 2's name)
                    module = "builtins"
                found = _ALLOWED.get((module, name))
                if found is not None:
                    return found
                for obj in _safe_globals:
                    if _qualified(obj) == f"{module}.{name}":
                        return obj
                raise _weights_only_error(
                    f"Unsupported global: GLOBAL {module}.{name} was not an allowed global "
                    f"by default. Please use `torch.serialization.add_safe_globals("
                    f"[{module}.{name}])` or the `torch.serialization.safe_globals("
                    f"[{module}.{name}])` context manager to allowlist this global if you "
                    "trust this class/function.")

    return Unpickler


_UNPICKLERS = {True: _unpickler(pickle.Unpickler, True),
               False: _unpickler(pickle.Unpickler, False)}


@contextlib.contextmanager
def _opened(f, mode: str):
    if isinstance(f, (str, os.PathLike)):
        with open(f, mode) as handle:
            yield handle
    else:
        yield f


def save(obj, f, pickle_module=pickle, pickle_protocol=DEFAULT_PROTOCOL,
         _use_new_zipfile_serialization=True, _disable_byteorder_record=False) -> None:
    """Write ``obj`` (tensors, and containers of them, or any picklable object) to ``f``, a
    path or a binary file object."""
    with _opened(f, "wb") as handle:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            data = io.BytesIO()
            _Pickler(data, pickle_protocol, archive).dump(obj)
            archive.writestr(f"{_ARCHIVE}/data.pkl", data.getvalue())
        handle.write(buffer.getvalue())


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Read what ``save`` wrote. ``weights_only`` (default True) refuses globals other
    than tensors, plain containers and what ``add_safe_globals`` allows."""
    weights_only = True if weights_only is None else bool(weights_only)
    with _opened(f, "rb") as handle:
        raw = handle.read()
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        data = archive.read(f"{_ARCHIVE}/data.pkl")
    except (zipfile.BadZipFile, KeyError):
        raise pickle.UnpicklingError("torch.load: not a file written by torch.save (the "
                                     "engine reads only its own files)") from None
    with archive:
        return _UNPICKLERS[weights_only](io.BytesIO(data), archive, map_location,
                                         **pickle_load_args).load()
