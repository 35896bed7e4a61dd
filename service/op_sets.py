"""The ops the service runs besides the op table's rows, named once for the two places that
share them: the ``source`` compiler (source.py), which emits them, and the workspace that
runs a node list (workspace.py). GET /ops describes them to clients (routes/ops.py)."""

from __future__ import annotations

from engine.ops.inplace import METHODS as INPLACE_VARIANTS

# In place: the table's variants (exp_, mul_, ...: rows with inplace) and the overwrites.
IN_PLACE = INPLACE_VARIANTS | {"zero_", "fill_"}
# Tensor methods, run as getattr(args[0], op)(*args[1:]); the SELF ones return args[0] itself.
TENSOR_METHODS = frozenset({
    "detach", "to", "float", "double", "long", "int", "bool", "half", "contiguous",
    "requires_grad_", "retain_grad"}) | IN_PLACE
SELF_METHODS = frozenset({"requires_grad_", "retain_grad"}) | IN_PLACE
# Every op the workspace runs itself rather than through a table row ("index" is both: the
# service reads its JSON index components, then calls the row). setitem_ and set_grad are the
# client SDKs' `x[i] = v` and `x.grad = v` (del x.grad: null); both bind the id to x itself.
PSEUDO = TENSOR_METHODS | {"T", "mT", "index", "assign", "getitem", "setitem_", "set_grad"}
