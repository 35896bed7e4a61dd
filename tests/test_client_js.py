"""The JavaScript client (clients/js) against a live server: `node --test`, with expected
values computed here by torch and handed over as a JSON file."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest
import torch
from support.service_server import ROOT, server_url  # noqa: F401

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None and not os.environ.get("CI"),
                                reason="node is not installed (required when CI is set)")


def torch_expected() -> dict:
    x = torch.tensor([1., 2., 3.], requires_grad=True)
    y = torch.tensor([3., 4., 5.], requires_grad=True)
    z = torch.tensor([1., 2., 3.], requires_grad=True)
    xy = x + y
    xy.retain_grad()
    out = (xy ** 2) * (z ** 3)
    out.backward(torch.ones(3))
    apimd = {"x": x.grad.tolist(), "y": y.grad.tolist(), "z": z.grad.tolist(),
             "xy": xy.grad.tolist(), "out_fn": type(out.grad_fn).__name__,
             "out_next": [[type(f).__name__, nr] for f, nr in out.grad_fn.next_functions]}

    w, a, b = (torch.tensor(v, requires_grad=True) for v in (1., 2., 3.))
    zz = w * a + b
    zz.backward(retain_graph=True)
    first = {"w": w.grad.item()}
    zz.backward()
    accumulate = {"first": first, "second": {"w": w.grad.item(), "b": b.grad.item()}}

    t = torch.tensor([1., 2.], requires_grad=True)
    s = (t ** 2).sum()
    s.backward()
    with pytest.raises(RuntimeError) as e:
        s.backward()

    v = torch.tensor([0.5, 1.5], requires_grad=True)
    (dx,) = torch.autograd.grad((v ** 3).sum(), v, create_graph=True)
    (ddx,) = torch.autograd.grad(dx.sum(), v)
    m = torch.tensor([[1., 2., 3.], [4., 5., 6.]], requires_grad=True)
    col = m.sum(dim=0)
    col.mean().backward()
    double = {"dx": dx.tolist(), "ddx": ddx.tolist(), "m": m.grad.tolist(),
              "col_fn": type(col.grad_fn).__name__}
    # hooks: a function observes, an expression doubles; retainGrad; values of any tensor
    hx = torch.tensor([1., 2., 3.], requires_grad=True)
    h = hx * 3
    h.retain_grad()
    seen = []
    h.register_hook(lambda g: seen.append(g.tolist()))
    h.register_hook(lambda g: g * 2)
    hout = (h ** 2).sum()
    hout.backward()
    hooks = {"values": {"hout": hout.item(), "h": h.tolist(), "x": hx.tolist()},
             "seen": seen, "x": hx.grad.tolist(), "h": h.grad.tolist()}
    return {"apimd": apimd, "accumulate": accumulate, "twice_error": str(e.value),
            "double": double, "hooks": hooks}


def test_node_client(server_url):  # noqa: F811
    assert NODE is not None, "node is required when CI is set"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(torch_expected(), f)
    try:
        env = {**os.environ, "AUTOGRAD_URL": server_url, "AUTOGRAD_EXPECTED": f.name}
        run = subprocess.run([NODE, "--test", "clients/js/test/"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(f.name)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "# pass 5" in out and "# fail 0" in out and "# skipped 0" in out, out[-2000:]


TSC = pathlib.Path(ROOT, "tests", "js", "node_modules", "typescript", "bin", "tsc")


@pytest.mark.skipif(not TSC.exists() and not os.environ.get("CI"),
                    reason="typescript is not installed: cd tests/js && npm ci (required in CI)")
def test_typings_check_with_tsc(tmp_path):
    """clients/js/autograd.d.mts types the documented API: `tsc --strict` compiles a program
    that uses it (clients/js/typecheck/usage.ts), and refuses one that misuses it."""
    assert NODE is not None and TSC.exists(), "node and tests/js's typescript are required in CI"
    run = subprocess.run([NODE, str(TSC), "-p", "clients/js/typecheck"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    usage = pathlib.Path(ROOT, "clients", "js", "typecheck", "usage.ts").read_text()
    bad = pathlib.Path(ROOT, "clients", "js", "typecheck", "misuse.ts")
    try:  # beside usage.ts, so that the import resolves the same way
        bad.write_text(usage.replace("Number(await out.item())", "await out.item().data"))
        run = subprocess.run([NODE, str(TSC), "--strict", "--noEmit", "--target", "ES2022",
                              "--module", "NodeNext", "--moduleResolution", "NodeNext",
                              "--lib", "ES2022,DOM", str(bad)], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    finally:
        bad.unlink()
    assert run.returncode != 0 and "Property 'data' does not exist" in run.stdout, run.stdout


def test_readme_example_runs(server_url):  # noqa: F811
    """The README's "From JavaScript" example, as written (import path and URL adjusted)."""
    assert NODE is not None, "node is required when CI is set"
    with open(os.path.join(ROOT, "README.md")) as f:
        (block,) = re.findall(r"```js\n(.*?)```", f.read(), re.S)
    module = pathlib.Path(ROOT, "clients", "js", "autograd.mjs").as_uri()
    code = (block.replace('"./clients/js/autograd.mjs"', json.dumps(module))
            .replace("http://127.0.0.1:8000", server_url))
    with tempfile.NamedTemporaryFile("w", suffix=".mjs", delete=False) as f:
        f.write(code)
    try:
        run = subprocess.run([NODE, f.name], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(f.name)
    assert run.returncode == 0, run.stdout + run.stderr
    # what it prints is what its comments say ...
    said = [line.split("// ", 1)[1] for line in block.splitlines()
            if line.startswith("console.log(")]
    assert run.stdout.splitlines() == said
    # ... and what torch computes
    x = torch.tensor([1., 2., 3.], requires_grad=True)
    out = ((x + torch.tensor([3., 4., 5.])) ** 2 * x).sum()
    out.backward()
    dx, = torch.autograd.grad((x ** 3).sum(), x)
    numbers = [[float(v) for v in re.findall(r"-?[0-9.]+", line.split("]")[0])]
               for line in said]
    assert numbers[0] == x.grad.tolist() and numbers[2] == [out.item()]
    assert numbers[3] == dx.tolist()
    assert said[0].endswith(type(out.grad_fn).__name__)
    assert said[1] == type(out.grad_fn.next_functions[0][0]).__name__
