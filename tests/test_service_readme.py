"""The README's curl examples, run against the live server: each answers 200, and the part
of the answer its `# answers` line shows is what the server says and what torch computes
for the same program."""

import json
import math
import os
import re
import shutil
import subprocess

import pytest
import torch
from support.service_server import server_url, torch_build  # noqa: F401 - the live server

from service.settings import Settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()
BLOCKS = [b for b in re.findall(r"```bash\n(.*?)```", README, re.S) if "curl " in b]


SESSION = '"session": "s_..."'  # an example that continues the one before it


def test_readme_has_curl_examples():
    assert len(BLOCKS) >= 4


def test_every_curl_example_states_its_answer():
    for block in BLOCKS:
        assert len(re.findall(r"^# answers \{", block, re.M)) == 1, block


def expected(block: str) -> dict:
    return json.loads(re.search(r"^# answers (.*)$", block, re.M).group(1))


def contains(answer, part, path="answer") -> None:
    """``part`` is a sub-document of ``answer``; numbers agree to the digits ``part`` shows
    (the README rounds to 4 decimals)."""
    if isinstance(part, dict):
        assert isinstance(answer, dict), (path, answer)
        for k, v in part.items():
            assert k in answer, (path, k, answer)
            contains(answer[k], v, f"{path}.{k}")
    elif isinstance(part, list):
        assert isinstance(answer, list) and len(answer) == len(part), (path, answer, part)
        for k, (a, p) in enumerate(zip(answer, part)):
            contains(a, p, f"{path}[{k}]")
    elif isinstance(part, float) and not isinstance(answer, bool):
        assert math.isclose(answer, part, rel_tol=1e-4, abs_tol=1e-4), (path, answer, part)
    else:
        assert answer == part, (path, answer, part)


def run_curl(block: str, url: str, session: str | None, out) -> dict:
    script = block.replace("http://127.0.0.1:8000", url)
    if session is not None:
        script = script.replace(SESSION, f'"session": "{session}"')
    assert script.count("curl ") == 1
    script = script.replace("curl ", f"curl -sS -o {out} -w '%{{http_code}}' ", 1)
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "200", out.read_text()[:1000]
    return json.loads(out.read_text())


def request_body(block: str) -> dict:
    return json.loads(re.search(r"-d '(.*?)'", block, re.S).group(1))


def torch_answer(body: dict, names: dict) -> dict:
    """The same request run with torch: ``names`` is the session's namespace."""
    if "graph" in body:
        names.update(torch_build(body["graph"]["nodes"]))
    if "source" in body:
        exec(body["source"], {"torch": torch}, names)  # the README's own torch program
    as_list = lambda v: [v] if isinstance(v, str) else v  # noqa: E731
    value = lambda t: {"data": t.tolist()} if t is not None else None  # noqa: E731
    if "tensors" in body:
        for name in body.get("retain_grad", []):
            names[name].retain_grad()
        seeds = body.get("grad_tensors")
        torch.autograd.backward([names[n] for n in as_list(body["tensors"])],
                                None if seeds is None else [torch.tensor(g) for g in seeds],
                                retain_graph=body.get("retain_graph"))
        return {"grads": {n: value(t.grad) for n, t in names.items()
                          if t.is_leaf and t.requires_grad},
                "retained": {n: value(names[n].grad) for n in body.get("retain_grad", [])}}
    grads = torch.autograd.grad([names[n] for n in as_list(body["outputs"])],
                                [names[n] for n in as_list(body["inputs"])],
                                create_graph=body.get("create_graph", False))
    names.update(zip(body.get("as", []), grads))
    return {"grads": [value(g) for g in grads]}


def torch_part(part):
    """What torch is asked about in an `# answers` line: the tensors' data (not the
    session, nor shapes and dtypes, which the server's answer is checked for)."""
    if isinstance(part, dict):
        return {k: torch_part(v) for k, v in part.items()
                if k not in ("session", "shape", "dtype")}
    if isinstance(part, list):
        return [torch_part(v) for v in part]
    return part


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("k", range(len(BLOCKS)))
def test_readme_curl_example(server_url, k, tmp_path):  # noqa: F811
    chain = [k]
    while SESSION in BLOCKS[chain[0]]:  # run the example it continues first
        chain.insert(0, chain[0] - 1)
    session, names = None, {}
    for j in chain:
        block = BLOCKS[j]
        answer = run_curl(block, server_url, session, tmp_path / f"answer{j}.json")
        assert "grads" in answer
        session = (answer.get("session") or {}).get("id", session)
        oracle = torch_answer(request_body(block), names)
    contains(answer, expected(block))
    contains(oracle, torch_part(expected(block)), "torch")


def test_readme_lists_every_setting():
    for name in Settings.model_fields:
        assert f"`AUTOGRAD_{name.upper()}`" in README, name


def test_gc_freeze_setting():
    """AUTOGRAD_GC_FREEZE: serving starts with the startup heap frozen (out of the cyclic
    GC's full collections); off, nothing is frozen."""
    import gc

    from fastapi.testclient import TestClient

    from service.http.app import create_app
    gc.unfreeze()
    try:
        with TestClient(create_app(Settings(_env_file=None, gc_freeze=False))) as c:
            assert c.get("/healthz").status_code == 200
            assert gc.get_freeze_count() == 0
        with TestClient(create_app(Settings(_env_file=None, gc_freeze=True))) as c:
            assert c.get("/healthz").status_code == 200
            assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
