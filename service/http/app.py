"""The app factory: settings -> FastAPI app with routes, handlers, metrics and local docs."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
from pathlib import Path

from anyio import to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import engine

from ..operations.metrics import Metrics
from ..operations.probes import ProbeProcess
from ..sessions import REDIS_SCHEMES, make_store
from ..settings import Settings
from . import contract, errors
from .bodies import FastJSONResponse
from .quotas import RateLimiter, RedisRateLimiter, RequestIdMiddleware, install_log_ids
from .routes import backward, checks, functional, grad, health, ops, sessions

STATIC = Path(__file__).parent.parent / "static"  # service/static
DESCRIPTION = """PyTorch's `torch.autograd` semantics over HTTP (torch 2.13): POST a graph
and seed vectors, get gradients, `grad_fn` names, `next_functions` and PyTorch's own error
messages. Errors are RFC 9457 problem details. See the README for curl examples."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="autograd as a service", version=engine.__version__,
                  generate_unique_id_function=lambda route: route.name,
                  description=DESCRIPTION, default_response_class=FastJSONResponse,
                  docs_url=None, redoc_url=None, lifespan=_lifespan)
    app.state.settings = settings
    app.state.store = make_store(settings)
    app.state.metrics = Metrics(app.state.store)
    burst = settings.key_burst or math.ceil(2 * settings.key_requests_per_second)
    app.state.rate = (RedisRateLimiter(settings.store, settings.key_requests_per_second, burst)
                      if settings.store.startswith(REDIS_SCHEMES)
                      else RateLimiter(settings.key_requests_per_second, burst))
    install_log_ids()
    errors.install(app)
    app.add_middleware(app.state.metrics.middleware())
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"],
                           expose_headers=["Inference-Header-Content-Length", "X-Request-ID",
                                           "Retry-After"])
    app.add_middleware(RequestIdMiddleware)  # added last: outermost, sees every answer
    for module in (backward, grad, checks, functional, sessions, ops, health):
        app.include_router(module.router)
    _docs(app)
    _openapi(app)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    """Drop idle sessions in the background, so their memory goes back even when no new
    session is made."""
    async def sweep():
        while True:
            await asyncio.sleep(min(30.0, max(app.state.settings.session_ttl_seconds, 0.5)))
            app.state.store.stats()  # purges the expired ones

    # every run_in_threadpool and sync route shares anyio's default limiter
    to_thread.current_default_thread_limiter().total_tokens = app.state.settings.worker_threads
    if app.state.settings.gc_freeze:
        gc.collect()  # garbage first: what is frozen is never collected
        gc.freeze()
    tasks = [asyncio.create_task(sweep())]
    probes = None
    if app.state.settings.probe_port:  # NOTE [probes outside the GIL]
        probes = ProbeProcess(app.state.settings, health.HEALTH)
        await asyncio.to_thread(probes.start)
        tasks.append(asyncio.create_task(probes.beat()))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        if probes:
            probes.stop()


def _docs(app: FastAPI) -> None:
    """/docs and /redoc from vendored assets: they work offline."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title,
                                   swagger_js_url="/static/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger-ui.css",
                                   swagger_favicon_url="data:,")

    @app.get("/redoc", include_in_schema=False)
    def redoc():
        return get_redoc_html(openapi_url="/openapi.json", title=app.title,
                              redoc_js_url="/static/redoc.standalone.js",
                              redoc_favicon_url="data:,", with_google_fonts=False)

    @app.get("/playground", include_in_schema=False)
    def playground():
        """The playground page (static/playground/: plain HTML and JS, no CDN)."""
        return FileResponse(STATIC / "playground" / "index.html")


def _openapi(app: FastAPI) -> None:
    """FastAPI's document, completed by contract.py (built once, on first request)."""
    base = app.openapi

    def openapi():
        if not app.openapi_schema:
            app.openapi_schema = contract.complete(base())
        return app.openapi_schema

    app.openapi = openapi
