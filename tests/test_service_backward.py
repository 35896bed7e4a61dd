"""POST /backward through the real server, compared with torch computed here."""

import base64
import struct

import numpy as np
import pytest
import torch
from support.service_server import as_numpy, check_problem, torch_build, torch_meta

from service.http.examples import README_GRAPH

pytest_plugins = ["support.service_server"]  # the fixtures: a live server (api, server_url)

API_EXAMPLE = README_GRAPH["nodes"]  # api.md's graph (also seed 000's subject: grad_tensors)


def tensor_node(id_, data, requires_grad=True, **kw):
    return {"id": id_, "op": "tensor", "data": data, "requires_grad": requires_grad, **kw}


def check_against_torch(answer: dict, t: dict, names=None):
    for name, value in answer["grads"].items():
        expected = t[name].grad
        if expected is None:
            assert value is None, name
        else:
            np.testing.assert_allclose(as_numpy(value), expected.numpy(), rtol=1e-5)
            assert value["dtype"] == str(expected.dtype).removeprefix("torch.")
    if "graph" in answer:
        meta = torch_meta({k: t[k] for k in (names or t)})
        nodes = {n["id"]: n for n in answer["graph"]["nodes"] if not n["id"].startswith("%")}
        for name, (fn, edges) in meta.items():
            assert nodes[name]["grad_fn"] == fn, name
            assert nodes[name]["next_functions"] == edges, name
            assert nodes[name]["is_leaf"] == t[name].is_leaf
            assert nodes[name]["requires_grad"] == t[name].requires_grad
            assert nodes[name]["shape"] == list(t[name].shape)


def backward_as_torch(api, nodes, root):
    """POST /backward of ``root`` (graph returned) and the same backward in torch: the
    answer must match torch's grads and graph."""
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": root,
                                    "return_graph": True})
    t = torch_build(nodes)
    t[root].backward()
    check_against_torch(r.json(), t)
    return r


def test_api_example_matches_torch(api):
    r = api.post("/backward", json={"graph": {"nodes": API_EXAMPLE}, "tensors": ["out"],
                                    "grad_tensors": [[1, 1, 1]], "retain_grad": ["xy"],
                                    "return_graph": True})
    assert r.status_code == 200, r.text
    answer = r.json()
    t = torch_build(API_EXAMPLE)
    t["xy"].retain_grad()
    torch.autograd.backward([t["out"]], [torch.ones(3)])
    check_against_torch(answer, t)
    np.testing.assert_allclose(as_numpy(answer["retained"]["xy"]), t["xy"].grad.numpy())
    assert "session" not in answer  # computed and forgotten
    xy = next(n for n in answer["graph"]["nodes"] if n["id"] == "xy")
    assert xy["next_functions"] == [["AccumulateGrad", "x", 0], ["AccumulateGrad", "y", 0]]
    assert xy["retains_grad"] is True


def test_seed_001_square(api):
    # x = torch.Tensor([5]); x.requires_grad = True; y = x ** 2; y.backward(); x.grad
    nodes = [tensor_node("x", [5.0]), {"id": "y", "op": "pow", "args": ["x", 2]}]
    r = backward_as_torch(api, nodes, "y")
    assert r.json()["grads"]["x"]["data"] == [10.0]


def test_seed_002_add_mul_next_functions(api):
    # the tutorial's w, x, b leaves: y = w * x, z = y + b; z.grad_fn.next_functions
    nodes = [tensor_node("w", 1.0), tensor_node("x", 2.0), tensor_node("b", 3.0),
             {"id": "y", "op": "mul", "args": ["w", "x"]},
             {"id": "z", "op": "add", "args": ["y", "b"]}]
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": "z",
                                    "retain_graph": True, "return_graph": True})
    t = torch_build(nodes)
    t["z"].backward(retain_graph=True)
    check_against_torch(r.json(), t)
    assert r.json()["session"]["graph_retained"] is True
    # the tutorial's point: a second backward accumulates (a.grad 3 -> 6)
    sid = r.json()["session"]["id"]
    r2 = api.post("/backward", json={"session": sid, "tensors": "z"})
    t["z"].backward()
    check_against_torch(r2.json(), t)


def test_seed_003_chain_of_powers(api):
    # y2 = x2 ** w1; z2 = w2 * y2 + 1; z2.backward()
    nodes = [tensor_node("w1", [2.0]), tensor_node("w2", [2.0]), tensor_node("x2", [0.7]),
             {"id": "y2", "op": "pow", "args": ["x2", "w1"]},
             {"id": "m", "op": "mul", "args": ["w2", "y2"]},
             {"id": "z2", "op": "add", "args": ["m", 1]}]
    backward_as_torch(api, nodes, "z2")


def test_seed_004_mean(api):
    # x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True); y = x * 2; z = y.mean()
    nodes = [tensor_node("x", [1.0, 2.0, 3.0]), {"id": "y", "op": "mul", "args": ["x", 2]},
             {"id": "z", "op": "mean", "args": ["y"]}]
    backward_as_torch(api, nodes, "z")


def test_source_graph(api):
    pytest.importorskip("service.run.source")
    src = "x = tensor([1., 2., 3.], requires_grad=True)\ny = x * 2\nz = y.mean()"
    r = api.post("/backward", json={"source": src, "tensors": "z", "return_graph": True})
    assert r.status_code == 200, r.text
    x = torch.tensor([1., 2., 3.], requires_grad=True)
    (x * 2).mean().backward()
    np.testing.assert_allclose(as_numpy(r.json()["grads"]["x"]), x.grad.numpy())


@pytest.mark.parametrize("case", [
    ("root needs no grad", [tensor_node("x", [1.0], False)], "x", None),
    ("non-scalar root", [tensor_node("x", [1.0, 2.0])], "x", None),
])
def test_torch_errors_422(api, case):
    _, nodes, root, seed = case
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": [root],
                                    "grad_tensors": [seed]})
    t = torch_build(nodes)
    with pytest.raises(RuntimeError) as e:
        torch.autograd.backward([t[root]], [seed])
    check_problem(r, 422, str(e.value))


def test_broadcast_error_text(api):
    nodes = [tensor_node("a", [1.0, 2.0, 3.0]), tensor_node("b", [1.0, 2.0]),
             {"id": "c", "op": "add", "args": ["a", "b"]}]
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": "c"})
    with pytest.raises(RuntimeError) as e:
        torch.tensor([1.0, 2.0, 3.0]) + torch.tensor([1.0, 2.0])
    body = check_problem(r, 422)
    assert body["detail"].endswith(str(e.value)) and "node 2" in body["detail"]


def test_freed_graph_409_only_where_torch_raises(api):
    # (x ** 2).sum() saves x: fails a second time; (x + 1).sum() saves nothing: accumulates.
    for op, args, fails in [("pow", ["x", 2], True), ("add", ["x", 1], False)]:
        nodes = [tensor_node("x", [1.0, 2.0]), {"id": "y", "op": op, "args": args},
                 {"id": "s", "op": "sum", "args": ["y"]}]
        r = api.post("/sessions", json={"graph": {"nodes": nodes}})
        assert r.status_code == 201, r.text
        sid = r.json()["session"]["id"]
        first = api.post("/backward", json={"session": sid, "tensors": "s"})
        assert first.status_code == 200
        assert first.json()["session"]["graph_retained"] is False
        second = api.post("/backward", json={"session": sid, "tensors": "s"})
        t = torch_build(nodes)
        t["s"].backward()
        if fails:
            with pytest.raises(RuntimeError) as e:
                t["s"].backward()
            check_problem(second, 409, str(e.value))
        else:
            t["s"].backward()
            assert second.status_code == 200
            check_against_torch(second.json(), t)


def test_hooks_and_retain_grad(api):
    r = api.post("/backward", json={"graph": {"nodes": API_EXAMPLE}, "tensors": "out",
                                    "grad_tensors": [1, 1, 1], "retain_grad": ["xy"],
                                    "hooks": {"xy": "grad * 0.5", "z": "tanh(grad) + 1"}})
    assert r.status_code == 200, r.text
    t = torch_build(API_EXAMPLE)
    t["xy"].retain_grad()
    t["xy"].register_hook(lambda g: g * 0.5)
    t["z"].register_hook(lambda g: torch.tanh(g) + 1)
    t["out"].backward(torch.ones(3))
    check_against_torch(r.json(), t)
    np.testing.assert_allclose(as_numpy(r.json()["retained"]["xy"]), t["xy"].grad.numpy())


def test_inputs_and_reference_seed(api):
    nodes = API_EXAMPLE + [tensor_node("v", [0.5, -1.0, 2.0], False)]
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": "out",
                                    "grad_tensors": "v", "inputs": ["x"]})
    t = torch_build(nodes)
    t["out"].backward(t["v"], inputs=[t["x"]])
    check_against_torch(r.json(), t)
    assert r.json()["grads"]["y"] is None


def test_create_graph_then_differentiate_grad(api):
    # x.grad made with create_graph has a grad_fn: differentiate it again via "x.grad".
    nodes = [tensor_node("x", [1.0, 2.0]), {"id": "y", "op": "pow", "args": ["x", 3]},
             {"id": "s", "op": "sum", "args": ["y"]}]
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": "s",
                                    "create_graph": True, "return_graph": True})
    assert r.status_code == 200, r.text
    sid = r.json()["session"]["id"]
    server_ids = [n for n in r.json()["graph"]["nodes"] if n["id"].startswith("%")]
    assert server_ids and server_ids[0]["grad_fn"] is not None
    more = {"nodes": [{"id": "g", "op": "sum", "args": ["x.grad"]}]}
    r2 = api.post("/grad", json={"session": sid, "graph": more, "outputs": "g",
                                 "inputs": "x"})
    assert r2.status_code == 200, r2.text
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    (gx,) = torch.autograd.grad(x.grad.sum(), x)
    np.testing.assert_allclose(as_numpy(r2.json()["grads"][0]), gx.numpy())


def test_grad_mode_false_and_detach_and_rebinding(api):
    nodes = [tensor_node("x", [1.0, 2.0]),
             {"id": "c", "op": "mul", "args": ["x", 3], "grad_mode": False},
             {"id": "d", "op": "detach", "args": ["x"]},
             {"id": "y", "op": "mul", "args": ["x", "c"]},
             {"id": "y", "op": "add", "args": ["y", "d"]},  # rebinds y; old y lives on
             {"id": "s", "op": "sum", "args": ["y"]}]
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": "s",
                                    "return_graph": True})
    assert r.status_code == 200, r.text
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with torch.no_grad():
        c = x * 3
    y0 = x * c
    y = y0 + x.detach()
    s = y.sum()
    s.backward()
    np.testing.assert_allclose(as_numpy(r.json()["grads"]["x"]), x.grad.numpy())
    nodes_out = {n["id"]: n for n in r.json()["graph"]["nodes"]}
    assert nodes_out["c"]["requires_grad"] is False and nodes_out["d"]["grad_fn"] is None
    assert nodes_out["y"]["grad_fn"] == type(y.grad_fn).__name__
    old = nodes_out["y"]["next_functions"][0]
    assert old[0] == "MulBackward0" and old[1].startswith("%")
    assert nodes_out["y"]["next_functions"][1] is None


def test_nan_strings_both_ways(api):
    nodes = [tensor_node("x", ["NaN", "Infinity", "-Infinity", 1.0]),
             {"id": "y", "op": "mul", "args": ["x", 2]},
             {"id": "s", "op": "sum", "args": ["y"]}]
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": "s",
                                    "retain_grad": ["y"]})
    assert r.status_code == 200, r.text
    assert r.json()["grads"]["x"]["data"] == [2.0, 2.0, 2.0, 2.0]
    nodes[1] = {"id": "y", "op": "mul", "args": ["x", "x"]}
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": "s"})
    assert r.json()["grads"]["x"]["data"] == ["NaN", "Infinity", "-Infinity", 2.0]


def test_dtypes_and_base64_in_and_out(api):
    raw = np.array([[1.0, 2.0], [3.0, 4.0]], dtype="<f8")
    x = {"dtype": "float64", "shape": [2, 2], "b64": base64.b64encode(raw.tobytes()).decode()}
    nodes = [tensor_node("x", x), {"id": "s", "op": "sum", "args": ["x"]}]
    nodes.append({"id": "p", "op": "mul", "args": ["s", {"data": 2, "dtype": "float64"}]})
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": "p",
                                    "encoding": "base64"})
    assert r.status_code == 200, r.text
    g = r.json()["grads"]["x"]
    assert g["dtype"] == "float64" and g["shape"] == [2, 2]
    np.testing.assert_array_equal(as_numpy(g), np.full((2, 2), 2.0))


def _binary_body(payload: dict, tensors: list[np.ndarray]) -> tuple[bytes, dict]:
    import json
    head = json.dumps(payload).encode()
    body = head + b"".join(t.tobytes() for t in tensors)
    return body, {"Content-Type": "application/octet-stream",
                  "Inference-Header-Content-Length": str(len(head))}


def _read_binary(r) -> tuple[dict, bytes]:
    import json
    n = int(r.headers["Inference-Header-Content-Length"])
    return json.loads(r.content[:n]), r.content[n:]


def test_binary_extension_both_ways(api):
    a = np.arange(6, dtype="<f4").reshape(2, 3)
    w = np.linspace(-1, 1, 6, dtype="<f4").reshape(2, 3)
    payload = {"graph": {"nodes": [
        {"id": "a", "op": "tensor", "requires_grad": True,
         "data": {"dtype": "float32", "shape": [2, 3], "binary_data_size": a.nbytes}},
        {"id": "y", "op": "mul", "args": ["a", "a"]}]},
        "tensors": "y",
        "grad_tensors": {"dtype": "float32", "shape": [2, 3], "binary_data_size": w.nbytes},
        "encoding": "binary"}
    body, headers = _binary_body(payload, [a, w])
    r = api.post("/backward", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    head, tail = _read_binary(r)
    g = head["grads"]["a"]
    assert g == {"shape": [2, 3], "dtype": "float32", "binary_data_size": 24}
    got = np.frombuffer(tail[:24], dtype="<f4").reshape(2, 3)
    ta = torch.tensor(a, requires_grad=True)
    (ta * ta).backward(torch.tensor(w))
    np.testing.assert_allclose(got, ta.grad.numpy())


@pytest.mark.parametrize("body,headers", [
    (b"{}", {"Content-Type": "application/octet-stream"}),  # no header length
    (b"{}", {"Content-Type": "application/octet-stream",
             "Inference-Header-Content-Length": "99"}),
    (b'{"graph":{"nodes":[{"id":"a","op":"tensor","data":{"dtype":"float32","shape":[2],'
     b'"binary_data_size":8}}]},"tensors":"a"}' + struct.pack("<f", 1.0),  # short tail
     {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": "105"}),
])
def test_binary_malformed(api, body, headers):
    r = api.post("/backward", content=body, headers=headers)
    assert 400 <= r.status_code < 500, r.text
    assert api.get("/healthz").status_code == 200


SOURCE_PROGRAMS = [
    "x = torch.tensor([[1., 2.], [3., 4.]], requires_grad=True)\ny = x[0, 1:] * 2\nz = y.sum()",
    "x = torch.tensor([3., 1., 2.], requires_grad=True)\nv, i = x.max(0)\nz = v * 2",
    "x = torch.tensor([1., 2.], requires_grad=True)\ny = x.to(torch.float64)\nz = (y * y).sum()",
    "x = torch.tensor([1., 2.], requires_grad=True)\nwith torch.no_grad():\n    c = x * 2\n"
    "z = (x * c).sum()",
    "a = torch.tensor([1., 2.], requires_grad=True)\nb = torch.tensor([3.], requires_grad=True)\n"
    "z = torch.cat([a, b]).sum()",
    "x = torch.tensor([1., 2.], requires_grad=True)\ny = x * 1\ny.add_(1)\nz = y.sum()",
    "A = torch.tensor([[1., 2.], [3., 4.]], requires_grad=True)\nz = (A.T @ A).sum()",
    "x = torch.tensor([1., -2.], requires_grad=True)\nm = x > 0\nz = x[m].sum()",
    "x = torch.Tensor([5])\nx.requires_grad = True\ny = x ** 2\nz = y",
]


@pytest.mark.parametrize("src", SOURCE_PROGRAMS, ids=range(len(SOURCE_PROGRAMS)))
def test_source_programs_match_torch(api, src):
    pytest.importorskip("service.run.source")
    r = api.post("/backward", json={"source": src, "tensors": "z", "return_graph": True})
    assert r.status_code == 200, r.text
    scope = {"torch": torch}
    exec(src, scope)  # the test's own trusted copy of the program, run by torch
    scope["z"].backward()
    for name, value in r.json()["grads"].items():
        np.testing.assert_allclose(as_numpy(value), scope[name].grad.numpy(), rtol=1e-6)
    z = next(n for n in r.json()["graph"]["nodes"] if n["id"] == "z")
    assert z["grad_fn"] == type(scope["z"].grad_fn).__name__


def test_unnamed_intermediates_get_server_ids(api):
    """Composite ops show the primitives torch shows; the nodes nobody named get % ids and
    the chain of next_functions still matches torch's, node by node."""
    nodes = [tensor_node("A", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
             {"id": "B", "op": "T", "args": ["A"]},
             {"id": "z", "op": "reshape", "args": ["B", [-1]]},
             {"id": "s", "op": "square", "args": ["z"]},
             {"id": "out", "op": "sum", "args": ["s"]}]
    r = api.post("/backward", json={"graph": {"nodes": nodes}, "tensors": "out",
                                    "return_graph": True})
    assert r.status_code == 200, r.text
    graph = {n["id"]: n for n in r.json()["graph"]["nodes"]}
    A = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    out = A.T.reshape(-1).square().sum()
    out.backward()
    np.testing.assert_allclose(as_numpy(r.json()["grads"]["A"]), A.grad.numpy())
    fn, node = out.grad_fn, graph["out"]  # walk both chains along the first edge
    while fn is not None and type(fn).__name__ != "AccumulateGrad":
        assert node["grad_fn"] == type(fn).__name__
        nxt, nr = fn.next_functions[0]
        edge = node["next_functions"][0]
        assert edge[0] == type(nxt).__name__ and edge[2] == nr
        if edge[0] == "AccumulateGrad":
            assert edge[1] == "A"
            break
        node, fn = graph[edge[1]], nxt
    assert any(k.startswith("%") for k in graph)  # the clone inside reshape is unnamed
