"""Clients generated from the committed openapi.json, unedited, against the live server:
Python (openapi-python-client), TypeScript (openapi-typescript with default flags, checked
by `tsc --strict`, called with openapi-fetch) and Java (openapi-generator's native client,
compiled with javac). Each runs the README's backward, /grad with create_graph (and the
second derivative in its session) and a session round trip; torch computes the expected
values here."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from support.service_server import ROOT, server_url, torch_build, torch_meta  # noqa: F401

GENERATOR = shutil.which("openapi-python-client")
JS = os.path.join(ROOT, "tests", "js")
SPEC = os.path.join(ROOT, "openapi.json")
# openapi-generator's Java client (native library), as generated for us:
# - openApiNullable=false: the default needs org.openapitools:jackson-databind-nullable, a
#   Maven artifact that neither the generator's jar nor Debian ships (Maven Central is not
#   reachable from CI); everything else it needs (Jackson core, databind, annotations,
#   jsr310, jsr305) is inside the generator's own jar, plus javax.annotation.Generated from
#   Debian's libgeronimo-annotation-1.3-spec-java.
# - supportUrlQuery=false: no toUrlQueryString (for sending models as query strings, which
#   nothing here does; its template calls a model method on a map of mapped values).
# - the unions (anyOf with an array member: TensorValue, Seeds, Ids, ...) as Object: the
#   generator writes `List<Object>.class` for them, which is not Java (openapi-generator
#   7.26); Jackson reads and writes them as plain JSON values.
JAVA_UNIONS = ("TensorValue", "TensorElements", "NestedList", "NestedListItem", "Seeds",
               "Seed", "Argument", "ArgumentItem", "Ids", "ReturnGraph")
JAVA_OPTIONS = ["--additional-properties=openApiNullable=false,supportUrlQuery=false,"
                "invokerPackage=autograd,apiPackage=autograd.api,modelPackage=autograd.model",
                "--schema-mappings", ",".join(f"{u}=Object" for u in JAVA_UNIONS)]
ANNOTATIONS_JAR = "/usr/share/java/geronimo-annotation-1.3-spec.jar"


def _need(found: bool, what: str) -> None:
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is not installed")
        pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The generated package, imported from a temp dir."""
    _need(GENERATOR is not None, "openapi-python-client (the test extra has it)")
    out = tmp_path_factory.mktemp("generated") / "autograd_api"
    run = subprocess.run([GENERATOR, "generate", "--path", os.path.join(ROOT, "openapi.json"),
                          "--output-path", str(out), "--meta", "none"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(out.parent))
    try:
        module = importlib.import_module("autograd_api")
        importlib.import_module("autograd_api.models")
        yield module
    finally:
        sys.path.remove(str(out.parent))
        for name in [m for m in sys.modules if m.split(".")[0] == "autograd_api"]:
            del sys.modules[name]


def _graph(models):
    nodes = [{"id": "x", "op": "tensor", "data": [1.0, 2.0, 3.0], "requires_grad": True},
             {"id": "y", "op": "tensor", "data": [3.0, 4.0, 5.0], "requires_grad": True},
             {"id": "xy", "op": "add", "args": ["x", "y"]},
             {"id": "out", "op": "mul", "args": ["xy", "x"]}]
    return models.Graph.from_dict({"nodes": nodes})


def _torch():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = torch.tensor([3.0, 4.0, 5.0], requires_grad=True)
    xy = x + y
    xy.retain_grad()
    return x, y, xy, xy * x


def test_backward_through_generated_client(generated, server_url):  # noqa: F811
    import autograd_api.models as models
    from autograd_api.api.compute import backward as backward_backward_post
    from autograd_api.client import Client
    from autograd_api.models import BackwardRequest, BackwardResponse
    with Client(base_url=server_url) as client:
        body = BackwardRequest(graph=_graph(models), tensors=["out"],
                               grad_tensors=[[1.0, 1.0, 1.0]], retain_grad=["xy"],
                               return_graph=True)
        answer = backward_backward_post.sync(client=client, body=body)
    assert isinstance(answer, BackwardResponse), answer
    x, y, xy, out = _torch()
    out.backward(torch.ones(3))
    grads = answer.grads.to_dict()
    assert grads["x"]["data"] == x.grad.tolist() and grads["y"]["data"] == y.grad.tolist()
    assert answer.retained.to_dict()["xy"]["data"] == xy.grad.tolist()
    nodes = {n.id: n for n in answer.graph.nodes}
    assert nodes["out"].grad_fn == type(out.grad_fn).__name__


def test_grad_and_problem_through_generated_client(generated, server_url):  # noqa: F811
    import autograd_api.models as models
    from autograd_api.api.compute import grad as grad_grad_post
    from autograd_api.client import Client
    from autograd_api.models import GradRequest, GradResponse, Problem
    with Client(base_url=server_url) as client:
        body = GradRequest(graph=_graph(models), outputs=["out"], inputs=["x", "y"],
                           grad_outputs=[[1.0, 1.0, 1.0]])
        answer = grad_grad_post.sync(client=client, body=body)
        assert isinstance(answer, GradResponse), answer
        x, y, _, out = _torch()
        gx, gy = torch.autograd.grad(out, [x, y], torch.ones(3))
        assert [g.to_dict()["data"] for g in answer.grads] == [gx.tolist(), gy.tolist()]
        bad = GradRequest(graph=_graph(models), outputs=["out"], inputs=["x"])
        problem = grad_grad_post.sync(client=client, body=bad)
    assert isinstance(problem, Problem), problem
    assert problem.status == 422
    assert problem.detail.endswith("grad can be implicitly created only for scalar outputs")


def test_put_tensor_through_generated_client(generated, server_url):  # noqa: F811
    """PUT /sessions/{sid}/tensors/{name} (JSON or binary on the wire, one JSON content
    type in the spec) through the generated module; the retained graph then refuses the
    modified leaf exactly as torch does, and a fresh graph sees the new value."""
    import autograd_api.models as models
    from autograd_api.api.compute import backward as backward_backward_post
    from autograd_api.api.sessions import put_tensor as put
    from autograd_api.client import Client
    from autograd_api.models import BackwardRequest, BackwardResponse, Problem, PutResponse
    with Client(base_url=server_url) as client:
        first = backward_backward_post.sync(client=client, body=BackwardRequest(
            graph=_graph(models), tensors=["out"], grad_tensors=[[1.0, 1.0, 1.0]],
            retain_graph=True))
        assert isinstance(first, BackwardResponse), first
        sid = first.session.id
        answer = put.sync(sid, "x", client=client, body=[10.0, 20.0, 30.0])
        assert isinstance(answer, PutResponse), answer
        assert answer.tensor.to_dict()["data"] == [10.0, 20.0, 30.0]
        again = backward_backward_post.sync(client=client, body=BackwardRequest(
            session=sid, tensors=["out"], grad_tensors=[[1.0, 1.0, 1.0]]))
        fresh = backward_backward_post.sync(client=client, body=BackwardRequest(
            session=sid, graph=models.Graph.from_dict({"nodes": [
                {"id": "out2", "op": "mul", "args": ["x", "y"]}]}),
            tensors=["out2"], grad_tensors=[[1.0, 1.0, 1.0]]))
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = torch.tensor([3.0, 4.0, 5.0], requires_grad=True)
    out = (x + y) * x
    out.backward(torch.ones(3), retain_graph=True)
    with torch.no_grad():
        x.copy_(torch.tensor([10.0, 20.0, 30.0]))
    with pytest.raises(RuntimeError) as refused:
        out.backward(torch.ones(3))
    assert isinstance(again, Problem) and again.status == 409, again
    assert again.detail.split(";")[0] == str(refused.value).split(";")[0]
    assert isinstance(fresh, BackwardResponse), fresh
    (x * y).backward(torch.ones(3))  # .grad accumulates over the calls, as in the session
    assert fresh.grads.to_dict()["x"]["data"] == x.grad.tolist()
    assert fresh.grads.to_dict()["y"]["data"] == y.grad.tolist()


# ------------------------------------------- the same three programs in three languages

SESSION_NODES = [{"id": "w", "op": "tensor", "data": 1.0, "requires_grad": True},
                 {"id": "x", "op": "tensor", "data": 2.0, "requires_grad": True},
                 {"id": "b", "op": "tensor", "data": 3.0, "requires_grad": True},
                 {"id": "y", "op": "mul", "args": ["w", "x"]},
                 {"id": "z", "op": "add", "args": ["y", "b"]}]
README_NODES = [{"id": "x", "op": "tensor", "data": [1, 2, 3], "requires_grad": True},
                {"id": "y", "op": "tensor", "data": [3, 4, 5], "requires_grad": True},
                {"id": "z", "op": "tensor", "data": [1, 2, 3], "requires_grad": True},
                {"id": "xy", "op": "add", "args": ["x", "y"]},
                {"id": "xy2", "op": "pow", "args": ["xy", 2]},
                {"id": "z3", "op": "pow", "args": ["z", 3]},
                {"id": "out", "op": "mul", "args": ["xy2", "z3"]}]
CUBE = "x = torch.tensor([0.5, 1.5], requires_grad=True)\ny = (x ** 3).sum()"


def _torch_results() -> dict:
    """What every client must print, from torch."""
    t = torch_build(README_NODES)
    t["xy"].retain_grad()
    t["out"].backward(torch.ones(3))
    meta = torch_meta(t)
    backward = {k: t[k].grad.tolist() for k in ("x", "y", "z")}
    backward.update(xy=t["xy"].grad.tolist(), out_grad_fn=meta["out"][0],
                    out_next=meta["out"][1])
    x = torch.tensor([0.5, 1.5], requires_grad=True)
    (dx,) = torch.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (d2x,) = torch.autograd.grad(dx.sum(), x)
    s = torch_build(SESSION_NODES)
    s["z"].backward(retain_graph=True)
    first = s["w"].grad.item()
    s["z"].backward()
    again = s["w"].grad.item()
    with pytest.raises(RuntimeError) as freed:
        s["z"].backward()
    with torch.no_grad():
        s["w"].copy_(torch.tensor(5.0))
    return {"backward": backward, "grad": {"dx": dx.tolist(), "d2x": d2x.tolist()},
            "session": {"first": first, "again": again, "freed_status": 409,
                        "freed_detail": str(freed.value), "put": s["w"].item(),
                        "read_w": s["w"].grad.item(), "deleted": 204, "gone": 404}}


def _assert_matches_torch(got: dict) -> None:
    want = _torch_results()
    assert _approx(got) == _approx(want), (got, want)


def _approx(value):
    """Numbers rounded to float32's digits, so 2 and 2.0 (Java, JSON) compare equal."""
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_approx(v) for v in value]
    if isinstance(value, float | int) and not isinstance(value, bool):
        return float(f"{value:.6g}")
    return value


def test_python_generated_client_programs(generated, server_url):  # noqa: F811
    def api(name):  # generated in the fixture: imported by name
        return importlib.import_module(f"autograd_api.api.{name}")

    models, Client = generated.models, importlib.import_module("autograd_api.client").Client
    backward, grad = api("compute.backward"), api("compute.grad")
    create_session, delete_session = api("sessions.create_session"), api(
        "sessions.delete_session")
    put_tensor, read_session = api("sessions.put_tensor"), api("sessions.read_session")
    Problem = models.Problem

    def data(t):
        return t.to_dict()["data"]

    def graph(nodes):
        return models.Graph.from_dict({"nodes": nodes})

    with Client(base_url=server_url) as client:
        a = backward.sync(client=client, body=models.BackwardRequest(
            graph=graph(README_NODES), tensors=["out"], grad_tensors=[[1, 1, 1]],
            retain_grad=["xy"], return_graph=True))
        out = next(n for n in a.graph.nodes if n.id == "out")
        got = {"backward": {**{k: data(a.grads[k]) for k in ("x", "y", "z")},
                            "xy": data(a.retained["xy"]), "out_grad_fn": out.grad_fn,
                            "out_next": out.next_functions}}
        g = grad.sync(client=client, body=models.GradRequest.from_dict(
            {"source": CUBE, "outputs": "y", "inputs": "x", "create_graph": True,
             "as": ["dx"]}))
        g2 = grad.sync(client=client, body=models.GradRequest(
            session=g.session.id, graph=graph([{"id": "s", "op": "sum", "args": ["dx"]}]),
            outputs="s", inputs="x"))
        got["grad"] = {"dx": data(g.grads[0]), "d2x": data(g2.grads[0])}
        sid = create_session.sync(client=client, body=models.SessionCreate(
            graph=graph(SESSION_NODES))).session.id
        first = backward.sync(client=client, body=models.BackwardRequest(
            session=sid, tensors="z", retain_graph=True))
        again = backward.sync(client=client, body=models.BackwardRequest(session=sid,
                                                                         tensors="z"))
        freed = backward.sync(client=client, body=models.BackwardRequest(session=sid,
                                                                         tensors="z"))
        assert isinstance(freed, Problem), freed
        put = put_tensor.sync(sid, "w", client=client, body=5.0)
        read = read_session.sync(sid, client=client)
        deleted = delete_session.sync_detailed(sid, client=client)
        gone = read_session.sync(sid, client=client)
        got["session"] = {"first": data(first.grads["w"]), "again": data(again.grads["w"]),
                          "freed_status": freed.status, "freed_detail": freed.detail,
                          "put": data(put.tensor), "read_w": data(read.grads["w"]),
                          "deleted": deleted.status_code.value, "gone": gone.status}
    _assert_matches_torch(got)


def test_typescript_generated_client(server_url, tmp_path):  # noqa: F811
    """openapi-typescript with its default flags; `tsc --strict` must be clean (the body
    types and the answers, which are the JSON types, not `Json | string`); the compiled
    program runs with openapi-fetch under node."""
    bins = os.path.join(JS, "node_modules", ".bin")
    _need(os.path.exists(os.path.join(bins, "openapi-typescript"))
          and shutil.which("node") is not None, "openapi-typescript (cd tests/js && npm ci)")
    os.symlink(os.path.join(JS, "node_modules"), tmp_path / "node_modules")
    shutil.copy(os.path.join(JS, "generated", "client.mts"), tmp_path)
    run = subprocess.run([os.path.join(bins, "openapi-typescript"), SPEC, "-o", "api.d.ts"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    run = subprocess.run([os.path.join(bins, "tsc"), "--strict", "--module", "nodenext",
                          "--moduleResolution", "nodenext", "--target", "es2022",
                          "client.mts"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    run = subprocess.run(["node", "client.mjs", server_url], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    _assert_matches_torch(json.loads(run.stdout))


def test_java_generated_client(server_url, tmp_path):  # noqa: F811
    """openapi-generator's native Java client (JDK HttpClient, its default HTTP/2 version:
    so the requests carry Upgrade: h2c), compiled with javac and run."""
    generator = shutil.which("openapi-generator-cli")
    _need(generator is not None, "openapi-generator-cli (the test extra has it)")
    _need(shutil.which("javac") is not None, "a JDK")
    _need(os.path.exists(ANNOTATIONS_JAR), "libgeronimo-annotation-1.3-spec-java")
    run = subprocess.run([generator, "generate", "-g", "java", "--library", "native", "-i",
                          SPEC, "-o", str(tmp_path / "gen"), *JAVA_OPTIONS],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    jar = next(os.path.join(root, f) for root, _, files in os.walk(
        os.path.dirname(os.path.realpath(importlib.util.find_spec(
            "openapi_generator_cli").origin))) for f in files if f.endswith(".jar"))
    classpath = os.pathsep.join([str(tmp_path / "out"), jar, ANNOTATIONS_JAR])
    sources = [os.path.join(root, f) for root, _, files in os.walk(tmp_path / "gen" / "src"
                                                                   / "main")
               for f in files if f.endswith(".java")]
    run = subprocess.run(["javac", "-nowarn", "-d", str(tmp_path / "out"), "-cp", classpath,
                          *sources, os.path.join(ROOT, "tests", "java", "GeneratedClient.java")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    run = subprocess.run(["java", "-cp", classpath, "GeneratedClient", server_url],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    _assert_matches_torch(json.loads(run.stdout))
