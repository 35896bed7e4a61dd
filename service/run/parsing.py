"""``ast.parse`` for request text (``source`` programs, hook expressions), one at a time.

NOTE [ast parse race]: CPython 3.11's conversion of a parse tree to ``ast`` objects keeps
its recursion counter in interpreter-wide state, not per thread (python/cpython#106905).
Requests parse in worker threads; when a thread switch lands inside one conversion while
another runs, the counter no longer balances and ``ast.parse`` raises ``SystemError: AST
constructor recursion depth mismatch`` for a valid program. So every parse of request
text holds one process-wide lock: parsing is CPU-bound under the GIL anyway, so
serializing it costs no throughput. A ``SystemError`` that still happens (a library
parsing outside our lock at that moment) is retried, and the last one is a 503 the client
may retry, never a 500 (tests/test_attacks_parse.py: 44 clients at once).
"""

from __future__ import annotations

import ast
import threading

from ..problems import Problem

_lock = threading.Lock()
RETRIES = 3


def parse(text: str, mode: str) -> ast.AST:
    """``ast.parse(text, mode=mode)`` under the lock; its SyntaxError, ValueError,
    RecursionError and MemoryError pass to the caller."""
    for _ in range(RETRIES):
        with _lock:
            try:
                return ast.parse(text, mode=mode)
            except SystemError:
                continue
    raise Problem(503, "the parser was interrupted by another thread; retry")
