"""Request bodies the service benchmarks share (service.py, load.py)."""

# The seed's 7-node graph (../shared/design/api.md's example), through /backward.
SMALL = {"graph": {"nodes": [
    {"id": "x", "op": "tensor", "data": [1, 2, 3], "requires_grad": True},
    {"id": "y", "op": "tensor", "data": [3, 4, 5], "requires_grad": True},
    {"id": "z", "op": "tensor", "data": [1, 2, 3], "requires_grad": True},
    {"id": "xy", "op": "add", "args": ["x", "y"]}, {"id": "xy2", "op": "pow", "args": ["xy", 2]},
    {"id": "z3", "op": "pow", "args": ["z", 3]}, {"id": "out", "op": "mul", "args": ["xy2", "z3"]}]},
    "tensors": "out", "grad_tensors": [[1, 1, 1]]}
