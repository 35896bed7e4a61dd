"""A session step's cost against the session's age, in process (no HTTP, no server).

One session holds ``w`` and ``x`` (16 elements each); each step appends the three nodes of
benchmarks/service.py's session step (``h = w * x``, ``t = tanh(h)``, ``loss = sum(t)``,
rebinding the same ids) and runs backward, through ``service.calls.backward_grad.run`` as a request
would (graph building, backward, answer, graph hash, the store's byte accounting). The
figure is this thread's CPU time per step, the median of the 21 steps around step 100, 500
and 1,500; the ratio last/first says whether the cost grows with age (1.0: it does not).

    python benchmarks/session_age.py                        # this checkout, memory store
    python benchmarks/session_age.py --store redis://127.0.0.1:6379/15
    python benchmarks/session_age.py --compare /work/main   # interleaved with another
                                                            # checkout's code, in turns
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGES = (100, 500, 1500)
HALF = 10  # steps either side of each age
STEP_NODES = [{"id": "h", "op": "mul", "args": ["w", "x"]},
              {"id": "t", "op": "tanh", "args": ["h"]},
              {"id": "loss", "op": "sum", "args": ["t"]}]


def measure(store: str) -> dict[int, float]:
    """{age: median ms of CPU per step} for one session, in this process."""
    from service.calls.backward_grad import run
    from service.http.app import create_app
    from service.schemas import BackwardRequest, SessionCreate
    from service.settings import Settings

    settings = Settings(_env_file=None, store=store)
    state = create_app(settings).state
    from service.budget import Budget
    from service.calls.backward_grad import graph_nodes, log_nodes
    from service.run.workspace import Workspace
    create = SessionCreate.model_validate({"graph": {"nodes": [
        {"id": "w", "op": "tensor", "data": [0.1] * 16, "requires_grad": True},
        {"id": "x", "op": "tensor", "data": [1.0] * 16}]}})
    ws = Workspace()  # as POST /sessions does
    nodes = graph_nodes(create, settings)
    ws.add_nodes(nodes, Budget(settings))
    session = state.store.create("", ws)
    session.record("nodes", nodes=log_nodes(nodes))
    state.store.update(session)
    body = {"session": session.id, "tensors": "loss", "graph": {"nodes": STEP_NODES}}
    times = []
    for _ in range(AGES[-1] + HALF + 1):
        req = BackwardRequest.model_validate(body)
        start = time.thread_time()
        run(state, req, "", "backward")
        times.append(time.thread_time() - start)
    state.store.delete(session.id, "")
    return {age: 1000 * statistics.median(times[age - HALF:age + HALF + 1]) for age in AGES}


def in_subprocess(code: Path, store: str) -> dict[int, float]:
    """``measure`` with the service and engine of the checkout at ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run([sys.executable, __file__, "--worker", str(code), "--store", store], env=env,
                         cwd=code, capture_output=True, text=True, check=True)
    return {int(k): v for k, v in json.loads(out.stdout.splitlines()[-1]).items()}


def line(name: str, figures: dict[int, float]) -> str:
    cells = "  ".join(f"{figures[a]:6.2f}" for a in AGES)
    return f"{name:<28} {cells}   {figures[AGES[-1]] / figures[AGES[0]]:5.2f}x"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--store", default="memory")
    p.add_argument("--compare", type=Path, help="another checkout to run in turns with this one")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # the code to import
    args = p.parse_args()
    if args.worker:
        sys.path[0] = str(args.worker)  # (this script's folder: benchmarks/engine.py)
        print(json.dumps(measure(args.store)))
        return
    codes = [("this checkout", ROOT)] + ([(str(args.compare), args.compare)]
                                         if args.compare else [])
    print(f"store: {args.store}; CPU ms per step (median of {2 * HALF + 1} steps), "
          f"medians of {args.runs} runs taken in turns\n")
    print(f"{'code':<28} " + "  ".join(f"{'@' + str(a):>6}" for a in AGES) + "   last/first")
    runs: dict[str, list] = {name: [] for name, _ in codes}
    for _ in range(args.runs):
        for name, code in codes:
            runs[name].append(in_subprocess(code, args.store))
    for name, _ in codes:
        print(line(name, {a: statistics.median(r[a] for r in runs[name]) for a in AGES}))


if __name__ == "__main__":
    main()
