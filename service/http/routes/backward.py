"""POST /backward: torch.autograd.backward over a graph or in a session."""

from fastapi import APIRouter, Request

from ...calls import backward_grad
from ...problems import bad
from ...schemas import BackwardRequest, BackwardResponse
from ..bodies import body_doc, owner, parse, respond, send
from ..errors import STORE, responses

router = APIRouter(tags=["compute"])
IDEMPOTENCY = ("In a session: a retry with the same key, on any replica, gets the first "
               "answer again (the same bytes) and accumulates nothing twice; the same key "
               "with a different body is a 422, a key whose answer is no longer kept "
               "(AUTOGRAD_IDEMPOTENCY_KEYS newer keys since, 256 by default) a 409.")
# The header is read by hand (as the API key is): FastAPI's dependency solving costs about
# a tenth of a small /backward. Documented here as FastAPI would have written it.
HEADER = {"name": "idempotency-key", "in": "header", "required": False,
          "description": IDEMPOTENCY,
          "schema": {"anyOf": [{"type": "string", "maxLength": 200}, {"type": "null"}],
                     "description": IDEMPOTENCY, "examples": ["3f1c0a52-retry-safe"],
                     "title": "Idempotency-Key"}}


@router.post("/backward", response_model=BackwardResponse,
             openapi_extra={**body_doc(BackwardRequest), "parameters": [HEADER]},
             responses=responses(400, 401, 404, 409, 413, 415, 422, 429, STORE),
             summary="torch.autograd.backward")
async def backward(request: Request):
    """Accumulate into `.grad` of the leaves (or of `inputs`) the vector-Jacobian product of
    `tensors` with `grad_tensors`, exactly as `torch.autograd.backward`. Without a session
    the workspace is forgotten, unless `retain_graph` or `create_graph` is true: then it is
    stored and the answer carries its `session`. With a `session`, `graph` nodes are appended
    first; when one fails, the nodes before it stay bound, as lines run in a Python session
    would. Hooks apply to this call only. After a walk without `retain_graph` the saved
    tensors it used are freed, and walking them again is a 409, exactly where PyTorch
    raises."""
    key = await owner(request)
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and len(idempotency_key) > 200:
        raise bad("header.idempotency-key: String should have at most 200 characters")
    req = await parse(request, BackwardRequest)
    out = await backward_grad.run_async(request.app.state, req, key, "backward", idempotency_key,
                                request.state.body_bytes)
    return send(out) if isinstance(out, dict) else respond(*out)
