"""torch.autograd.graph: saved-tensor hooks, gradient edges, multi-tensor grad hooks."""

from __future__ import annotations

from .graph import Node
from .saved_hooks import disable_saved_tensors_hooks, save_on_cpu, saved_tensors_hooks

__all__ = ["Node", "saved_tensors_hooks", "disable_saved_tensors_hooks", "save_on_cpu"]
