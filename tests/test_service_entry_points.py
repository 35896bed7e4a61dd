"""Where a newcomer lands: the startup log names the docs and the playground, and `GET /`
leads to the docs. A real `python -m service` is started and its stderr read."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
from support.service_server import ROOT, TEST_ENV, free_port

from service.http.app import create_app


def test_startup_log_names_docs_and_playground_and_root_redirects():
    port = free_port()
    env = {**os.environ, **TEST_ENV,
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "service", "--host", "127.0.0.1",
                             "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, "the server exited: " + "".join(lines)
            lines.append(line)
            if "Uvicorn running on" in line:
                break
        log = "".join(lines)
        urls = dict(re.findall(r"(docs|playground) at (http://\S+?)[,\s]", log))
        assert urls == {"docs": f"http://127.0.0.1:{port}/docs",
                        "playground": f"http://127.0.0.1:{port}/playground"}, log
        for url in urls.values():  # the printed addresses answer
            r = httpx.get(url, timeout=10)
            assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        root = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert root.status_code == 307 and root.headers["location"] == "/docs"
        assert httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=True,
                         timeout=10).url == urls["docs"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


def test_root_is_not_part_of_the_contract():
    """GET / is a convenience for browsers, not an operation of the API."""
    assert "/" not in create_app().openapi()["paths"]
