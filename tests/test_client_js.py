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
    return {"apimd": apimd, "accumulate": accumulate, "twice_error": str(e.value),
            "double": double}


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
    assert "# pass 4" in out and "# fail 0" in out and "# skipped 0" in out, out[-2000:]


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
    x = torch.tensor([1., 2., 3.], requires_grad=True)
    out = ((x + torch.tensor([3., 4., 5.])) ** 2 * x).sum()
    out.backward()
    first = run.stdout.splitlines()[0]
    assert [float(v) for v in re.findall(r"[-0-9.]+", first.split("]")[0])] == x.grad.tolist()
    assert type(out.grad_fn).__name__ in first
