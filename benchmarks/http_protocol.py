"""The cost of service/protocol.py's HttpToolsOrH11Protocol (NOTE [Upgrade: h2c]) per
request, against uvicorn's plain httptools and h11 protocols: a trivial ASGI app (so the
protocol is most of the work) is served by each in turn, and one keep-alive connection sends
small POSTs; the server process's CPU time per request is what is compared (wall time on a
shared machine is mostly other processes' noise).

    python benchmarks/http_protocol.py                 # 3 rounds of 2,000 requests each
    python benchmarks/http_protocol.py --requests 5000 --rounds 5
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = """
import sys
import uvicorn
from service.protocol import HttpToolsOrH11Protocol

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"n":%d}' % len(body)})

http = {"ours": HttpToolsOrH11Protocol}.get(sys.argv[1], sys.argv[1])
uvicorn.run(app, port=int(sys.argv[2]), log_level="warning", access_log=False, http=http)
"""
BODY = b'{"graph": {"nodes": [{"id": "x", "op": "tensor", "data": [1, 2, 3]}]}, "tensors": "x"}'
REQUEST = (b"POST /backward HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(sock: socket.socket) -> None:
    sock.sendall(REQUEST)
    data = b""
    while not data.endswith(b"}"):
        data += sock.recv(65536)


def measure(protocol: str, requests: int) -> float:
    """Server CPU microseconds per request."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, protocol, str(port)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        for _ in range(600):
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.1)
        with sock:
            for _ in range(200):  # warm up
                one(sock)
            before = cpu_seconds(proc.pid)
            for _ in range(requests):
                one(sock)
            return (cpu_seconds(proc.pid) - before) / requests * 1e6
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    results: dict[str, list[float]] = {"httptools": [], "ours": [], "h11": []}
    for _ in range(args.rounds):  # interleaved, so slow phases of the machine hit all three
        for protocol, runs in results.items():
            runs.append(measure(protocol, args.requests))
    for protocol, runs in results.items():
        print(f"{protocol:10s} server CPU per request: median {statistics.median(runs):6.1f} us"
              f"  (rounds: {', '.join(f'{r:.1f}' for r in runs)})")


if __name__ == "__main__":
    main()
