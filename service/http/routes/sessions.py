"""Sessions: stored workspaces (named tensors, the graph between them, leaf .grad)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...budget import Budget
from ...calls.backward_grad import graph_nodes, log_nodes
from ...problems import bad
from ...run import content, graph_pictures, retained
from ...run.workspace import REF, Workspace
from ...schemas import PictureOut, PutResponse, SessionCreate, SessionResponse, TensorOut
from ...sessions.replay import room
from ...wire import codec
from ..bodies import body_doc, owner, parse, respond, tensor_body_doc
from ..errors import STORE, responses

router = APIRouter(prefix="/sessions", tags=["sessions"])
SID = Path(description="The session id (from POST /sessions or a retained /backward).",
           examples=["s_3q2Zk9..."])
NAME = Path(description="A tensor id of the session (GET also takes 'x.grad').",
            examples=["x"])
Encoding = Query("list", description="How tensors are written.", examples=["list"])


def answer(session, settings, encoder: codec.Encoder, saved: bool = False) -> dict:
    """A session's answer (SessionResponse): the session, its leaves' .grad, its graph and
    graph_hash; with ``saved``, also ``memory``: what its retained graphs saved."""
    out = {"session": session.info(), "grads": session.ws.leaf_grads(encoder),
           "graph": session.ws.graph()}
    if saved:
        out["memory"] = retained.report(session.ws)
    out["graph_hash"] = content.session_hash(session, settings)
    return out


@router.post("", response_model=SessionResponse, status_code=201,
             openapi_extra=body_doc(SessionCreate),
             responses=responses(400, 401, 413, 415, 422, 429, STORE), summary="Create a session")
async def create(request: Request, key: str = Depends(owner)):
    """Build a graph and store it; answers `{"session", "graph"}`."""
    req = await parse(request, SessionCreate)

    def work():
        state = request.app.state
        ws = Workspace()
        nodes = graph_nodes(req, state.settings)
        ws.add_nodes(nodes, Budget(state.settings))
        session = state.store.create(key, ws)
        session.record("nodes", nodes=log_nodes(nodes))
        state.store.update(session)  # publishes the log where the store is shared
        encoder = codec.Encoder(req.encoding)
        return answer(session, state.settings, encoder), encoder

    payload, encoder = await run_in_threadpool(work)
    return respond(payload, encoder, 201)


@router.get("/{sid}", response_model=SessionResponse, responses=responses(401, 404, STORE),
            summary="Read a session")
def read(request: Request, sid: str = SID, key: str = Depends(owner),
         encoding: Literal["list", "base64", "binary"] = Encoding):
    """`{"session", "grads", "graph", "memory"}`, with `grads` as in /backward and `memory`
    listing, per node, the tensors it saved for backward and their bytes."""
    session = request.app.state.store.get(sid, key)
    with session.lock:
        encoder = codec.Encoder(encoding)
        payload = answer(session, request.app.state.settings, encoder, saved=True)
    return respond(payload, encoder)


@router.post("/{sid}/free", response_model=SessionResponse,
             responses=responses(401, 404, 413, STORE), summary="Free the retained graph")
def free(request: Request, sid: str = SID, key: str = Depends(owner)):
    """Free the saved tensors of every retained graph of the session now, as a backward
    without retain_graph would: a later backward through them is PyTorch's 409."""
    store = request.app.state.store
    session = store.get(sid, key)
    with session.lock:
        room(session, request.app.state.settings)
        retained.free(session.ws)
        session.record("free")
        session.graph_retained = False
        store.update(session)
        encoder = codec.Encoder()
        payload = answer(session, request.app.state.settings, encoder, saved=True)
    return respond(payload, encoder)


@router.delete("/{sid}", status_code=204, responses=responses(401, 404, STORE),
               summary="End a session")
def delete(request: Request, sid: str = SID, key: str = Depends(owner)):
    request.app.state.store.delete(sid, key)
    return None


@router.post("/{sid}/zero_grad", response_model=SessionResponse,
             responses=responses(401, 404, 413, STORE), summary="Zero the gradients")
def zero_grad(request: Request, sid: str = SID, key: str = Depends(owner)):
    """Set `.grad` of every tensor of the session to None (optimizer.zero_grad())."""
    store = request.app.state.store
    session = store.get(sid, key)
    with session.lock:
        room(session, request.app.state.settings)
        session.ws.zero_grad()
        session.record("zero_grad")
        store.update(session)
        encoder = codec.Encoder()
        payload = answer(session, request.app.state.settings, encoder)
    return respond(payload, encoder)


@router.get("/{sid}/graph", responses={
    **responses(401, 404, 406, 413, STORE),
    200: {"description": "The drawing: DOT text, SVG, or the drawing as data (JSON).",
          "content": {graph_pictures.MEDIA["dot"]: {"schema": {"type": "string"},
                                                "example": "digraph autograd {...}"},
                      graph_pictures.MEDIA["svg"]: {"schema": {"type": "string"},
                                                "example": "<svg ...>...</svg>"}}}},
    response_model=PictureOut, summary="Draw the graph")
def draw_graph(request: Request, sid: str = SID, key: str = Depends(owner),
               format: Literal["dot", "svg", "json"] = Query(
                   "json", description="dot (Graphviz source), svg (drawn by Graphviz on the "
                   "server; 406 when it is not installed) or json (the drawing as data).",
                   examples=["svg"])):
    """The session's graph drawn like torchviz: one box per grad_fn and per leaf (id and
    shape), edges along next_functions, and the 2-norm of each known gradient (leaves'
    .grad, retained grads)."""
    session = request.app.state.store.get(sid, key)
    if format == "svg" and (missing := graph_pictures.svg_missing()) is not None:
        raise missing
    with session.lock:
        pic = graph_pictures.picture(session.ws)
    if format == "json":
        return respond(pic, codec.Encoder())
    dot = graph_pictures.to_dot(pic)
    text = dot if format == "dot" else graph_pictures.to_svg(dot)  # Graphviz runs unlocked
    return Response(text, media_type=graph_pictures.MEDIA[format])


@router.get("/{sid}/tensors/{name}", response_model=TensorOut,
            responses=responses(401, 404, 422, STORE),
            summary="Read a tensor")
def get_tensor(request: Request, sid: str = SID, name: str = NAME,
               key: str = Depends(owner),
               encoding: Literal["list", "base64", "binary"] = Encoding):
    """The value of `name` (or `name.grad`) as a response tensor."""
    session = request.app.state.store.get(sid, key)
    with session.lock:
        t = session.ws.ref(name, "name")
        encoder = codec.Encoder(encoding)
        payload = encoder.tensor(t)
    return respond(payload, encoder)


@router.put("/{sid}/tensors/{name}", response_model=PutResponse,
            responses=responses(400, 401, 404, 413, 415, 422, STORE),
            openapi_extra=tensor_body_doc(),
            summary="Replace a tensor's data in place")
async def put_tensor(request: Request, sid: str = SID, name: str = NAME,
                     key: str = Depends(owner)):
    """Write new data into `name` in place, under no_grad (an optimizer step done by the
    client). The version counter moves, so a retained graph that saved the old value fails
    on its next backward exactly as PyTorch does."""
    state = request.app.state
    value = await parse(request, None, lenient=True)
    if not REF.match(name) or name.endswith(".grad"):
        raise bad(f"{name!r} is not an id")

    def work():
        session = state.store.get(sid, key)
        with session.lock:
            room(session, state.settings)
            t = session.ws.ref(name, "name")
            explicit = isinstance(value, (dict, codec.RawTensor))
            new = codec.decode(value, Budget(state.settings),
                              None if explicit else wire_dtype(t))
            session.record("put", name=name, value=np.array(new))  # its own copy
            session.ws.put(name, new)
            state.store.update(session)
            encoder = codec.Encoder()
            return {"session": session.info(), "tensor": encoder.tensor(t),
                    "graph_hash": content.session_hash(session, state.settings)}, encoder

    payload, encoder = await run_in_threadpool(work)
    return respond(payload, encoder)


def wire_dtype(t) -> str | None:
    name = "bool" if t.array.dtype == np.bool_ else str(t.array.dtype)
    return name if name in codec.DTYPES else None
