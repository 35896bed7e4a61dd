"""The published contract (openapi.json): Redocly's recommended rules pass with no error;
tensor fields, arguments, seeds and next_functions are typed; keys, servers, license and
operation ids are declared; no x- extension carries the contract and no 200 answer has a
second (binary) content type. Every named example is sent to a live server: the answer is
the documented one, and its gradients (and errors) are torch's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import httpx
import pytest
import torch
from support.service_server import ROOT, server_url, torch_build, torch_meta  # noqa: F401

from service.http.examples import EXAMPLES, placeholders

REDOCLY = os.path.join(ROOT, "tests", "js", "node_modules", ".bin", "redocly")
REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def spec() -> dict:
    with open(os.path.join(ROOT, "openapi.json")) as f:
        return json.load(f)


def test_redocly_recommended_rules_pass(spec):
    if not os.path.exists(REDOCLY) or shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("@redocly/cli is not installed (cd tests/js && npm ci)")
        pytest.skip("@redocly/cli is not installed (cd tests/js && npm ci)")
    env = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}
    run = subprocess.run([REDOCLY, "lint", "openapi.json", "--format=json",
                          "--extends=recommended"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env=env)
    report = json.loads(run.stdout[run.stdout.index("{"):])
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert not errors, json.dumps(errors, indent=1)[:4000]
    assert report["totals"]["errors"] == 0 and run.returncode == 0, run.stderr[-2000:]


def _ref(schema: dict) -> str | None:
    return schema.get("$ref", "").removeprefix(REF) or None


def test_tensor_fields_reference_typed_schemas(spec):
    s = spec["components"]["schemas"]
    node = s["Node"]["properties"]
    assert _ref(node["data"]) == "TensorValue"
    assert _ref(node["args"]["items"]) == "Argument"
    assert _ref(node["kwargs"]["additionalProperties"]) == "Argument"
    assert _ref(s["BackwardRequest"]["properties"]["grad_tensors"]) == "Seeds"
    assert _ref(s["GradRequest"]["properties"]["grad_outputs"]) == "Seeds"
    assert _ref(s["FunctionalRequest"]["properties"]["v"]) == "Seeds"
    assert _ref(s["TensorOut"]["properties"]["data"]) == "TensorElements"
    assert _ref(s["NodeInfo"]["properties"]["next_functions"]["anyOf"][0]["items"]) == \
        "NextFunction"
    grads = s["BackwardResponse"]["properties"]["grads"]["additionalProperties"]["anyOf"]
    assert _ref(grads[0]) == "TensorOut"
    forms = [_ref(f) for f in s["TensorValue"]["anyOf"]]
    assert forms == ["Scalar", "NestedList", "TensorData", "TensorBase64", "BinaryTensor"]
    for name in forms[2:]:  # the object forms: exact keys
        assert s[name]["type"] == "object" and s[name]["additionalProperties"] is False
    assert s["TensorBase64"]["required"] == ["dtype", "shape", "b64"]
    assert s["BinaryTensor"]["required"] == ["dtype", "shape", "binary_data_size"]
    put = spec["paths"]["/sessions/{sid}/tensors/{name}"]["put"]["requestBody"]
    assert _ref(put["content"]["application/json"]["schema"]) == "TensorValue"


def _walk(node):
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def test_security_servers_license_operation_ids(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header",
                                 "name": "X-API-Key"}
    assert schemes["Bearer"]["type"] == "http" and schemes["Bearer"]["scheme"] == "bearer"
    assert {"ApiKey": []} in spec["security"] and {"Bearer": []} in spec["security"]
    assert spec["servers"] and spec["info"]["license"]["name"]
    ids = [op["operationId"] for methods in spec["paths"].values() for op in methods.values()]
    assert len(set(ids)) == len(ids)
    assert "backward" in ids and "create_session" in ids
    assert not any(i.endswith(("_post", "_get", "_put", "_delete")) for i in ids), ids
    for path, methods in spec["paths"].items():  # open routes say so; keyed ones inherit
        for op in methods.values():
            assert ("security" in op) == ("401" not in op["responses"]), path


def test_no_extension_contract_and_one_json_answer(spec):
    extensions = [k for node in _walk(spec) for k in node if k.startswith("x-")]
    assert not extensions, extensions
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            for status, resp in op["responses"].items():
                if status[0] == "2":
                    assert "application/octet-stream" not in resp.get("content", {}), (
                        method, path, status)
    binary = spec["components"]["requestBodies"]["BinaryRequest"]["content"]
    assert _ref(binary["application/octet-stream"]["schema"]) == "BinaryBody"
    answer = spec["components"]["responses"]["BinaryAnswer"]
    assert "Inference-Header-Content-Length" in answer["headers"]
    backward = spec["paths"]["/backward"]["post"]["responses"]["200"]
    assert "Inference-Header-Content-Length" in backward["headers"]


# ----------------------------------------------------------------------- named examples

PATHS = {"backward": "/backward", "grad": "/grad", "gradcheck": "/gradcheck",
         "gradgradcheck": "/gradgradcheck", "create_session": "/sessions",
         **{f"functional_{k}": f"/functional/{k}"
            for k in ("vjp", "jvp", "jacobian", "hessian", "hvp", "vhp")}}
CASES = [(op, name) for op, named in EXAMPLES.items() for name in named]


def test_every_post_with_a_body_has_named_examples(spec):
    for path, methods in spec["paths"].items():
        op = methods.get("post")
        if op and "requestBody" in op:
            named = op["requestBody"]["content"]["application/json"].get("examples", {})
            assert named, f"POST {path} has no whole-request example"
            assert PATHS[op["operationId"]] == path
            for name, example in named.items():  # the answer is documented beside it
                status = str(EXAMPLES[op["operationId"]][name]["status"])
                content = op["responses"][status]["content"]
                media = next(iter(content.values()))
                assert media["examples"][name]["value"] == \
                    EXAMPLES[op["operationId"]][name]["response"]
                assert example["value"] == EXAMPLES[op["operationId"]][name]["request"]
    errors = [name for named in EXAMPLES.values() for name, ex in named.items()
              if ex["status"] >= 400]
    assert errors


@pytest.fixture(scope="module")
def client(server_url):  # noqa: F811
    with httpx.Client(base_url=server_url, timeout=60) as c:
        yield c


@pytest.mark.parametrize(("op", "name"), CASES, ids=[f"{o}-{n}" for o, n in CASES])
def test_example_gets_its_documented_answer(client, op, name):
    example = EXAMPLES[op][name]
    r = client.post(PATHS[op], json=example["request"])
    assert r.status_code == example["status"], r.text
    assert placeholders(r.json()) == example["response"], (
        "the answer differs from the documented one: run `python scripts/example_answers.py` "
        "and `python -m service.http.openapi > openapi.json` if the change is right")


def _torch_names(request: dict) -> dict:
    if "source" in request:
        names: dict = {"torch": torch}
        exec(request["source"], names)  # our examples' source is plain PyTorch
        return {k: v for k, v in names.items() if isinstance(v, torch.Tensor)}
    return torch_build(request["graph"]["nodes"])


def _list(ids) -> list:
    return [ids] if isinstance(ids, str) else list(ids)


def _seed(seed, names):
    return names[seed] if isinstance(seed, str) else (
        None if seed is None else torch.tensor(seed, dtype=torch.float32))


def _close(doc, t) -> bool:
    return doc["shape"] == list(t.shape) and torch.allclose(
        torch.tensor(doc["data"], dtype=torch.float64), t.detach().double(), rtol=1e-6)


def _torch_call(op: str, request: dict, names: dict):
    if op == "backward":
        roots = [names[i] for i in _list(request["tensors"])]
        seeds = request.get("grad_tensors")
        seeds = ([_seed(seeds, names)] if isinstance(seeds, str) or seeds is None
                 else [_seed(s, names) for s in seeds])
        for i in request.get("retain_grad", []):
            names[i].retain_grad()
        torch.autograd.backward(roots, seeds, retain_graph=request.get("retain_graph"))
        return None
    return torch.autograd.grad([names[i] for i in _list(request["outputs"])],
                               [names[i] for i in _list(request["inputs"])],
                               create_graph=request.get("create_graph", False))


GRADIENT_CASES = [(op, name) for op, name in CASES if op in ("backward", "grad")]


@pytest.mark.parametrize(("op", "name"), GRADIENT_CASES,
                         ids=[f"{o}-{n}" for o, n in GRADIENT_CASES])
def test_documented_gradients_and_errors_are_torchs(op, name):
    example = EXAMPLES[op][name]
    names = _torch_names(example["request"])
    if example["status"] >= 400:
        with pytest.raises(RuntimeError) as refused:
            _torch_call(op, example["request"], names)
        assert example["response"]["detail"] == str(refused.value)
        return
    grads = _torch_call(op, example["request"], names)
    answer = example["response"]
    if op == "grad":
        assert len(grads) == len(answer["grads"])
        assert all(_close(d, g) for d, g in zip(answer["grads"], grads, strict=True))
        return
    for key, attr in (("grads", "grad"), ("retained", "grad")):
        for i, doc in answer[key].items():
            assert _close(doc, getattr(names[i], attr)), (i, doc)
    if "graph" in answer:  # grad_fn names and next_functions as torch's
        meta = torch_meta(names)
        for node in answer["graph"]["nodes"]:
            if node["id"] in meta:
                assert (node["grad_fn"], node["next_functions"]) == \
                    (meta[node["id"]][0], meta[node["id"]][1]), node["id"]


FUNCTIONAL = {"cube_sum": lambda x: (x ** 3).sum(), "sin_times_x": lambda x: torch.sin(x) * x}


@pytest.mark.parametrize("kind", ["vjp", "jvp", "hvp", "vhp", "jacobian", "hessian"])
def test_documented_functional_answers_are_torchs(kind):
    named = EXAMPLES[f"functional_{kind}"]
    for name, example in named.items():
        request = example["request"]
        names = _torch_names(request)
        x = names[request["inputs"]].detach()
        fn = FUNCTIONAL[name]
        answer = example["response"]
        if kind in ("jacobian", "hessian"):
            want = getattr(torch.autograd.functional, kind)(fn, x)
            assert _close(answer[kind][0][0], want)
            continue
        v = torch.tensor(request["v"], dtype=x.dtype)
        out, want = getattr(torch.autograd.functional, kind)(fn, x, v)
        assert _close(answer["func_output"][0], out) and _close(answer[kind][0], want)
