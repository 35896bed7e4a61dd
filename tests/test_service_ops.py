"""Operations endpoints, offline docs, the published OpenAPI document, and the CLI."""

import json
import os
import subprocess
import sys

import torch

from engine.ops import OVERLOADS

pytest_plugins = ["support.service_server"]  # the fixtures: a live server (api, server_url)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_healthz_reports_torch_semantics(api):
    r = api.get("/healthz")
    assert r.status_code == 200
    assert r.json()["torch_semantics"] == "2.13.0"
    assert torch.__version__.startswith(r.json()["torch_semantics"])
    assert api.get("/readyz").json() == {"status": "ready"}


def test_ops_lists_the_table(api):
    ops = {o["name"]: o for o in api.get("/ops").json()["ops"]}
    assert set(ops) == {n for n in OVERLOADS if not n.startswith("_")}
    add = ops["add"]["overloads"][0]
    assert add["schema"].startswith("add") and add["grad_fn"] == "AddBackward0"
    assert add["differentiable"] and add["twice_differentiable"]
    assert ops["zeros"]["overloads"][0]["creation"]


def test_metrics(api):
    api.get("/healthz")
    api.post("/sessions", json={"graph": {"nodes": [
        {"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True}]}})
    text = api.get("/metrics").text
    assert 'autograd_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "autograd_request_seconds_bucket" in text
    assert "autograd_sessions " in text and "autograd_session_bytes " in text


def test_docs_served_with_local_assets(api):
    for page, asset in [("/docs", "/static/swagger-ui-bundle.js"),
                        ("/redoc", "/static/redoc.standalone.js")]:
        html = api.get(page).text
        assert asset in html
        assert "cdn." not in html and "unpkg" not in html and "fonts.googleapis" not in html
        r = api.get(asset)
        assert r.status_code == 200 and len(r.content) > 100_000
    assert api.get("/static/swagger-ui.css").status_code == 200


def test_openapi_json_is_current(api):
    """openapi.json is regenerated with `python -m service.http.openapi > openapi.json`."""
    with open(os.path.join(ROOT, "openapi.json")) as f:
        published = json.load(f)
    assert api.get("/openapi.json").json() == published, (
        "openapi.json drifted from the app: run `python -m service.http.openapi > openapi.json`")


def test_openapi_fields_documented():
    with open(os.path.join(ROOT, "openapi.json")) as f:
        spec = json.load(f)
    missing = []
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            if "description" not in prop or "examples" not in prop:
                missing.append(f"{name}.{field}")
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            for param in op.get("parameters", []):
                if "description" not in param or "examples" not in param["schema"]:
                    missing.append(f"{method} {path} {param['name']}")
            assert any(s[0] in "45" for s in op["responses"]) or path in (
                "/healthz", "/metrics", "/ops"), f"{method} {path} lists no errors"
            for status, resp in op["responses"].items():
                if status[0] in "45" and status != "503":
                    assert "application/problem+json" in resp["content"], (path, status)
    assert not missing, missing


def test_cli_refuses_workers_with_memory_store():
    env = {**os.environ, "PYTHONPATH": ROOT, "AUTOGRAD_STORE": "memory"}
    r = subprocess.run([sys.executable, "-m", "service", "--workers", "2"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "AUTOGRAD_STORE=redis://" in r.stderr


def test_cors_off_by_default_and_on_when_configured(api):
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    r = api.options("/backward", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    import httpx
    from support.service_server import running_server
    with running_server({"AUTOGRAD_CORS_ORIGINS": "https://app.example"}) as url:
        r = httpx.options(url + "/backward", headers=pre)
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        r = httpx.options(url + "/backward", headers={**pre, "Origin": "https://evil.example"})
        assert r.headers.get("access-control-allow-origin") != "https://evil.example"


def test_cli_refuses_unknown_store():
    env = {**os.environ, "PYTHONPATH": ROOT, "AUTOGRAD_STORE": "nonsense"}
    r = subprocess.run([sys.executable, "-m", "service"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "AUTOGRAD_STORE" in r.stderr


def test_store_routes_document_503_with_retry_after():
    """Every route that reads or writes the session store may answer 503 (store
    unreachable, restarting or full) with Retry-After: the spec says so for each."""
    with open(os.path.join(ROOT, "openapi.json")) as f:
        spec = json.load(f)
    for path, methods in spec["paths"].items():
        if path in ("/ops", "/healthz"):  # never touch the store
            continue
        for method, op in methods.items():
            assert "503" in op["responses"], f"{method} {path} does not list 503"
            if path == "/readyz":  # readiness answers 503 with its own body
                continue
            for status in ("429", "503"):
                if status in op["responses"]:
                    assert "Retry-After" in op["responses"][status].get("headers", {}), (
                        f"{method} {path}: {status} without Retry-After")
