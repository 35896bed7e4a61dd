"""POST /grad: torch.autograd.grad over a graph or in a session."""

from fastapi import APIRouter, Request

from ...calls import backward_grad
from ...schemas import GradRequest, GradResponse
from ..bodies import body_doc, owner, parse, respond
from ..errors import STORE, responses

router = APIRouter(tags=["compute"])


@router.post("/grad", response_model=GradResponse, openapi_extra=body_doc(GradRequest),
             responses=responses(400, 401, 404, 409, 413, 415, 422, 429, STORE),
             summary="torch.autograd.grad")
async def grad(request: Request):
    """The vector-Jacobian product of `outputs` with `grad_outputs` for each of `inputs`, as
    `torch.autograd.grad`; accumulates nothing into `.grad`. `as` binds the results to ids
    in the session, so that a `create_graph` result can be differentiated again."""
    key = await owner(request)  # by hand, not Depends: see routes/backward.py
    req = await parse(request, GradRequest)
    payload, encoder = await backward_grad.run_async(request.app.state, req, key, "grad",
                                             body_bytes=request.state.body_bytes)
    return respond(payload, encoder)
