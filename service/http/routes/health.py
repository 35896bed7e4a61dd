"""Liveness, readiness and Prometheus metrics.

The probes run on the event loop and never wait for the worker threads: with every worker
busy computing to its time limit, /healthz still answers at once (a liveness probe that
queued behind them would have a healthy replica killed). /readyz asks the store from a
thread of its own, with a deadline, so a frozen Redis is a quick 503, not a hung probe.
They still take turns at the GIL with the workers: AUTOGRAD_PROBE_PORT serves them from a
process of their own as well (NOTE [probes outside the GIL] in operations/probes.py).
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Depends, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import RedirectResponse, Response

import engine

from ...operations.probes import READY_SECONDS, UNAVAILABLE
from ...schemas import Health, Ready
from ..bodies import owner
from ..errors import STORE, responses

router = APIRouter(tags=["operations"])
_probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readyz")
HEALTH = {"status": "ok", "torch_semantics": engine.TORCH_VERSION, "engine": engine.__version__}


@router.get("/", include_in_schema=False)
def root():
    """The service's address in a browser leads to its docs (the playground is linked there
    and printed in the startup log)."""
    return RedirectResponse("/docs", status_code=307)


@router.get("/healthz", summary="Liveness", response_model=Health)
async def healthz() -> dict:
    """The process answers; reports the torch version whose semantics it follows."""
    return HEALTH


@router.get("/readyz", summary="Readiness", response_model=Ready,
            responses={503: {"description": "Not ready"}})
async def readyz(request: Request):
    """Ready to serve: the session store answers (within two seconds)."""
    store = request.app.state.store
    if not store.ready_blocks:
        ready = store.ready()
    else:
        loop = asyncio.get_running_loop()
        try:
            ready = await asyncio.wait_for(loop.run_in_executor(_probe, store.ready),
                                           READY_SECONDS)
        except TimeoutError:
            ready = False
    if not ready:
        return Response(UNAVAILABLE, 503, media_type="application/json")
    return {"status": "ready"}


@router.get("/metrics", summary="Prometheus metrics",
            response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}},
                                                  **responses(401, STORE)})
def metrics(request: Request, key: str = Depends(owner)):
    """Requests, latency, sessions and bytes held, in Prometheus' text format. With API
    keys configured it needs one, as every route but the probes does: it shows every
    tenant's request counts and session totals."""
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
