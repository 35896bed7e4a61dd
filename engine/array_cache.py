"""Large arrays reused instead of freed (CPU only; CuPy keeps its own pool).

A fresh NumPy array of tens of MB is a new mmap whose pages the kernel zeroes on first
touch, and an munmap when it dies: an elementwise forward and backward over 1e7 floats
spends about a third of its time there. ``engine/_arraycache.c`` is a NumPy allocator
(NEP 49) that keeps freed blocks of 4 MiB and more, up to a limit, for the next array of the
same size. The engine makes it NumPy's allocator only around its own large work: the
backward walk, and forward ops whose first input is large; user code's arrays are NumPy's
as usual. Every array remembers its allocator, so it may be freed anywhere.

Settings: ``AUTOGRAD_ARRAY_CACHE_BYTES`` (default 1 GiB; 0 turns the cache off) or
:func:`set_limit`; :func:`empty_cache` frees what is kept. Without a C compiler at install
time the extension is missing and the engine allocates as NumPy does.
"""

from __future__ import annotations

import os

try:
    from . import _arraycache
except ImportError:  # built without a compiler: NumPy's own allocator
    _arraycache = None

# inputs at least this large route an op's forward through the cache (its block size floor)
LARGE_BYTES = 4 << 20


def _initial_limit() -> int:
    text = os.environ.get("AUTOGRAD_ARRAY_CACHE_BYTES", "")
    try:
        return max(0, int(float(text))) if text else 1 << 30
    except ValueError:
        raise ValueError(f"AUTOGRAD_ARRAY_CACHE_BYTES must be a number of bytes, not "
                         f"{text!r}") from None


enabled = _arraycache is not None and _initial_limit() > 0
if _arraycache is not None:
    _arraycache.set_limit(_initial_limit())
    use, restore = _arraycache.use, _arraycache.restore  # token = use(); ...; restore(token)


def available() -> bool:
    return _arraycache is not None


def set_limit(nbytes: int) -> None:
    """Keep at most ``nbytes`` in freed blocks (0: keep none and stop using the cache)."""
    global enabled
    if _arraycache is None:
        return
    _arraycache.set_limit(int(nbytes))
    enabled = nbytes > 0


def empty_cache() -> None:
    """Free every block the cache holds (arrays in use are not touched)."""
    if _arraycache is not None:
        _arraycache.empty_cache()


def stats() -> dict:
    """cached_bytes, limit_bytes, hits, misses, min_bytes; {} without the extension."""
    return _arraycache.stats() if _arraycache is not None else {}
