"""The app factory: settings -> FastAPI app with routes, handlers, metrics and local docs."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import engine

from . import errors, schemas, wire
from .http import TENSOR_VALUE, FastJSONResponse
from .metrics import Metrics
from .quotas import RateLimiter, RedisRateLimiter, RequestIdMiddleware, install_log_ids
from .routes import backward, checks, functional, grad, health, ops, sessions
from .sessions import REDIS_SCHEMES, make_store
from .settings import Settings

STATIC = Path(__file__).parent / "static"
DESCRIPTION = """PyTorch's `torch.autograd` semantics over HTTP (torch 2.13): POST a graph
and seed vectors, get gradients, `grad_fn` names, `next_functions` and PyTorch's own error
messages. Errors are RFC 9457 problem details. See the README for curl examples."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="autograd as a service", version=engine.__version__,
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

    if app.state.settings.gc_freeze:
        gc.collect()  # garbage first: what is frozen is never collected
        gc.freeze()
    task = asyncio.create_task(sweep())
    try:
        yield
    finally:
        task.cancel()


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
    """Request bodies are read by hand (JSON or binary), so their models are added to the
    components here, with the Problem schema."""
    base = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        spec = base()
        comps = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in (schemas.BackwardRequest, schemas.GradRequest, schemas.SessionCreate,
                      schemas.GradcheckRequest, schemas.FunctionalRequest,
                      schemas.ProblemModel):
            js = model.model_json_schema(ref_template="#/components/schemas/{model}",
                                         mode="validation")
            comps.update(js.pop("$defs", {}))
            comps[js.get("title", model.__name__) if model is schemas.ProblemModel
                  else model.__name__] = js
        problem = {errors.PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for methods in spec["paths"].values():  # every error is problem+json, 422 included
            for op in methods.values():
                _binary_answer(op)
                for status, resp in op.get("responses", {}).items():
                    if status[0] in "45":
                        resp["content"] = problem
                        if status == "422":
                            resp["description"] = errors.DOCS[422]
        comps["TensorValue"] = TENSOR_VALUE
        comps.pop("HTTPValidationError", None)
        comps.pop("ValidationError", None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi


BINARY_ANSWER = {"schema": {"type": "string", "format": "binary", "description":
                            "With encoding 'binary' (Open Inference Protocol binary "
                            "extension): the first Inference-Header-Content-Length bytes are "
                            "the JSON answer, raw tensors follow in order."}}


def _binary_answer(op: dict) -> None:
    """Routes that take `encoding` (in a JSON/binary body or as a query parameter) may answer
    with the binary extension: document that content type beside JSON."""
    takes_encoding = ("x-binary-body" in op.get("requestBody", {})
                      and "PutResponse" not in str(op.get("responses"))
                      and "GradcheckResponse" not in str(op.get("responses"))
                      and "FunctionalResponse" not in str(op.get("responses")))
    takes_encoding |= any(p.get("name") == "encoding" for p in op.get("parameters", ()))
    if not takes_encoding:
        return
    for status, resp in op.get("responses", {}).items():
        if status[0] == "2" and "application/json" in resp.get("content", {}):
            resp["content"][wire.OCTET] = BINARY_ANSWER
