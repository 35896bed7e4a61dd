"""The per-request budget: element counts and compute time, checked before allocating.

One budget covers every engine call a request causes. Graph nodes are checked here by
their row's shape rule (``elements``) and ``extra`` rule (``transient``) before they run;
every other op call (inside a composite, in a hook, in a large backward walk, in the
functional endpoints and gradcheck) is checked by the engine's allocation guard while
the budget is ``guarding`` (NOTE [allocation guard] in engine/ops/table.py), which calls
``allocation``. Each check also looks at the clock, so a loop of cheap ops in a hook stops
at ``compute_seconds`` like a long graph does.
"""

from __future__ import annotations

import contextlib
import math
import time

from engine.ops.table import guard

from .problems import limit
from .settings import Settings


class Budget:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.total = 0
        self.deadline = time.monotonic() + settings.compute_seconds

    def elements(self, shape, what: str = "tensor") -> int:
        """Count a tensor about to be made; refuse it (413) before allocation if too big."""
        s = self.settings
        if len(shape) > s.max_ndim:
            raise limit("max_ndim", len(shape), s.max_ndim)
        n = math.prod(shape)
        if n > s.max_tensor_elements:
            raise limit("max_tensor_elements", n, s.max_tensor_elements)
        self.total += n
        if self.total > s.max_total_elements:
            raise limit("max_total_elements", self.total, s.max_total_elements)
        return n

    def transient(self, n: int) -> None:
        """Memory an op needs only while it runs (a padded copy, windows, a composite's
        intermediates): it must fit in what the request has left of max_total_elements,
        and is given back when the op is done (not added to the total)."""
        allowed = self.settings.max_total_elements
        if self.total + n > allowed:
            raise limit("max_total_elements", self.total + n, allowed)

    def allocation(self, op, args) -> int:
        """The engine's guard: an op call about to run (outputs and extra elements from
        its row's rules) is refused with a 413 if any output is over max_tensor_elements or
        max_ndim, or all of it over what is left of max_total_elements; and the request's
        time is checked. Returns the elements the call will allocate."""
        self.tick()
        s = self.settings
        shapes = op.infer_shape(args)
        n = 0
        for shape in shapes if op.multi_output else (shapes,):
            if len(shape) > s.max_ndim:
                raise limit("max_ndim", len(shape), s.max_ndim)
            k = math.prod(shape)
            if k > s.max_tensor_elements:
                raise limit("max_tensor_elements", k, s.max_tensor_elements)
            n += k
        n += op.extra_elements(args)
        self.transient(n)
        return n

    def composite(self, args):
        """``guarding()`` for a composite op's call, unless its intermediates are surely
        small: each is at most the product of (1 + the size) of its Tensor arguments and
        (1 + each integer argument: sizes, paddings, strides) - einsum's full index space,
        a broadcast matmul's batch, a padded copy - and when that product fits in what is
        left of max_total_elements, checking each primitive (~3 us a call) is skipped."""
        room = self.settings.max_total_elements - self.total
        bound, stack = 1, list(args)
        while stack and bound <= room:
            v = stack.pop()
            if hasattr(v, "shape"):
                bound *= math.prod(v.shape) + 1
            elif type(v) is int:
                bound *= abs(v) + 1
            elif type(v) in (list, tuple):
                stack.extend(v)
        return self.guarding() if bound > room else contextlib.nullcontext()

    @contextlib.contextmanager
    def guarding(self):
        """Every op call in this thread, until the block ends, goes through ``allocation``."""
        previous = guard.check
        guard.check = self.allocation
        try:
            yield
        finally:
            guard.check = previous

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise limit("compute_seconds", "elapsed", self.settings.compute_seconds)
