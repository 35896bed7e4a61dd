"""docs/api.md, the wire contract in words, agrees with openapi.json: every route of one is
in the other, and each field table of a route lists exactly its schema's fields."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "api.md").read_text()
SPEC = json.loads((ROOT / "openapi.json").read_text())
ROUTE = re.compile(r"`(GET|POST|PUT|DELETE|PATCH) (/[^`\s]*)`")
PAGES = {("GET", "/"), ("GET", "/docs"), ("GET", "/redoc"), ("GET", "/playground"),
         ("GET", "/openapi.json")}  # for people, outside the contract (the doc says so)


def spec_routes() -> set:
    return {(m.upper(), p) for p, ops in SPEC["paths"].items() for m in ops}


def sections() -> list[tuple[set, str]]:
    """(routes named in a ### heading, the section's text) per route section."""
    out = []
    for part in re.split(r"\n(?=### )", DOC)[1:]:
        heading, _, body = part.partition("\n")
        body = body.split("\n## ", 1)[0]
        out.append(({(m, p) for m, p in ROUTE.findall(heading)}, body))
    return out


def table(body: str, kind: str) -> set:
    """The backticked names in the first column of the `| <kind> field |` table."""
    m = re.search(rf"\| {kind} field \| meaning \|\n\| --- \| --- \|\n((?:\|.*\n?)+)", body)
    return set() if m is None else set(re.findall(r"^\| `([^`]+)` \|", m.group(1), re.M))


def schema_fields(ref_holder: dict | None) -> set:
    if not ref_holder:
        return set()
    schema = ref_holder.get("schema", {})
    refs = [schema.get("$ref")] + [s.get("$ref") for s in schema.get("anyOf", schema.get(
        "oneOf", []))]
    for ref in refs:
        if ref:
            props = SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]].get("properties")
            if props:
                return set(props)
    return set()


def test_every_route_of_the_spec_is_documented():
    documented = {r for r in ROUTE.findall(DOC)}
    missing = spec_routes() - documented
    assert not missing, f"docs/api.md does not describe {sorted(missing)}"


def test_every_documented_route_exists():
    unknown = {r for r in ROUTE.findall(DOC)} - spec_routes() - PAGES
    assert not unknown, f"docs/api.md names routes openapi.json lacks: {sorted(unknown)}"


@pytest.mark.parametrize("routes,body", sections(),
                         ids=[" ".join(sorted(p for _, p in r)) for r, _ in sections()])
def test_field_tables_match_the_schemas(routes, body):
    requested, answered = table(body, "request"), table(body, "answer")
    for method, path in routes:
        op = SPEC["paths"][path][method.lower()]
        body_schema = op.get("requestBody", {}).get("content", {}).get("application/json")
        want = schema_fields(body_schema)
        if requested or (want and method == "POST"):
            assert requested == want, (method, path, requested ^ want)
        ok = next((r for s, r in op["responses"].items() if s in ("200", "201")), {})
        got = schema_fields(ok.get("content", {}).get("application/json"))
        if answered:
            assert answered == got, (method, path, answered ^ got)


def test_node_fields_match_the_node_schema():
    nodes = table(DOC.split("## Graphs", 1)[1], "node")
    assert nodes == set(SPEC["components"]["schemas"]["Node"]["properties"])
