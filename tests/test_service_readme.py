"""The README's curl examples, run against the live server: each answers 200 with JSON."""

import json
import os
import re
import shutil
import subprocess

import pytest

from service.settings import Settings

pytest_plugins = ["support.service_server"]  # the fixtures: a live server (api, server_url)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md")).read()
BLOCKS = [b for b in re.findall(r"```bash\n(.*?)```", README, re.S) if "curl " in b]


def test_readme_has_curl_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("block", BLOCKS, ids=range(len(BLOCKS)))
def test_readme_curl_example(server_url, block, tmp_path):
    out = tmp_path / "answer.json"
    script = block.replace("http://127.0.0.1:8000", server_url)
    assert script.count("curl ") == 1
    script = script.replace("curl ", f"curl -sS -o {out} -w '%{{http_code}}' ", 1)
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "200", out.read_text()[:1000]
    answer = json.loads(out.read_text())
    assert "grads" in answer


def test_readme_lists_every_setting():
    for name in Settings.model_fields:
        assert f"`AUTOGRAD_{name.upper()}`" in README, name


def test_gc_freeze_setting():
    """AUTOGRAD_GC_FREEZE: serving starts with the startup heap frozen (out of the cyclic
    GC's full collections); off, nothing is frozen."""
    import gc

    from fastapi.testclient import TestClient

    from service.main import create_app
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
