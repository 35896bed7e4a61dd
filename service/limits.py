"""The per-request budget: element counts and compute time, checked before allocating."""

from __future__ import annotations

import math
import time

from .errors import limit
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

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise limit("compute_seconds", "elapsed", self.settings.compute_seconds)
