"""The README's Python SDK example, as written (the URL adjusted): what it prints is what
its comments say, and what the same program prints with torch itself."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import textwrap

import torch
from support.service_server import ROOT, server_url  # noqa: F401 - the live server

sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
import autograd_client  # noqa: E402, F401 - the example imports it

with open(os.path.join(ROOT, "README.md")) as f:
    SECTION = f.read().split("### From Python", 1)[1].split("\n### ", 1)[0]
(BLOCK,) = re.findall(r"```python\n(.*?)```", SECTION, re.S)


def printed(code: str, namespace: dict) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, namespace)
    return out.getvalue().splitlines()


def commented() -> list[str]:
    """The `# ...` comment of every print line: what the example says it prints."""
    return [re.search(r"\)\s+# (.*)$", line).group(1) for line in BLOCK.splitlines()
            if line.strip().startswith("print(")]


def test_readme_sdk_example_prints_what_it_says(server_url):  # noqa: F811
    got = printed(BLOCK.replace("http://127.0.0.1:8000", server_url), {})
    assert got == commented()


def test_readme_sdk_example_is_torchs_program():
    """The body of the `with` block, run with torch as `torch`, prints the same."""
    head, body = BLOCK.split(" as torch:\n", 1)
    assert "autograd_client.connect(" in head
    assert printed(textwrap.dedent(body), {"torch": torch}) == commented()
