"""POST /functional/{vjp,jvp,jacobian,hessian,hvp,vhp}: torch.autograd.functional."""

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ...calls import autograd_functional
from ...schemas import FunctionalRequest, FunctionalResponse
from ...wire.codec import Encoder
from ..bodies import body_doc, owner, parse, respond
from ..errors import STORE, responses

router = APIRouter(tags=["functional"])

DOCS = {
    "vjp": "(func(inputs), v^T J): one tensor per input.",
    "jvp": "(func(inputs), J v): one tensor per output.",
    "jacobian": "The Jacobian: one tensor per (output, input) pair, shaped output.shape + "
                "input.shape.",
    "hessian": "The Hessian of a one-element output: one tensor per (input, input) pair.",
    "hvp": "(func(inputs), H v) for a one-element output.",
    "vhp": "(func(inputs), v^T H) for a one-element output.",
}


def _route(kind: str):
    async def handler(request: Request, key: str = Depends(owner)):
        req = await parse(request, FunctionalRequest)
        payload = await run_in_threadpool(autograd_functional.run, request.app.state, req, kind, key)
        return respond(payload, Encoder("list"))

    handler.__name__ = f"functional_{kind}"
    handler.__doc__ = (f"torch.autograd.functional.{kind} on the graph as a function of "
                       f"`inputs` to `outputs`. {DOCS[kind]}")
    router.post(f"/functional/{kind}", response_model=FunctionalResponse,
                response_model_exclude_none=True, openapi_extra=body_doc(FunctionalRequest),
                responses=responses(400, 401, 404, 413, 415, 422, 429, STORE),
                summary=f"torch.autograd.functional.{kind}")(handler)


for _kind in autograd_functional.KINDS:
    _route(_kind)
