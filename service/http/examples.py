"""Whole-request named examples of the POST routes, each with the answer it gets: the
README's graphs, examples of the seed tutorials, and errors (contract.py puts them in the
OpenAPI document; tests/test_openapi_examples.py sends each one, compares the answer with
the one written here and the gradients with torch's). Session ids and expiry times are
placeholders: those two differ on every call."""

from __future__ import annotations

import json
from pathlib import Path

# operation id -> example name -> the answer (data, written by scripts/example_answers.py)
ANSWERS = json.loads((Path(__file__).parent / "example_answers.json").read_text())

README_GRAPH = {"nodes": [
    {"id": "x", "op": "tensor", "data": [1, 2, 3], "requires_grad": True},
    {"id": "y", "op": "tensor", "data": [3, 4, 5], "requires_grad": True},
    {"id": "z", "op": "tensor", "data": [1, 2, 3], "requires_grad": True},
    {"id": "xy", "op": "add", "args": ["x", "y"]},
    {"id": "xy2", "op": "pow", "args": ["xy", 2]},
    {"id": "z3", "op": "pow", "args": ["z", 3]},
    {"id": "out", "op": "mul", "args": ["xy2", "z3"]}]}
_WXB = {"nodes": [
    {"id": "w", "op": "tensor", "data": 1.0, "requires_grad": True},
    {"id": "x", "op": "tensor", "data": 2.0, "requires_grad": True},
    {"id": "b", "op": "tensor", "data": 3.0, "requires_grad": True},
    {"id": "y", "op": "mul", "args": ["w", "x"]},
    {"id": "z", "op": "add", "args": ["y", "b"]}]}
_CUBE = "x = torch.tensor([0.5, 1.5], requires_grad=True)\ny = (x ** 3).sum()"
_SIN64 = {"nodes": [
    {"id": "x", "op": "tensor", "data": [0.1, 0.7, 1.3], "dtype": "float64",
     "requires_grad": True},
    {"id": "y", "op": "sin", "args": ["x"]},
    {"id": "out", "op": "mul", "args": ["y", "x"]}]}

# operation id -> example name -> (summary, request, status of the answer)
REQUESTS = {
    "backward": {
        "readme_graph": ("README: out = (x + y) ** 2 * z ** 3, backward with a vector, "
                         "retain_grad and the graph", {
                             "graph": README_GRAPH, "tensors": ["out"],
                             "grad_tensors": [[1, 1, 1]], "retain_grad": ["xy"],
                             "return_graph": True}, 200),
        "readme_source": ("README and seed 001_first_derivative: y = x ** 2 as source", {
            "source": "x = torch.Tensor([5])\nx.requires_grad = True\ny = x ** 2",
            "tensors": "y"}, 200),
        "readme_mean": ("README: z = (x * 2).mean(), with the graph", {
            "source": "x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)\ny = x * 2\n"
                      "z = y.mean()", "tensors": "z", "return_graph": True}, 200),
        "readme_retain_graph": ("README: z = w * x + b with retain_graph: the answer "
                                "carries a session", {
                                    "graph": _WXB, "tensors": "z", "retain_graph": True,
                                    "return_graph": True}, 200),
        "seed_backward_with_vector": ("Seed 001_backward_with_vector: z.backward(x), the "
                                      "seed a reference", {
                                          "source": "x = torch.Tensor([1, 2, 3])\n"
                                                    "x.requires_grad = True\n"
                                                    "y = torch.Tensor([4, 5, 6])\n"
                                                    "z = 2 * x + 3 * y",
                                          "tensors": "z", "grad_tensors": "x"}, 200),
        "error_non_scalar_root": ("Error: backward of a vector without a seed is PyTorch's "
                                  "422", {"graph": README_GRAPH, "tensors": ["out"]}, 422),
    },
    "grad": {
        "readme_create_graph": ("README: torch.autograd.grad with create_graph, the result "
                                "bound to dx in a session", {
                                    "source": _CUBE, "outputs": "y", "inputs": "x",
                                    "create_graph": True, "as": ["dx"]}, 200),
        "seed_autograd_grad": ("Seed 001_autograd_grad: grad of dot(x + y, z) with respect "
                               "to x and z", {
                                   "source": "x = torch.Tensor([1, 2, 3])\n"
                                             "y = torch.Tensor([3, 4, 5])\n"
                                             "z = torch.Tensor([1, 2, 3])\n"
                                             "x.requires_grad = True\n"
                                             "y.requires_grad = True\n"
                                             "z.requires_grad = True\n"
                                             "xy = x + y\nxyz = torch.dot(xy, z)",
                                   "outputs": "xyz", "inputs": ["x", "z"]}, 200),
        "error_unused_input": ("Seed 001_autograd_grad_unused: an input the output does not "
                               "use, without allow_unused, is PyTorch's 422", {
                                   "source": "x = torch.Tensor([1, 2, 3])\n"
                                             "y = torch.Tensor([3, 4, 5])\n"
                                             "x.requires_grad = True\n"
                                             "y.requires_grad = True\n"
                                             "out = (x * 2).sum()",
                                   "outputs": "out", "inputs": ["x", "y"]}, 422),
    },
    "gradcheck": {
        "sin_times_x": ("gradcheck of sin(x) * x in float64", {
            "graph": _SIN64, "inputs": ["x"], "outputs": ["out"]}, 200),
    },
    "gradgradcheck": {
        "sin_times_x": ("gradgradcheck of sin(x) * x in float64", {
            "graph": _SIN64, "inputs": ["x"], "outputs": ["out"]}, 200),
    },
    "functional_vjp": {
        "cube_sum": ("vjp of y = (x ** 3).sum() with v = 1", {
            "source": _CUBE, "inputs": "x", "outputs": "y", "v": 1.0}, 200),
    },
    "functional_jvp": {
        "cube_sum": ("jvp of y = (x ** 3).sum() along v", {
            "source": _CUBE, "inputs": "x", "outputs": "y", "v": [1.0, 0.0]}, 200),
    },
    "functional_jacobian": {
        "sin_times_x": ("Jacobian of sin(x) * x", {
            "graph": _SIN64, "inputs": "x", "outputs": "out"}, 200),
    },
    "functional_hessian": {
        "cube_sum": ("Hessian of y = (x ** 3).sum()", {
            "source": _CUBE, "inputs": "x", "outputs": "y"}, 200),
    },
    "functional_hvp": {
        "cube_sum": ("Hessian-vector product of y = (x ** 3).sum()", {
            "source": _CUBE, "inputs": "x", "outputs": "y", "v": [1.0, 1.0]}, 200),
    },
    "functional_vhp": {
        "cube_sum": ("Vector-Hessian product of y = (x ** 3).sum()", {
            "source": _CUBE, "inputs": "x", "outputs": "y", "v": [1.0, 1.0]}, 200),
    },
    "create_session": {
        "readme_wxb": ("README's z = w * x + b as a session, to call /backward on later", {
            "graph": _WXB}, 201),
        "error_unknown_reference": ("Error: a node that uses an id bound nowhere", {
            "graph": {"nodes": [{"id": "y", "op": "mul", "args": ["x", 2]}]}}, 422),
    },
}

# operation id -> example name -> {"summary", "request", "status", "response"}
EXAMPLES = {op: {name: {"summary": summary, "request": request, "status": status,
                        "response": ANSWERS.get(op, {}).get(name)}
                 for name, (summary, request, status) in named.items()}
            for op, named in REQUESTS.items()}


SESSION_ID, EXPIRES_AT = "s_3q2Zk9...", "2026-01-01T00:00:00Z"


def placeholders(answer: dict) -> dict:
    """An answer with its session's id and expiry time (new on every call) replaced by
    the placeholders the examples show."""
    if isinstance(answer.get("session"), dict):
        answer = {**answer, "session": {**answer["session"], "id": SESSION_ID,
                                        "expires_at": EXPIRES_AT}}
    return answer
