"""Every HTTP client gets its answer: the JDK's stock HttpClient and `curl --http2` send
`Upgrade: h2c` with their POSTs over plain http, which httptools alone would answer with
an empty body (NOTE [Upgrade: h2c] in service/http/protocol.py). The server declines the upgrade
and answers in HTTP/1.1, on the same connection as later ordinary requests."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import torch
from support.service_server import ROOT, server_url  # noqa: F401 - the live-server fixture

BODY = {"graph": {"nodes": [
    {"id": "x", "op": "tensor", "data": [1.0, 2.0, 3.0], "requires_grad": True},
    {"id": "y", "op": "mul", "args": ["x", "x"]},
    {"id": "z", "op": "sum", "args": ["y"]}]}, "tensors": ["z"]}


def _expected() -> list[float]:
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    return x.grad.tolist()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed")
    return path


def test_jdk_stock_http_client_posts(server_url, tmp_path):  # noqa: F811
    """java.net.http.HttpClient.newHttpClient() as is (HTTP/2 preferred, so Upgrade: h2c),
    three POSTs on one client: each is answered with the gradients, in HTTP/1.1."""
    javac, java = _tool("javac"), _tool("java")
    subprocess.run([javac, "-d", str(tmp_path), os.path.join(ROOT, "tests", "java",
                                                             "StockHttpClient.java")],
                   check=True, capture_output=True, timeout=120)
    body = tmp_path / "body.json"
    body.write_text(json.dumps(BODY))
    run = subprocess.run([java, "-cp", str(tmp_path), "StockHttpClient",
                          server_url + "/backward", str(body), "3"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3, run.stdout
    for line in lines:
        version, status, answer = line.split(" ", 2)
        assert (version, status) == ("HTTP_1_1", "200"), line
        assert json.loads(answer)["grads"]["x"]["data"] == _expected()


def test_curl_http2_over_plain_http(server_url):  # noqa: F811
    """`curl --http2` (Upgrade: h2c on the first request of the connection), two POSTs on
    one connection."""
    curl = _tool("curl")
    post = ["--http2", "-H", "Content-Type: application/json", "-d", json.dumps(BODY),
            server_url + "/backward"]
    run = subprocess.run([curl, "-sS", "-v", *post, "--next", *post],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Upgrade: h2c" in run.stderr  # the request really asked for the upgrade
    assert run.stderr.count("< HTTP/1.1 200") == 2, run.stderr
    answers = run.stdout.replace("}{", "}\n{").splitlines()
    assert [json.loads(a)["grads"]["x"]["data"] for a in answers] == [_expected()] * 2


def _read_answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ")[1]), json.loads(body)


def test_upgrade_header_split_across_packets_then_plain_request(server_url):  # noqa: F811
    """The head arrives in pieces (the Upgrade header cut in two), the body after it; then
    an ordinary request on the same connection: both answered."""
    body = json.dumps(BODY).encode()
    url = urlsplit(server_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(b"POST /backward HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, "
                     b"HTTP2-Settings\r\nUpg")
        time.sleep(0.05)
        sock.sendall(b"rade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                     % len(body))
        time.sleep(0.05)
        sock.sendall(body)
        status, answer = _read_answer(sock)
        assert status == 200 and answer["grads"]["x"]["data"] == _expected(), answer
        sock.sendall(b"POST /backward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        status, answer = _read_answer(sock)
        assert status == 200 and answer["grads"]["x"]["data"] == _expected(), answer
