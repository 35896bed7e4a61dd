"""Where a small /backward's time goes, in process (no sockets, no server, no load generator).

The api.md 7-node graph (benchmarks/bodies.py's SMALL) through our app and through the
bare FastAPI floor of benchmarks/service.py, each called as ASGI apps are (scope, receive,
send), then the steps of our request one at a time: the body's parse, building the graph,
the backward, the answer, the graph hash, and the engine alone (the same graph built and
differentiated with engine calls) beside torch. Figures are this thread's CPU time per
call (the best of 7 blocks, so other processes on the machine matter little), in
microseconds; wrk's requests/s through a socket add uvicorn's HTTP work to both apps.

    python benchmarks/request_costs.py
    python benchmarks/request_costs.py --calls 20      # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
if Path(sys.path[0]).resolve() == ROOT / "benchmarks":  # `import engine` is the package,
    sys.path[0] = str(ROOT)                             # not benchmarks/engine.py

import torch  # noqa: E402

import engine  # noqa: E402
from benchmarks.bodies import SMALL  # noqa: E402
from benchmarks.service import floor_app  # noqa: E402
from service.budget import Budget  # noqa: E402
from service.calls import backward_grad  # noqa: E402
from service.http.app import create_app  # noqa: E402
from service.http.bodies import decode_body, respond  # noqa: E402
from service.run import compute, content  # noqa: E402
from service.run.workspace import Workspace  # noqa: E402
from service.schemas import BackwardRequest  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.wire.codec import Encoder  # noqa: E402

BODY = orjson.dumps(SMALL)
BLOCKS = 7
CALLS = 2000  # per block (--calls)


def cpu_us(fn) -> float:
    calls = CALLS
    for _ in range(calls // 10):
        fn()
    best = float("inf")
    for _ in range(BLOCKS):
        start = time.thread_time()
        for _ in range(calls):
            fn()
        best = min(best, time.thread_time() - start)
    return best / calls * 1e6


def asgi_us(app) -> float:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/backward",
             "raw_path": b"/backward", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(BODY)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}

    async def one():
        sent = []

        async def receive():
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message):
            sent.append(message)

        await app(dict(scope), receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"{app}: {sent}")

    async def block(calls):
        for _ in range(calls):
            await one()

    async def main():
        await block(CALLS // 10)
        best = float("inf")
        for _ in range(BLOCKS):
            start = time.thread_time()
            await block(CALLS)
            best = min(best, time.thread_time() - start)
        return best / CALLS * 1e6

    return asyncio.run(main())


def engine_graph(lib):
    data = [np.array(v, np.float32) for v in ([1, 2, 3], [3, 4, 5], [1, 2, 3], [1, 1, 1])]

    def run():
        x, y, z = (lib.tensor(a, requires_grad=True) for a in data[:3])
        out = (x + y) ** 2 * z ** 3
        lib.autograd.backward([out], [lib.tensor(data[3])])
    return run


def main() -> None:
    global CALLS
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=CALLS, help="calls per block")
    CALLS = parser.parse_args().calls
    settings = Settings(_env_file=None)
    ours = create_app(settings)
    state = ours.state
    req = BackwardRequest.model_validate(SMALL)
    nodes = list(req.graph.nodes)

    def built():
        ws = Workspace()
        ws.add_nodes(nodes, Budget(settings))
        return ws

    def walked():
        ws = built()
        compute.backward(ws, req, Budget(settings))
        return ws

    ws = walked()
    logged = backward_grad.log_nodes(nodes)
    rows = [
        ("floor app (ASGI, parse with pydantic, constant answer)", asgi_us(floor_app())),
        ("our app (ASGI, the whole request)", asgi_us(ours)),
        ("  parse: JSON + pydantic", cpu_us(lambda: decode_body(
            BODY, "application/json", None, BackwardRequest))),
        ("  run: graph, backward, answer, hash (calls.run)", cpu_us(lambda: respond(
            *backward_grad.run(state, req, "", "backward", None,
                               backward_grad.InlineBudget(settings))))),
        ("    build the graph (Workspace.add_nodes)", cpu_us(built)),
        ("    build + backward (compute.backward)", cpu_us(walked)),
        ("    the answer's tensors (leaf_grads)", cpu_us(lambda: ws.leaf_grads(Encoder()))),
        ("    graph_hash", cpu_us(lambda: content.graph_hash([logged], settings,
                                                              ws.summaries))),
        ("  engine alone: the same graph, forward + backward", cpu_us(engine_graph(engine))),
        ("  torch: the same graph, forward + backward", cpu_us(engine_graph(torch))),
    ]
    print(f"## one small /backward, CPU us per call (best of {BLOCKS} blocks of {CALLS})\n")
    print("| step | us |\n|---|---|")
    for label, us in rows:
        print(f"| {label} | {us:.1f} |")
    floor, whole = rows[0][1], rows[1][1]
    print(f"\nours / floor: {whole / floor:.2f}x the CPU per request (in process, before "
          "uvicorn's HTTP work, which adds about the same to both)")


if __name__ == "__main__":
    main()
