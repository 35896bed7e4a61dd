"""Small node lists the session tests share: ``s = (x * x).sum()`` (SQUARE, which saves x
for backward) and ``s = (x + 1).sum()`` (PLUS, which saves nothing), x = [1, 2]."""

SQUARE = [{"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True},
          {"id": "y", "op": "mul", "args": ["x", "x"]},
          {"id": "s", "op": "sum", "args": ["y"]}]
PLUS = [{"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True},
        {"id": "y", "op": "add", "args": ["x", 1]},
        {"id": "s", "op": "sum", "args": ["y"]}]
