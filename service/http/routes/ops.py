"""GET /ops: the op table, as clients need it."""

from functools import lru_cache

from fastapi import APIRouter, Depends

from engine.ops import OVERLOADS

from ...schemas import OpsResponse
from ..bodies import owner
from ..errors import responses

router = APIRouter(tags=["operations"])
PSEUDO_OPS = {
    "tensor": "a leaf from data: {\"op\": \"tensor\", \"data\": ..., \"requires_grad\": true}",
    "detach": "x.detach(): cuts the graph",
    "requires_grad_": "x.requires_grad_(flag): args [id, bool]; the id binds x itself",
    "retain_grad": "x.retain_grad(): args [id]; the id binds x itself",
    "to": "x.to(dtype): args [id, dtype name]",
    "float, double, long, int, bool, half, contiguous": "x.float() ...: args [id]",
    "<op>_, zero_, fill_": "in place on x (torch's version counter moves): args [id, ...]; "
    "the id binds x itself; <op>_ for every op with an overload marked inplace (exp_, mul_, "
    "clamp_, ...)",
    "T": "x.T: args [id]",
    "mT": "x.mT: args [id]",
    "index": "x[...]: args [id, [components]]; a component is an int, bool, null, \"...\", "
    "{\"slice\": [start, stop, step]}, a nested list of ints/bools, or an id (a tensor index)",
    "assign": "y = x: args [id]; binds the same tensor (or multi-output result)",
    "getitem": "an item of a multi-output result: args [id, k]",
    "setitem_": "x[...] = value, in place (CopySlices or IndexPutBackward0, as torch records "
    "it): args [id, [components], value]; components as for index; the id binds x itself",
    "set_grad": "x.grad = value (null: del x.grad), with torch's checks: args [id, value or "
    "null]; the id binds x itself",
}


@lru_cache(maxsize=1)
def _table() -> dict:
    ops = []
    for name in sorted(OVERLOADS):
        if name.startswith("_"):
            continue
        rows = OVERLOADS[name]
        ops.append({
            "name": name,
            "overloads": [{"schema": r.schema, "grad_fn": r.grad_fn,
                           "differentiable": bool(r.vjp) or r.composite,
                           "twice_differentiable": r.twice_differentiable and (
                               bool(r.vjp) or r.composite),
                           "creation": r.creation,
                           "inplace": r.inplace,
                           # a composite's primitives carry the tangents
                           "forward_ad": r.jvp is not None or r.composite} for r in rows],
        })
    return {"ops": ops, "pseudo_ops": PSEUDO_OPS}


@router.get("/ops", summary="The op table", response_model=OpsResponse,
            response_model_by_alias=True, responses=responses(401))
async def list_ops(key: str = Depends(owner)) -> dict:
    """Every op with its overloads (native_functions.yaml schema strings), the grad_fn name
    PyTorch shows, and whether it is differentiable twice; plus the pseudo-ops."""
    return _table()
