"""POST /functional/{vjp,jvp,jacobian,hessian,hvp,vhp}: torch.autograd.functional over the
client's graph, seen as a function of the ``inputs`` ids to the ``outputs`` ids.

The function replays the node list with the ``inputs`` ids bound to the arguments (as
/gradcheck does), so torch.autograd.functional's own code (engine/functional.py) runs on
it unchanged: same argument checks, strict-mode texts and result structures. Inputs and
outputs are always passed as tuples, so Jacobians and Hessians come back as one tensor per
(output, input) pair with PyTorch's shapes.

Forward AD (engine/forward_ad.py) computes jacobian/hessian with strategy="forward-mode"
(as torch does) and jvp when strict is off (torch's own jvp uses the double-backward
trick; the values are the same, and strict mode keeps torch's trick and its checks).
"""

from __future__ import annotations

import numpy as np

from engine import Tensor
from engine import functional as AF
from engine.errors import AutogradError

from ..budget import Budget
from ..problems import Problem, bad, limit
from ..run import content
from ..run.compute import _dtype_name
from ..run.workspace import ARGUMENT_ERRORS
from ..wire.codec import Encoder, RawTensor, decode
from .backward_grad import log_nodes
from .gradcheck import _names, _Replay, function_nodes

KINDS = ("vjp", "jvp", "jacobian", "hessian", "hvp", "vhp")
SCALAR = ("hessian", "hvp", "vhp")  # torch requires a single one-element output
# a Jacobian costs one backward per output element (a Hessian one per input element, twice)
MAX_ROWS = 4096


def _v(raw, like: list[Tensor], budget) -> tuple | None:
    """v: one tensor value per entry; with a single entry, the value itself may be sent."""
    if raw is None:
        return None
    if len(like) == 1 and not (isinstance(raw, list) and len(raw) == 1 and (
            isinstance(raw[0], (dict, RawTensor)) or _depth(raw) > like[0].ndim)):
        raw = [raw]
    if not isinstance(raw, list):
        raise bad("v: expected one tensor value per entry (a list)")
    if len(raw) != len(like):
        raise bad(f"v is a tuple of invalid length: should be {len(like)} but got {len(raw)}.")
    out = []
    for value, t in zip(raw, like):
        explicit = isinstance(value, (dict, RawTensor))
        out.append(Tensor._make(decode(value, budget, None if explicit else _dtype_name(t))))
    return tuple(out)


def _depth(value) -> int:
    d = 0
    while isinstance(value, list) and value:
        value, d = value[0], d + 1
    return d


def run(state, req, kind: str, owner: str = "") -> dict:
    settings = state.settings
    budget = Budget(settings)
    input_names = _names(req.inputs, "inputs")
    output_names = _names(req.outputs, "outputs")
    if kind in SCALAR and len(output_names) != 1:
        raise bad(f"outputs: {kind} needs exactly one (one-element) output")
    nodes, first = function_nodes(state, req, owner, budget, input_names)
    inputs = tuple(Tensor._make(np.array(first.ref(n, "inputs").array)) for n in input_names)
    outs0 = [first.ref(n, "outputs") for n in output_names]
    n_in, n_out = sum(t.numel() for t in inputs), sum(t.numel() for t in outs0)
    rows = {"jacobian": n_out if req.strategy == "reverse-mode" else n_in,
            "hessian": 2 * n_in}.get(kind, 2)
    if rows > MAX_ROWS:
        raise limit("functional_rows", rows, MAX_ROWS)

    def func(*tensors):
        ws = _Replay(dict(zip(input_names, tensors)))
        ws.add_nodes(nodes, budget)
        outs = tuple(ws.ref(n, "outputs") for n in output_names)
        return outs[0] if kind in SCALAR else outs

    kw = {"create_graph": req.create_graph, "strict": req.strict}
    try:
        with budget.guarding():  # every op of every evaluation (NOTE [allocation guard])
            if kind in ("jacobian", "hessian"):
                kw["vectorize"] = req.vectorize
                if kind == "jacobian":
                    kw["strategy"] = req.strategy
                else:
                    kw["outer_jacobian_strategy"] = req.strategy
                matrix = getattr(AF, kind)(func, inputs, **kw)
                return {kind: _matrix(matrix),
                        "graph_hash": content.graph_hash([log_nodes(nodes)], settings)}
            v = _v(req.v, outs0 if kind == "vjp" else list(inputs), budget)
            if kind == "jvp" and not req.strict and not req.create_graph:
                # forward AD (dual levels are per thread): torch's values, no double backward
                value, result = AF._jvp_by_forward_ad(func, inputs, v=v)
            else:  # strict mode's checks are those of torch's double-backward trick
                value, result = getattr(AF, kind)(func, inputs, v=v, **kw)
    except (Problem, AutogradError):
        raise
    except (RuntimeError, AssertionError, NotImplementedError) as e:
        raise bad(str(e)) from None
    except ARGUMENT_ERRORS as e:
        raise bad(f"{kind}: the graph could not be differentiated ({type(e).__name__}: "
                  f"{e})") from None
    enc = Encoder("list")
    values = value if isinstance(value, tuple) else (value,)
    return {"func_output": [enc.tensor(t) for t in values],
            kind: [enc.tensor(t) for t in result],
            "graph_hash": content.graph_hash([log_nodes(nodes)], settings)}


def _matrix(m) -> list:
    enc = Encoder("list")
    return [[enc.tensor(t) for t in row] for row in m]
