"""Schemathesis against our own published openapi.json, over HTTP to the live server:
every generated request (bounded: 25 examples per operation) gets an answer that is not a
5xx and that matches the documented status codes, content types and response schemas."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from support.service_server import running_server

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import checks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
schema = schemathesis.openapi.from_path(ROOT / "openapi.json")

CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance,
          checks.response_headers_conformance]


@pytest.fixture(scope="module")
def live_url():
    # its own server, small body limit: generated bodies never need more
    with running_server({"AUTOGRAD_COMPUTE_SECONDS": "5"}) as url:
        yield url


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_openapi_contract(case, live_url):
    case.call_and_validate(base_url=live_url, checks=CHECKS, timeout=30)
