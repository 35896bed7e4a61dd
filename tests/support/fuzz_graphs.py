"""Differential fuzzing, shared by tests/test_service_fuzz.py (bounded, in CI) and
scripts/fuzz_http.py (long runs): Hypothesis builds random graphs from the op table's
simple-signature rows (unary and binary elementwise, broadcasting shapes, reductions),
random grad_tensors, inputs, hooks, and retain_graph/create_graph call sequences in one
session; each case runs over HTTP and in torch, and everything must agree: .grad values,
which calls torch refuses (and its message), retained grads."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

from engine.ops import OVERLOADS
from engine.ops.samples import Const

from .harness import to_torch, torch_fn

# Elementwise rows whose domain is all reals and that are smooth almost everywhere, so that
# random float inputs never land where torch and we may legitimately differ.
UNARY = [n for n in ("tanh", "sigmoid", "sin", "cos", "atan", "asinh", "erf", "softsign",
                     "neg", "square", "exp", "silu", "mish", "logsigmoid", "tanhshrink",
                     "clone", "abs", "relu", "expm1", "selu") if n in OVERLOADS]
BINARY = [n for n in ("add", "sub", "mul", "maximum", "minimum", "div", "atan2")
          if n in OVERLOADS]
HOOKS = {"grad * 0.5": lambda g: g * 0.5, "tanh(grad) + 1": lambda g: torch.tanh(g) + 1,
         "grad * grad": lambda g: g * g, "-grad": lambda g: -g}


@st.composite
def shapes(draw):
    """A base shape and, per leaf, a shape that broadcasts to it."""
    base = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    return base


def leaf_shape(draw, base):
    keep = draw(st.integers(0, len(base)))  # drop leading dims
    dims = base[len(base) - keep:]
    return [d if draw(st.booleans()) else 1 for d in dims]


def values(draw, shape, low=-2.0, high=2.0):
    n = int(np.prod(shape)) if shape else 1
    flat = draw(st.lists(st.floats(low, high, width=32).map(lambda v: round(v, 3)),
                         min_size=n, max_size=n))
    return np.array(flat, dtype=np.float32).reshape(shape).tolist()


@st.composite
def cases(draw):
    base = draw(shapes())
    nodes, leaves = [], []
    for i in range(draw(st.integers(1, 3))):
        shape = leaf_shape(draw, base)
        rg = draw(st.booleans()) if i else True
        nodes.append({"id": f"l{i}", "op": "tensor", "data": values(draw, shape),
                      "requires_grad": rg})
        if rg:
            leaves.append(f"l{i}")
    ids = [n["id"] for n in nodes]
    shape_of = {n["id"]: np.shape(n["data"]) for n in nodes}
    for i in range(draw(st.integers(1, 6))):
        pick = lambda: draw(st.sampled_from(ids))  # noqa: E731
        nid = f"n{i}"
        if draw(st.booleans()) and BINARY:
            op, a, b = draw(st.sampled_from(BINARY)), pick(), pick()
            if op == "div":  # a denominator that is never near 0: 1 + b**2
                nodes += [{"id": f"{nid}s", "op": "square", "args": [b]},
                          {"id": f"{nid}d", "op": "add", "args": [f"{nid}s", 1.0]}]
                shape_of[f"{nid}d"] = shape_of[b]
                b = f"{nid}d"
            nodes.append({"id": nid, "op": op, "args": [a, b]})
            shape_of[nid] = np.broadcast_shapes(shape_of[a], shape_of[b])
        else:
            a = pick()
            nodes.append({"id": nid, "op": draw(st.sampled_from(UNARY)), "args": [a]})
            shape_of[nid] = shape_of[a]
        ids.append(nid)
    last = ids[-1]
    reduce = draw(st.sampled_from(["none", "sum", "mean", "sum_dim"]))
    if reduce in ("sum", "mean"):
        nodes.append({"id": "out", "op": reduce, "args": [last]})
    elif reduce == "sum_dim" and shape_of[last]:  # 0-d: ENGINE BUG, see test_service_fuzz
        nodes.append({"id": "out", "op": "sum", "args": [last],
                      "kwargs": {"dim": draw(st.integers(-1, 0)),
                                 "keepdim": draw(st.booleans())}})
    else:
        nodes.append({"id": "out", "op": "clone", "args": [last]})
    mids = [i for i in ids if i.startswith("n") and len(i) <= 3]
    calls = []
    for k in range(draw(st.integers(1, 3))):
        call = {"retain_graph": draw(st.sampled_from([None, True, False])),
                "create_graph": draw(st.booleans()) if k == 0 else False,
                "seed": draw(st.integers(0, 2**16))}
        if leaves and draw(st.booleans()):
            call["inputs"] = draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=2,
                                           unique=True))
        if mids and draw(st.booleans()):
            call["hooks"] = {draw(st.sampled_from(mids)): draw(st.sampled_from(list(HOOKS)))}
        calls.append(call)
    retain = [draw(st.sampled_from(mids))] if mids and draw(st.booleans()) else []
    return {"nodes": nodes, "calls": calls, "retain_grad": retain}


# --------------------------------------------------------------------------- running

def torch_build(nodes):
    names = {}
    for n in nodes:
        if n["op"] == "tensor":
            names[n["id"]] = torch.tensor(n["data"], dtype=torch.float32,
                                          requires_grad=n["requires_grad"])
            continue
        args = [names[a] if isinstance(a, str) else a for a in n.get("args", [])]
        fn = getattr(torch, n["op"], None) or getattr(torch.nn.functional, n["op"])
        names[n["id"]] = fn(*args, **n.get("kwargs", {}))
    return names


def seed_value(shape, seed):
    rng = np.random.default_rng(seed)
    return np.asarray(np.round(rng.uniform(-1, 1, size=shape), 3), dtype=np.float32)


def close(got, want) -> bool:
    if got is None or want is None:
        return got is None and want is None
    got = np.asarray(got, dtype=np.float64)
    want = want.detach().double().numpy()
    return got.shape == want.shape and np.allclose(got, want, rtol=2e-4, atol=2e-5,
                                                   equal_nan=True)


def to_array(t):
    if t is None:
        return None
    data = t["data"]
    nonfinite = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}
    arr = np.array(data, dtype=object)
    flat = [nonfinite.get(x, x) if isinstance(x, str) else x for x in arr.ravel()]
    return np.array(flat, dtype=np.float64).reshape(t["shape"])


def run_case(client, case) -> list[str]:
    """Runs ``case`` over HTTP (``client``: httpx) and in torch; the disagreements."""
    names = torch_build(case["nodes"])
    out = names["out"]
    refused = None  # torch refuses retain_grad/hooks on tensors that need no grad
    for r in case["retain_grad"]:
        if not names[r].requires_grad:
            refused = "can't retain_grad on Tensor that has requires_grad=False"
    leaves = [n["id"] for n in case["nodes"] if n["op"] == "tensor" and n["requires_grad"]]
    active = {}
    problems, session = [], None
    for k, call in enumerate(case["calls"]):
        seed = seed_value(tuple(out.shape), call["seed"])
        body = {"tensors": ["out"], "grad_tensors": [seed.tolist()],  # one seed per root
                "create_graph": call["create_graph"]}
        if call["retain_graph"] is not None:
            body["retain_graph"] = call["retain_graph"]
        if call.get("inputs"):
            body["inputs"] = call["inputs"]
        if call.get("hooks"):
            body["hooks"] = call["hooks"]
        if k == 0:
            body["graph"] = {"nodes": case["nodes"]}
            if case["retain_grad"]:
                body["retain_grad"] = case["retain_grad"]
        else:
            body["session"] = session
        # torch, with this call's hooks active for this call only (the service's rule)
        for name, expr in (call.get("hooks") or {}).items():
            if not names[name].requires_grad:
                refused = refused or ("cannot register a hook on a tensor that doesn't "
                                      "require gradient")
                continue
            key = (k, name)
            active[key] = True
            names[name].register_hook(
                lambda g, key=key, f=HOOKS[expr]: f(g) if active.get(key) else None)
        error = None
        if k == 0 and refused is None:
            for r in case["retain_grad"]:
                names[r].retain_grad()
        try:
            if refused is not None:
                raise RuntimeError(refused)
            torch.autograd.backward(
                [out], [torch.from_numpy(seed)], retain_graph=call["retain_graph"],
                create_graph=call["create_graph"],
                inputs=[names[i] for i in call["inputs"]] if call.get("inputs") else None)
        except RuntimeError as e:
            error = str(e)
        for key in list(active):
            active[key] = False
        r = client.post("/backward", json=body)
        where = f"call {k}"
        if r.status_code >= 500:
            problems.append(f"{where}: HTTP {r.status_code} {r.text[:300]}")
            break
        if error is not None:
            if r.status_code < 400:
                problems.append(f"{where}: torch raised {error!r}, HTTP {r.status_code}")
            elif not r.json().get("detail", "").endswith(error.split("\n")[0][:60]) and \
                    error.split("\n")[0][:60] not in r.json().get("detail", ""):
                problems.append(f"{where}: texts differ: torch {error!r}, HTTP "
                                f"{r.json().get('detail')!r}")
            break
        if r.status_code != 200:
            problems.append(f"{where}: torch ran, HTTP {r.status_code} {r.text[:300]}")
            break
        answer = r.json()
        for leaf in leaves:
            got = to_array(answer["grads"].get(leaf))
            if not close(got, names[leaf].grad):
                problems.append(f"{where}: {leaf}.grad HTTP {got} torch {names[leaf].grad}")
        if k == 0:
            for name in case["retain_grad"]:
                got = to_array((answer.get("retained") or {}).get(name))
                if not close(got, names[name].grad):
                    problems.append(f"{where}: retained {name} HTTP {got} torch "
                                    f"{names[name].grad}")
        session = (answer.get("session") or {}).get("id") if k == 0 else session
        if problems or session is None:
            break
    if session:
        client.delete(f"/sessions/{session}")
    return problems


# --------------------------------------------------------------------------- every table row

# names the wire reads as its own pseudo-ops (indexing syntax), not as the table's rows
WIRE_PSEUDO_OPS = {"index", "getitem", "assign", "T", "mT"}


def _wire_rows():
    """Rows whose samples can travel as a node list: differentiable, one output, arguments
    that are arrays, numbers, bools, None or lists of those (a string would read as a
    reference)."""
    from engine.ops.table import ROWS
    rows = []
    for key in sorted(ROWS):
        row = ROWS[key]
        if row.samples is None or row.multi_output or not (row.grad_fn or row.composite):
            continue
        if row.name.startswith("_") or row.creation or row.name in WIRE_PSEUDO_OPS:
            continue
        rows.append(row)
    return rows


WIRE_ROWS = _wire_rows()


def _travels(value) -> bool:
    if isinstance(value, (np.ndarray, Const)) or value is None:
        return True
    if isinstance(value, (bool, int, float)):
        return bool(np.isfinite(value))  # JSON has no inf/nan numbers
    if isinstance(value, (list, tuple)):
        return all(isinstance(v, (np.ndarray, Const)) or isinstance(v, (int, float, bool))
                   and np.isfinite(v) for v in value)
    return False


@st.composite
def table_cases(draw):
    """(row, sample, grad seed): one sample of any wire-able row of the op table."""
    row = draw(st.sampled_from(WIRE_ROWS))
    samples = row.samples(np.random.default_rng(draw(st.integers(0, 2**16))))
    samples = [s for s in samples if all(_travels(a) for a in s.args)
               and all(_travels(v) for v in s.kwargs.values())]
    if not samples:
        return None
    return row, draw(st.sampled_from(samples)), draw(st.integers(0, 2**16))


def run_table_case(client, case) -> list[str]:
    """One op sample over HTTP (as a node list, backward with a random seed) and in torch."""
    if case is None:
        return []

    def b64(arr, dtype):  # exact shapes (empty dims too) and non-finite values travel as-is
        import base64
        arr = np.asarray(arr, dtype=dtype, order="C")  # (ascontiguousarray makes 0-d 1-d)
        return {"dtype": dtype, "shape": list(arr.shape),
                "b64": base64.b64encode(arr.tobytes()).decode()}
    row, sample, seed = case
    nodes, leaves, counter = [], [], iter(range(1000))

    def wire(value):
        if isinstance(value, Const):
            arr = value.array
            dtype = {"f": f"float{arr.dtype.itemsize * 8}", "i": "int64", "u": "int64",
                     "b": "bool"}[arr.dtype.kind]
            nid = f"c{next(counter)}"
            nodes.append({"id": nid, "op": "tensor", "data": b64(arr, dtype)})
            return nid
        if isinstance(value, np.ndarray):
            nid = f"t{next(counter)}"
            if value.dtype.kind == "f":
                nodes.append({"id": nid, "op": "tensor", "requires_grad": True,
                              "data": b64(value, "float32")})
                leaves.append(nid)
            else:
                nodes.append({"id": nid, "op": "tensor", "data": b64(
                    value, "bool" if value.dtype.kind == "b" else "int64")})
            return nid
        if isinstance(value, tuple):
            return [wire(v) for v in value]
        if isinstance(value, list):
            return [wire(v) for v in value]
        return value

    args = [wire(a) for a in sample.args]
    kwargs = {k: wire(v) for k, v in sample.kwargs.items()}
    t_args = [to_torch(a) for a in sample.args]
    t_kwargs = {k: to_torch(v) for k, v in sample.kwargs.items()}
    t_leaves = [t for t in [*t_args, *t_kwargs.values()]
                if isinstance(t, torch.Tensor) and t.requires_grad]
    for v in [*t_args, *t_kwargs.values()]:
        if isinstance(v, list):
            t_leaves += [t for t in v if isinstance(t, torch.Tensor) and t.requires_grad]
    nodes.append({"id": "out", "op": row.name, "args": args, "kwargs": kwargs})
    try:
        out = torch_fn(row)(*t_args, **t_kwargs)
    except Exception as e:  # noqa: BLE001 - torch refusing is a case too
        r = client.post("/backward", json={"graph": {"nodes": nodes}, "tensors": ["out"]})
        if r.status_code >= 500 or r.status_code < 400:
            return [f"{row.name}: torch raised {e!r}, HTTP {r.status_code} {r.text[:200]}"]
        return []
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return []
    gseed = seed_value(tuple(out.shape), seed).astype(
        {torch.float64: np.float64}.get(out.dtype, np.float32))
    torch.autograd.backward([out], [torch.from_numpy(np.asarray(gseed))])
    body = {"graph": {"nodes": nodes}, "tensors": ["out"],
            "grad_tensors": [b64(gseed, str(gseed.dtype))], "encoding": "base64"}
    r = client.post("/backward", json=body)
    if r.status_code != 200:
        return [f"{row.name}: torch ran, HTTP {r.status_code} {r.text[:300]}"]
    grads = r.json()["grads"]
    problems = []
    for nid, t in zip(leaves, t_leaves):
        g = grads.get(nid)
        got = None if g is None else np.frombuffer(__import__("base64").b64decode(g["b64"]),
                                                   dtype=g["dtype"]).reshape(g["shape"])
        want = t.grad
        if got is None and want is None:
            continue
        ok = (got is not None and want is not None and got.shape == tuple(want.shape)
              and np.allclose(got, want.double().numpy(), rtol=1e-3, atol=1e-4,
                              equal_nan=True))
        if not ok:
            problems.append(f"{row.qualname if hasattr(row, 'qualname') else row.name} "
                            f"{nid}.grad HTTP {got} torch {want}")
    return problems
