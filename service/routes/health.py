"""Liveness, readiness and Prometheus metrics."""

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import RedirectResponse, Response

import engine

from ..errors import STORE, responses
from ..schemas import Health, Ready

router = APIRouter(tags=["operations"])


@router.get("/", include_in_schema=False)
def root():
    """The service's address in a browser leads to its docs (the playground is linked there
    and printed in the startup log)."""
    return RedirectResponse("/docs", status_code=307)


@router.get("/healthz", summary="Liveness", response_model=Health)
def healthz() -> dict:
    """The process answers; reports the torch version whose semantics it follows."""
    return {"status": "ok", "torch_semantics": engine.TORCH_VERSION,
            "engine": engine.__version__}


@router.get("/readyz", summary="Readiness", response_model=Ready,
            responses={503: {"description": "Not ready"}})
def readyz(request: Request):
    """Ready to serve: the session store answers."""
    if not request.app.state.store.ready():
        return Response('{"status":"unavailable"}', 503, media_type="application/json")
    return {"status": "ready"}


@router.get("/metrics", summary="Prometheus metrics",
            response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}},
                                                  **responses(STORE)})
def metrics(request: Request):
    """Requests, latency, sessions and bytes held, in Prometheus' text format."""
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
