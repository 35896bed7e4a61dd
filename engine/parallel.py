"""Intra-op parallelism for large elementwise ops: torch.set_num_threads / get_num_threads.

# NOTE [parallel elementwise]
NumPy runs a ufunc on one core; torch splits an elementwise kernel over its intra-op
threads. Here a row whose forward is elementwise (its ``jvp`` is "elementwise": each output
element is computed from the inputs' elements at the same position) runs in pieces when
its array arguments all have one shape, are C-contiguous, and hold at least
``array_cache.LARGE_BYTES`` (1M float32 elements): the first piece on the calling thread
(its result gives the output's dtype, and its errors and warnings come out as they would),
then the rest on ``get_num_threads() - 1`` pool threads and the caller, each writing its
part of one output array. NumPy releases the GIL inside ufunc loops, so the parts run at
once. Each piece runs in a copy of the caller's context, so ``np.errstate`` (a context
variable) holds in every thread. Ops whose first piece comes back as a view of an input
(a forward that returns its input) run whole, as before: a copy would break the view.
Every element is computed by the same kernel as in one call, so the output is the same.
"""

from __future__ import annotations

import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .array_cache import LARGE_BYTES

PIECE_ELEMENTS = 1 << 18  # per call of the forward: its temporaries stay in the cache

_threads = os.cpu_count() or 1  # torch's default: one per core
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def get_num_threads() -> int:
    """The threads an elementwise op over a large tensor uses (torch.get_num_threads)."""
    return _threads


def set_num_threads(n: int) -> None:
    """torch.set_num_threads: 1 runs every op on the calling thread."""
    global _threads, _pool
    if type(n) is not int or n < 1:
        raise RuntimeError("set_num_threads expects a positive integer")
    with _pool_lock:
        _threads = n
        if _pool is not None:
            _pool.shutdown(wait=False)
            _pool = None


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads - 1,
                                       thread_name_prefix="engine-intraop")
        return _pool


def splittable(arrays) -> tuple | None:
    """The common shape when the forward's array arguments can be cut into pieces (NOTE
    [parallel elementwise]), else None. Numbers and other non-array arguments pass whole."""
    if _threads < 2:
        return None
    shape = None
    for a in arrays:
        if type(a) is np.ndarray and a.ndim:
            if shape is None:
                if a.nbytes < LARGE_BYTES:
                    return None
                shape = a.shape
            elif a.shape != shape:
                return None
            if not a.flags.c_contiguous:
                return None
        elif type(a) in (list, tuple):
            return None
    return shape


_worker = threading.local()  # set in the pool's threads: a piece never splits again


def run(forward, arrays: list, shape: tuple):
    """``forward(*arrays)`` computed in pieces on the intra-op threads."""
    if getattr(_worker, "inside", False):  # waiting on the pool from the pool could hang
        return forward(*arrays)
    size = int(np.prod(shape))
    flat = [a.reshape(-1) if type(a) is np.ndarray and a.ndim else a for a in arrays]

    def piece(lo, hi):
        return forward(*[a[lo:hi] if type(a) is np.ndarray and a.ndim else a for a in flat])

    first = piece(0, PIECE_ELEMENTS)
    if (type(first) is not np.ndarray or first.shape != (min(PIECE_ELEMENTS, size),)
            or first.base is not None):
        return forward(*arrays)  # not a fresh elementwise result: run it whole
    result = np.empty(shape, first.dtype)  # owns its memory, as one call's result would
    out = result.reshape(-1)
    out[:PIECE_ELEMENTS] = first
    bounds = np.linspace(PIECE_ELEMENTS, size, _threads + 1).astype(int).tolist()

    direct = isinstance(forward, np.ufunc)  # np.exp: writes its piece of out itself

    def part(lo, hi, in_pool=False):
        _worker.inside = in_pool
        for start in range(lo, hi, PIECE_ELEMENTS):
            end = min(start + PIECE_ELEMENTS, hi)
            if direct:
                forward(*[a[start:end] if type(a) is np.ndarray and a.ndim else a
                          for a in flat], out=out[start:end])
            else:
                out[start:end] = piece(start, end)

    context = contextvars.copy_context()
    futures = [_get_pool().submit(context.copy().run, part, lo, hi, True)
               for lo, hi in zip(bounds[1:-1], bounds[2:])]
    part(bounds[0], bounds[1])
    for f in futures:
        f.result()  # a piece's error is the op's error
    return result
