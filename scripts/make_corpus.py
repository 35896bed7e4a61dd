"""Writes tests/corpus/*.json, the hostile-input corpus (run once; the files are the truth,
reviewed and committed; tests/test_service_corpus.py replays them).

Each file: {"about", "method", "path", "headers", "body" (text) or "body_b64" (bytes),
"expect" (the documented 4xx status)}. "{MARKER}" in a body is replaced by the test with a
path that must not exist afterwards (proof that the source compiler ran no Python).
"""

import base64
import gzip
import json
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "corpus"
X = {"id": "x", "op": "tensor", "data": [1.0, 2.0], "requires_grad": True}
CASES = []


def add(name, expect, body=None, *, raw=None, method="POST", path="/backward", headers=None,
        about=""):
    entry = {"about": about or name, "method": method, "path": path,
             "headers": headers or {}, "expect": expect}
    if raw is not None:
        try:
            entry["body"] = raw.decode("utf-8")
            if "\x00" in entry["body"]:
                raise UnicodeDecodeError("utf-8", raw, 0, 1, "nul")
        except UnicodeDecodeError:
            entry.pop("body", None)
            entry["body_b64"] = base64.b64encode(raw).decode()
        entry["headers"].setdefault("Content-Type", "application/json")
    elif body is not None:
        entry["body"] = json.dumps(body)
        entry["headers"].setdefault("Content-Type", "application/json")
    CASES.append((name, entry))


def graph(*nodes, **extra):
    return {"graph": {"nodes": list(nodes)}, "tensors": nodes[-1]["id"], **extra}


def src(code, **extra):
    return {"source": code, **{"tensors": "y", **extra}}


# ---- malformed bodies
for i, (raw, st) in enumerate([
        (b"{not json", 400), (b'{"tensors": "x"', 400), (b'{"tensors": "x"} trailing', 400),
        (b"\xef\xbb\xbf{\"tensors\": \"x\"}", 400), (b'{"a": NaN}', 400),
        (b'{"a": Infinity}', 400), (b"\xff\xfe\x00{", 400), (b'{"a": "\xc3\x28"}', 400),
        (b"", 400), (b"   ", 400), (b"[1, 2, 3]", 422), (b"42", 422), (b'"x"', 422),
        (b"null", 422), (b"true", 422), (b"{'single': 'quotes'}", 400),
        (b'{"tensors": "x",}', 400), (b"{\"a\": 1e999}", 400),
        (b"\x00" * 64, 400), (b"[" * 5000 + b"]" * 5000, 413),
        (b'{"a": ' + b'{"b": ' * 3000 + b"1" + b"}" * 3001, 413)]):
    add(f"malformed-{i:02d}", st, raw=raw)

# ---- wrong request shapes
for i, body in enumerate([
        {"graph": {"nodes": [X]}, "tensors": 5},
        {"graph": "abc", "tensors": "x"},
        {"graph": {"nodes": {"x": 1}}, "tensors": "x"},
        {"graph": {"nodes": [X]}, "tensors": "x", "surprise": 1},
        {"graph": {"nodes": [{**X, "requires_grad": "yes please"}]}, "tensors": "x"},
        {"graph": {"nodes": [{**X, "id": 7}]}, "tensors": "x"},
        {"graph": {"nodes": [{**X, "op": ["tensor"]}]}, "tensors": "x"},
        {"graph": {"nodes": [{**X, "args": {"a": 1}}]}, "tensors": "x"},
        {"graph": {"nodes": [X]}, "tensors": "x", "retain_graph": "maybe"},
        {"graph": {"nodes": [X]}, "tensors": "x", "encoding": "xml"},
        {"graph": {"nodes": [X]}, "source": "x = 1", "tensors": "x"},
        {"tensors": "x"},
        {},
        {"graph": {"nodes": [{**X, "dtype": "complex128"}]}, "tensors": "x"},
        {"graph": {"nodes": [{**X, "op": "x" * 10000}]}, "tensors": "x"}]):
    add(f"shape-{i:02d}", 422, body)

# ---- bad graphs
for i, nodes in enumerate([
        [X, {"id": "y", "op": "frobnicate", "args": ["x"]}],
        [X, {"id": "y", "op": "__class__", "args": ["x"]}],
        [X, {"id": "y", "op": "__import__", "args": ["os"]}],
        [X, {"id": "y", "op": "eval", "args": ["1+1"]}],
        [X, {"id": "y", "op": "_unsafe_view", "args": ["x", [2]]}],
        [X, {"id": "y", "op": "mul", "args": ["x", "nope"]}],
        [X, {"id": "y", "op": "mul", "args": ["x", "z"]}, {"id": "z", "op": "exp", "args": ["x"]}],
        [{"id": "y", "op": "mul", "args": ["y", 2]}],
        [{"id": "x", "op": "tensor", "data": [[1.0, 2.0], [3.0]]}],
        [{"id": "x", "op": "tensor", "data": [1.0, None]}],
        [{"id": "x", "op": "tensor", "data": [1.0, {"a": 1}]}],
        [{"id": "x", "op": "tensor", "data": ["nan"]}],
        [{"id": "x", "op": "tensor", "data": {"dtype": "float32", "shape": [2], "b64": "@@@"}}],
        [{"id": "x", "op": "tensor", "data": {"dtype": "float32", "shape": [3], "b64": "AAAA"}}],
        [{"id": "x", "op": "tensor", "data": {"dtype": "float16", "shape": [1], "b64": "AAA="}}],
        [{"id": "x", "op": "tensor", "data": {"dtype": "float32", "shape": [-1], "b64": ""}}],
        [X, {"id": "y", "op": "sum", "args": ["x"], "kwargs": {"dim": 5}}],
        [X, {"id": "y", "op": "mul", "args": ["x", "x"], "kwargs": {"__dict__": 1}}],
        [X, {"id": "y", "op": "add", "args": ["x"] * 50}],
        [X, {"id": "y", "op": "x.grad", "args": []}]]):
    add(f"graph-{i:02d}", 422, graph(*nodes))

# ---- source that must never run Python (each would touch {MARKER} or print if evaluated)
for i, code in enumerate([
        "import os\nos.system('touch {MARKER}')\ny = torch.ones(1)",
        "from os import system\nsystem('touch {MARKER}')",
        "y = __import__('os').system('touch {MARKER}')",
        "y = eval(\"open('{MARKER}', 'w')\")",
        "exec(\"open('{MARKER}', 'w')\")\ny = torch.ones(1)",
        "y = open('{MARKER}', 'w')",
        "print('PWNED')\ny = torch.ones(1)",
        "y = (lambda: open('{MARKER}', 'w'))()",
        "y = ().__class__.__base__.__subclasses__()",
        "y = torch.ones(1).__class__",
        "y = torch.__dict__",
        "y = getattr(torch, 'load')('{MARKER}')",
        "torch.save(torch.ones(1), '{MARKER}')\ny = torch.ones(1)",
        "y = torch.load('{MARKER}')",
        "def f():\n    open('{MARKER}', 'w')\ny = f()",
        "class A:\n    pass\ny = A()",
        "with open('{MARKER}', 'w') as f:\n    y = 1",
        "y = [open('{MARKER}', 'w') for _ in range(1)]",
        "y = f\"{open('{MARKER}', 'w')}\"",
        "@open('{MARKER}', 'w')\ndef g(): pass",
        "global y\ny = 1",
        "try:\n    y = torch.ones(1)\nexcept Exception:\n    pass",
        "while True:\n    pass",
        "for i in range(10**9):\n    pass",
        "y = torch.ones(1)\ndel y",
        "y = (x := torch.ones(1))",
        "async def f():\n    pass",
        "y = breakpoint()",
        "y = torch.ones(1).grad_fn.next_functions[0][0].__init__.__globals__",
        "y = torch.ones(1); y.__setattr__('a', 1)",
        "y = torch.ones(1)\ny.__class__ = object",
        "y = globals()",
        "y = vars(torch)",
        "y = compile('1', 'f', 'eval')",
        "y = torch.tensor([1.0]).numpy()",
        "y = torch.ones(1).tolist",
        "y = __builtins__",
        "y = torch.hub.load('x', 'y')",
        "y = torch.ops.aten.add",
        "y = torch.ones(1); x = y if True else y",
        "x = torch.ones(1\ny = x",
        "y = " + "(" * 2000 + "1" + ")" * 2000,
        "y = " + "-" * 100000 + "1",
        "y = " + "+".join(["torch.ones(1)"] * 6000),
        "y = torch.ones(1)\n" * 6000,
        "y = '\\N{LATIN SMALL LETTER A}' * 10**9",
        "y = 10 ** 10 ** 10",
        "y = torch.ones(1)" + "\x00",
        "y\u200b = torch.ones(1)",
        "ｙ = torch.ones(1)\nz = y.__class__"]):
    add(f"source-{i:02d}", 413 if i == 44 else 422, src(code),
        about="source that must compile to nothing runnable")

# ---- memory and time bombs
for i, (nodes, st) in enumerate([
        ([{"id": "y", "op": "zeros", "args": [100000, 100000]}], 413),
        ([{"id": "y", "op": "ones", "args": [[2**31, 2**31]]}], 413),
        ([{"id": "y", "op": "empty", "args": [2**62]}], 413),
        ([{"id": "y", "op": "full", "args": [[10**6, 10**6], 1.0]}], 413),
        ([{"id": "y", "op": "arange", "args": [0, 10**13]}], 413),
        ([{"id": "y", "op": "linspace", "args": [0, 1, 10**12]}], 413),
        ([{"id": "y", "op": "randn", "args": [10**6, 10**6], "seed": 1}], 413),
        ([{"id": "a", "op": "ones", "args": [100000, 1]}, {"id": "b", "op": "ones", "args": [1, 100000]},
          {"id": "y", "op": "add", "args": ["a", "b"]}], 413),
        ([{"id": "a", "op": "ones", "args": [3000, 1]},
          {"id": "y", "op": "expand", "args": ["a", 3000, 3000]},
          {"id": "z", "op": "exp", "args": ["y"]}], 413),
        ([{"id": "a", "op": "ones", "args": [1000]}, {"id": "y", "op": "outer", "args": ["a", "a"]},
          {"id": "z", "op": "reshape", "args": ["y", [10**6, 1]]}, {"id": "t", "op": "t", "args": ["z"]},
          {"id": "w", "op": "matmul", "args": ["z", "t"]}], 413),
        ([{"id": "a", "op": "ones", "args": [1000]},
          {"id": "y", "op": "repeat", "args": ["a", 10**6]}], 413),
        ([{"id": "y", "op": "zeros", "args": [[1] * 200]}], 413),
        ([{"id": "y", "op": "zeros", "args": [-5]}], 422),
        ([{"id": "x", "op": "tensor", "data": {"dtype": "float32", "shape": [10**6, 10**6], "b64": "AAAA"}}], 413),
        ([{"id": "x", "op": "tensor", "data": {"dtype": "float32", "shape": [2**40], "b64": ""}}], 413),
        ([{"id": "y", "op": "rand", "args": [10**5, 10**5], "seed": 0}], 413)]):
    add(f"bomb-{i:02d}", st, graph(*nodes))
chain = [X] + [{"id": f"n{j}", "op": "exp", "args": [f"n{j-1}" if j else "x"]} for j in range(6000)]
add("bomb-chain-6000", 413, graph(*chain), about="a 6000-node chain (over the replay's max_nodes 5000)")
add("bomb-deep-data", 413, graph({"id": "x", "op": "tensor", "data": json.loads("[" * 900 + "1" + "]" * 900)}),
    about="tensor data nested deeper than max_ndim")

# ---- numeric extremes
for i, (nodes, st) in enumerate([
        ([{"id": "x", "op": "tensor", "data": [2**70], "dtype": "int64"}], 422),
        ([{"id": "x", "op": "tensor", "data": [-2**64], "dtype": "int64"}], 422),
        ([{"id": "x", "op": "tensor", "data": [10**400]}], 400),
        ([{"id": "x", "op": "tensor", "data": [1.5], "dtype": "int64", "requires_grad": True}], 422),
        ([{"id": "x", "op": "tensor", "data": [True], "dtype": "bool", "requires_grad": True}], 422),
        ([X, {"id": "y", "op": "sum", "args": ["x"], "kwargs": {"dim": 2**63}}], 422),
        ([X, {"id": "y", "op": "reshape", "args": ["x", [2**62, 4]]}], 422),
        ([X, {"id": "y", "op": "narrow", "args": ["x", 0, -2**63, 1]}], 422)]):
    add(f"numeric-{i:02d}", st, graph(*nodes))
add("numeric-grad-tensors-shape", 422, graph(X, grad_tensors=[[1.0, 2.0, 3.0]]))
add("numeric-seed-huge", 422, graph({"id": "y", "op": "rand", "args": [2], "seed": 2**80}))

# ---- unicode in ids and paths
for i, ident in enumerate(["ẋ", "x\u0301", "x\u200b", "\u202ex", "😀", "x\x00", "ｘ", "x" * 1000]):
    add(f"unicode-id-{i:02d}", 422, graph({**X, "id": ident}))
for i, sid in enumerate(["%F0%9F%98%80", "s_%00", "s_" + "a" * 5000, "..%2F..%2Fetc%2Fpasswd",
                         "s_%E2%80%AEabc"]):
    add(f"unicode-session-{i:02d}", 404, method="GET", path=f"/sessions/{sid}")
add("unicode-session-in-body", 404, {"session": "s_😀", "tensors": "x"})
add("unicode-tensor-name", 404, method="GET", path="/sessions/s_nope/tensors/%F0%9F%98%80")

# ---- wrong content types and methods
ok = json.dumps(graph(X)).encode()
for i, ctype in enumerate(["text/plain", "application/xml", "multipart/form-data; boundary=x",
                           "application/x-www-form-urlencoded", "image/png", "text/html; charset=utf-8",
                           "application/x-yaml"]):
    add(f"content-type-{i:02d}", 415, raw=ok, headers={"Content-Type": ctype})
add("method-get-backward", 405, method="GET", path="/backward")
add("method-put-ops", 405, method="PUT", path="/ops", raw=b"{}")
add("method-delete-sessions", 405, method="DELETE", path="/sessions")
add("path-unknown", 404, method="GET", path="/admin")
add("path-traversal", 404, method="GET", path="/static/..%2F..%2Fsettings.py")

# ---- compressed bodies (never decompressed: refused by name, so no zip bomb can expand)
bomb = gzip.compress(b"[" + b"0," * (5 * 2**20) + b"0]")
for i, (enc, data) in enumerate([("gzip", gzip.compress(ok)), ("deflate", zlib.compress(ok)),
                                 ("br", ok), ("gzip", bomb), ("compress", ok),
                                 ("gzip, deflate", zlib.compress(gzip.compress(ok)))]):
    add(f"compressed-{i:02d}", 415, raw=data, headers={"Content-Encoding": enc})
add("compressed-no-header", 400, raw=gzip.compress(ok), about="gzip bytes sent as plain JSON")

# ---- binary extension headers
OCT = "application/octet-stream"
head = json.dumps(graph({"id": "x", "op": "tensor", "requires_grad": True,
                         "data": {"dtype": "float32", "shape": [2], "binary_data_size": 8}})).encode()
for i, (hdr, body, st) in enumerate([
        (None, head + b"\0" * 8, 400), ("abc", head + b"\0" * 8, 400), ("-1", head + b"\0" * 8, 400),
        ("99999999", head + b"\0" * 8, 400), (str(len(head) - 3), head + b"\0" * 8, 400),
        (str(len(head)), head + b"\0" * 4, 422), (str(len(head)), head + b"\0" * 12, 422),
        ("1e3", head, 400), (" " + str(len(head)), head + b"\0" * 8, 200)]):
    if st == 200:
        continue
    h = {"Content-Type": OCT}
    if hdr is not None:
        h["Inference-Header-Content-Length"] = hdr
    add(f"binary-{i:02d}", st, raw=body, headers=h)
bad_size = json.dumps(graph({"id": "x", "op": "tensor", "data": {"dtype": "float32",
                      "shape": [2], "binary_data_size": -8}})).encode()
add("binary-negative-size", 422, raw=bad_size,
    headers={"Content-Type": OCT, "Inference-Header-Content-Length": str(len(bad_size))})
shape_lie = json.dumps(graph({"id": "x", "op": "tensor", "data": {"dtype": "float32",
                       "shape": [10**6, 10**6], "binary_data_size": 8}})).encode()
add("binary-shape-lie", 413, raw=shape_lie + b"\0" * 8,
    headers={"Content-Type": OCT, "Inference-Header-Content-Length": str(len(shape_lie))})

# ---- sessions and puts
add("session-unknown", 404, {"session": "s_doesnotexist", "tensors": "x"})
add("put-unknown-session", 404, [1.0], method="PUT", path="/sessions/s_nope/tensors/x")
add("put-malformed", 400, raw=b"[1,", method="PUT", path="/sessions/s_nope/tensors/x")
add("create-session-bomb", 413, {"graph": {"nodes": [{"id": "y", "op": "zeros", "args": [10**5, 10**5]}]}},
    path="/sessions")
add("grad-missing-inputs", 422, {"graph": {"nodes": [X]}, "outputs": "x"}, path="/grad")
add("grad-unknown-input", 422, {"graph": {"nodes": [X]}, "outputs": "x", "inputs": "q"}, path="/grad")

if __name__ == "__main__":
    for old in OUT.glob("*.json"):
        old.unlink()
    for name, entry in CASES:
        text = json.dumps(entry, indent=1, ensure_ascii=True)
        if len(text) > 20000:  # the big ones on one line
            text = json.dumps(entry, ensure_ascii=True)
        (OUT / f"{name}.json").write_text(text + "\n")
    print(len(CASES), "cases")
