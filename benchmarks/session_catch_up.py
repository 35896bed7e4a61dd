"""A cold replica's catch-up with a long session, with and without snapshots (NOTE [bounded
replay]), in process over a real redis-server (started here on a free port unless --store).

Replica A builds a session of N log entries through ``service.calls.backward_grad.run``, as
requests would, with ``snapshot_every`` 64, in one of two workloads:

* ``grow``: each step is benchmarks/session_age.py's (three nodes of 16 elements rebinding
  ``h``, ``t``, ``loss``, then a backward), two entries; the workspace grows with the log
  (a rebound tensor stays in its graph), so a snapshot holds every step's objects;
* ``repeat``: one graph (``tanh(x @ w1) @ w2``, 64x256 and 256x256), then backward calls
  with ``retain_graph`` (accumulating ``.grad``), one entry each: the workspace stays the
  same size whatever the log's length.

Then a
fresh store (a replica that never saw the session) takes the session's lock, which catches
up: *before* with snapshots ignored (the whole log run), *after* loading the newest snapshot
and running only the entries past it. Figures: wall time of the catch-up (the Redis round
trips included) and this thread's CPU time, best of ``--repeat``; entries run; and what a
snapshot adds to the call that writes it (CPU of those calls minus the median call's).

    OPENBLAS_NUM_THREADS=1 python benchmarks/session_catch_up.py   # N = 1,000 and 5,000
    python benchmarks/session_catch_up.py --entries 200 --repeat 1
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STEP_NODES = [{"id": "h", "op": "mul", "args": ["w", "x"]},
              {"id": "t", "op": "tanh", "args": ["h"]},
              {"id": "loss", "op": "sum", "args": ["t"]}]
EVERY = 64


def _leaf(name: str, shape: tuple, grad: bool) -> dict:
    values = ((np.arange(np.prod(shape)) % 7 - 3) / 50).reshape(shape)
    return {"id": name, "op": "tensor", "data": values.tolist(), "requires_grad": grad}


WORKLOADS = {
    "grow": ([{"id": "w", "op": "tensor", "data": [0.1] * 16, "requires_grad": True},
              {"id": "x", "op": "tensor", "data": [1.0] * 16}],
             {"tensors": "loss", "graph": {"nodes": STEP_NODES}}, 2),
    "repeat": ([_leaf("x", (64, 256), False), _leaf("w1", (256, 256), True),
                _leaf("w2", (256, 64), True),
                {"id": "xw", "op": "matmul", "args": ["x", "w1"]},
                {"id": "h", "op": "tanh", "args": ["xw"]},
                {"id": "y", "op": "matmul", "args": ["h", "w2"]},
                {"id": "loss", "op": "sum", "args": ["y"]}],
               {"tensors": "loss", "retain_graph": True}, 1),
}


def build(store_url: str, entries: int, workload: str) -> tuple[str, list, list]:
    """A session of ``entries`` log entries; (id, CPU ms of the calls that wrote a
    snapshot, CPU ms of the others)."""
    from service.budget import Budget
    from service.calls.backward_grad import graph_nodes, log_nodes, run
    from service.http.app import create_app
    from service.run.workspace import Workspace
    from service.schemas import BackwardRequest, SessionCreate
    from service.settings import Settings

    settings = Settings(_env_file=None, store=store_url, snapshot_every=EVERY,
                        max_session_calls=entries + 10)
    state = create_app(settings).state
    start_nodes, step, per_step = WORKLOADS[workload]
    create = SessionCreate.model_validate({"graph": {"nodes": start_nodes}})
    ws = Workspace()
    nodes = graph_nodes(create, settings)
    ws.add_nodes(nodes, Budget(settings))
    session = state.store.create("", ws)
    session.record("nodes", nodes=log_nodes(nodes))
    state.store.update(session)
    body = {"session": session.id, **step}
    writing, plain = [], []
    for _ in range((entries - 1) // per_step):
        written = state.store.snapshots["written"]
        start = time.thread_time()
        run(state, BackwardRequest.model_validate(body), "", "backward")
        ms = (time.thread_time() - start) * 1000
        (writing if state.store.snapshots["written"] > written else plain).append(ms)
    return session.id, writing, plain


def catch_up(store_url: str, sid: str, use_snapshots: bool) -> tuple[float, float, int]:
    """(wall ms, CPU ms, entries run) for a replica that never saw the session."""
    from service.sessions.redis_store import RedisStore
    from service.settings import Settings

    # a snapshot is loaded only when the replica is more than snapshot_every behind
    settings = Settings(_env_file=None, store=store_url, compute_seconds=3600,
                        snapshot_every=EVERY if use_snapshots else 10**9)
    store = RedisStore(settings)
    session = store.get(sid, "")
    wall, cpu = time.perf_counter(), time.thread_time()
    with session.lock:
        pass
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    return wall * 1000, cpu * 1000, store.replayed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--entries", type=int, nargs="+", default=[1000, 5000])
    p.add_argument("--workloads", nargs="+", default=sorted(WORKLOADS), choices=WORKLOADS)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--store", help="a Redis URL (default: a redis-server started here)")
    args = p.parse_args()
    proc = None
    url = args.store
    if url is None:
        if shutil.which("redis-server") is None:
            sys.exit("redis-server is not installed (or pass --store redis://...)")
        port = free_port()
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no"],
                                stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.3)
    try:
        print("| workload | log entries | catch-up | wall ms | CPU ms | entries run |\n"
              "| --- | --- | --- | --- | --- | --- |")
        costs = []
        for workload in args.workloads:
            for n in args.entries:
                sid, writing, plain = build(url, n, workload)
                for use in (False, True):  # alternating, best of --repeat each
                    runs = [catch_up(url, sid, use) for _ in range(args.repeat)]
                    wall = min(r[0] for r in runs)
                    cpu = min(r[1] for r in runs)
                    name = "snapshot + tail" if use else "whole log"
                    print(f"| {workload} | {n:,} | {name} | {wall:.0f} | {cpu:.0f} | "
                          f"{runs[0][2]} |", flush=True)
                costs.append((workload, n, writing, plain))
        for workload, n, writing, plain in costs:
            base = statistics.median(plain)
            extra = statistics.median(w - base for w in writing) if writing else float("nan")
            print(f"{workload}, {n:,} entries: a call {base:.2f} ms CPU (median); the "
                  f"{len(writing)} calls that wrote a snapshot {extra:.2f} ms more (median)")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
