"""The Python SDK prints tensors with a copy of engine/printing.py (the client must not
import the server's packages); this pins the copy to the engine's: every function and
constant they share is the same code, and the client's repr is torch's on the cases of
test_printing.py."""

from __future__ import annotations

import ast
import os
import sys

import numpy as np
import pytest
import torch
from test_printing import CASES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from autograd_client._printing import tensor_repr  # noqa: E402

# The one function whose signature differs: the engine's reads a Tensor, the client's the
# array and the metadata of an answer.
ENTRY = "tensor_repr"
# The engine's alone, and why the client needs no copy.
ENGINE_ONLY = {"tangent_of": "forward AD's binding (a dual tensor's tangent): the SDK's "
                             "tensors have no tangent"}


def _definitions(path: str) -> dict[str, str]:
    with open(os.path.join(ROOT, path)) as f:
        tree = ast.parse(f.read())
    defs = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defs[node.name] = ast.dump(node)
        elif isinstance(node, ast.Assign):
            defs[ast.unparse(node.targets[0])] = ast.dump(node)
    return defs


def test_client_printing_is_the_engines():
    engine_defs = _definitions("engine/printing.py")
    client_defs = _definitions("clients/python/autograd_client/_printing.py")
    assert set(engine_defs) - set(ENGINE_ONLY) == set(client_defs)
    drifted = [name for name in client_defs
               if name != ENTRY and engine_defs[name] != client_defs[name]]
    assert not drifted, f"clients/python/autograd_client/_printing.py differs in {drifted}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_client_repr_matches_torch(name):
    arr = CASES[name]
    t = torch.tensor(arr)
    assert tensor_repr(arr, str(t.dtype).removeprefix("torch."), None, False) == repr(t)
    if arr.dtype.kind == "f" and arr.dtype != np.float16:
        t = torch.tensor(arr, requires_grad=True)
        assert tensor_repr(arr, str(t.dtype).removeprefix("torch."), None, True) == repr(t)
        y = t * 2
        assert tensor_repr(y.detach().numpy(), str(y.dtype).removeprefix("torch."),
                           type(y.grad_fn).__name__, True) == repr(y)
