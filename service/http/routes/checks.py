"""POST /gradcheck and /gradgradcheck."""

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ...calls.gradcheck import run as run_check  # gradcheck: a route (its operation id)
from ...schemas import GradcheckRequest, GradcheckResponse
from ...wire.codec import Encoder
from ..bodies import body_doc, owner, parse, respond
from ..errors import STORE, responses

router = APIRouter(tags=["checks"])


@router.post("/gradcheck", response_model=GradcheckResponse,
             openapi_extra=body_doc(GradcheckRequest),
             responses=responses(400, 401, 404, 413, 415, 422, 429, STORE),
             summary="torch.autograd.gradcheck")
async def gradcheck(request: Request, key: str = Depends(owner)):
    """torch.autograd.gradcheck (slow mode) on the graph as a function of `inputs` to
    `outputs`: analytical Jacobians against float64 central differences. A failure is a 200
    with `ok: false`, torch's message, and both Jacobians with the worst entry."""
    req = await parse(request, GradcheckRequest)
    payload = await run_in_threadpool(run_check, request.app.state, req, False, key)
    return respond(payload, Encoder("list"))


@router.post("/gradgradcheck", response_model=GradcheckResponse,
             openapi_extra=body_doc(GradcheckRequest),
             responses=responses(400, 401, 404, 413, 415, 422, 429, STORE),
             summary="torch.autograd.gradgradcheck")
async def gradgradcheck(request: Request, key: str = Depends(owner)):
    """torch.autograd.gradgradcheck: gradcheck of the function (inputs, grad_outputs) ->
    gradients (with create_graph), with random grad_outputs in [-1, 1) drawn from `seed`."""
    req = await parse(request, GradcheckRequest)
    payload = await run_in_threadpool(run_check, request.app.state, req, True, key)
    return respond(payload, Encoder("list"))
