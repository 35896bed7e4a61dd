"""Run one op sample through the engine and through torch, the same way.

Used by the table-generated tests (test_ops.py) and any test that compares an op with torch.
"""

from __future__ import annotations

import numpy as np
import torch

import engine
from engine.ops.samples import Const
from engine.ops.table import Op


def to_engine(value, dtype="float32", device=None):
    if isinstance(value, Const):
        return engine.tensor(value.array, device=device)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return engine.tensor(value.astype(dtype), requires_grad=True, device=device)
    if isinstance(value, np.ndarray):
        return engine.tensor(value, device=device)
    if isinstance(value, list) and value and isinstance(value[0], (np.ndarray, Const)):
        return [to_engine(v, dtype, device) for v in value]
    return value


def to_torch(value, dtype="float32"):
    if isinstance(value, Const):
        return torch.tensor(value.array)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return torch.tensor(value.astype(dtype), requires_grad=True)
    if isinstance(value, np.ndarray):
        return torch.tensor(value)
    if isinstance(value, list) and value and isinstance(value[0], (np.ndarray, Const)):
        return [to_torch(v, dtype) for v in value]
    return value


def torch_fn(row: Op):
    """How to call torch for a row: row.torch (callable or dotted path) or torch.<name>,
    torch.nn.functional.<name>, torch.linalg.<name>, or the Tensor method."""
    if callable(row.torch):
        return lambda *a, **k: row.torch(torch, *a, **k)
    if isinstance(row.torch, str):
        obj = torch
        for part in row.torch.removeprefix("torch.").split("."):
            obj = getattr(obj, part)
        return obj
    for space in (torch, torch.nn.functional, torch.linalg, torch.special):
        if hasattr(space, row.name):
            return getattr(space, row.name)
    return lambda self, *a, **k: getattr(self, row.name)(*a, **k)


def flat_tensors(args, kinds=(engine.Tensor, torch.Tensor)):
    out = []
    for a in args:
        if isinstance(a, kinds):
            out.append(a)
        elif isinstance(a, list):
            out.extend(t for t in a if isinstance(t, kinds))
    return out


def diff_inputs(args, kwargs):
    return [t for t in flat_tensors(list(args) + list(kwargs.values())) if t.requires_grad]


def outputs_of(result):
    if isinstance(result, (tuple, list)):
        return [r for r in result if r.dtype.is_floating_point]
    return [result]


def node_signature(node):
    """(name, next_functions as (name, output_nr)) in a form both engines share."""
    if node is None:
        return None
    return (node.name(), tuple((None if fn is None else fn.name(), nr)
                               for fn, nr in node.next_functions))


def call_both(row: Op, sample, dtype="float32"):
    e_args = [to_engine(a, dtype) for a in sample.args]
    e_kwargs = {k: to_engine(v, dtype) for k, v in sample.kwargs.items()}
    t_args = [to_torch(a, dtype) for a in sample.args]
    t_kwargs = {k: to_torch(v, dtype) for k, v in sample.kwargs.items()}
    ours = getattr(engine.F, row.name)(*e_args, **e_kwargs)
    theirs = torch_fn(row)(*t_args, **t_kwargs)
    return (ours, e_args, e_kwargs), (theirs, t_args, t_kwargs)


def to_np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy(force=True)  # force: torch may hand back a ZeroTensor
    return t.detach().numpy()


def assert_close(ours, theirs, rtol=1e-4, atol=1e-5, what=""):
    a, b = to_np(ours), to_np(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != torch {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)
