"""Large byte buffers that are cheap to fill: request bodies and decoded base64 tensors.

A fresh 40 MB ``bytes`` (``b"".join`` of a body's chunks, ``b64decode``'s result) costs
several times the copy itself: malloc serves sizes this large with a new mapping of 4 KiB
pages, and each page faults on first touch (~3 ms a MB on a small VM, against ~0.5 ms a MB
to copy). A private anonymous mapping advised for transparent huge pages takes 2 MiB pages
instead: ~500x fewer faults (the same reason a large NumPy array is cheap to fill: NumPy
advises its own large allocations so). The mapping is an ``mmap``, which has what the
request parsers use of ``bytes`` (``len``, ``find``, slices as bytes, ``re``; not a fast
``in``: use ``find``) and
lends its memory to ``memoryview`` and ``np.frombuffer`` without a copy; it is unmapped
when the last view of it goes.
"""

from __future__ import annotations

import contextlib
import mmap

# Below this a buffer is made the plain way: a few faults cost less than the mapping.
HUGE_BYTES = 1 << 20


def buffer(n: int):
    """A writable, zero-filled buffer of ``n`` bytes (``bytearray`` where there is no
    private anonymous mmap, i.e. not on Linux/BSD/macOS)."""
    if n < HUGE_BYTES or not hasattr(mmap, "MAP_PRIVATE"):
        return bytearray(n)
    mm = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        with contextlib.suppress(OSError):  # a kernel without THP: 4 KiB pages, still right
            mm.madvise(mmap.MADV_HUGEPAGE)
    return mm


def json_input(body):
    """``body`` as orjson.loads takes it (bytes, bytearray and memoryview, not mmap)."""
    return body if isinstance(body, (bytes, bytearray, memoryview)) else memoryview(body)
