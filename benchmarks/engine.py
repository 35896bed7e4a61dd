"""Engine speed beside PyTorch (CPU, same thread count) and HIPS autograd, in one run.

    python benchmarks/engine.py [--rounds 3] [--repeat 5] [--quick] [--device cuda] [--only mlp ...]
                                [--threads 1]

Prints the median time of each workload (forward + backward) and the ratio to torch. Each
round times torch, the engine and HIPS one after the other; a ratio is the median of the
rounds' ratios, with their range: this machine has slow phases of seconds, which a round
mostly sees whole, so ratios within a round are steadier than separate medians.
Workloads (from the engine issue):
  chain    h = tanh(h * 1.0001 + 0.0001), 15,000 times on a one-element tensor (per-op cost)
  mlp      784-512-512-10 tanh MLP, batch 256, cross-entropy
  elem     sum(sin(x) * exp(-x**2) + x / 3) on 1e7 float32
  hvp      Hessian-vector product of sum(tanh(W @ x)**2), W 1000x1000, by double backward
  mvsum    gradient of sum(W @ x), W 1000x1000 (a broadcast gradient into a matrix product)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def _threads_asked() -> int | None:
    """--threads N, read before NumPy loads: OpenBLAS fixes its thread count at load."""
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return None


THREADS_ASKED = _threads_asked()
if THREADS_ASKED is not None:  # NumPy's BLAS (the engine's and HIPS's) as torch's
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(THREADS_ASKED)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine  # noqa: E402

THREADS = THREADS_ASKED or os.cpu_count() or 1
WORKLOADS = ("chain", "mlp", "elem", "hvp", "mvsum")


def timed(fn, repeat, min_sample=0.05):
    """Median seconds per call. A sample runs the workload enough times to last at least
    ``min_sample`` seconds, so sub-millisecond workloads (mlp, hvp) are not timer noise."""
    fn()  # warm up
    t = time.perf_counter()
    fn()
    once = time.perf_counter() - t
    inner = max(1, int(min_sample / max(once, 1e-9)))
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner)
    return statistics.median(times)


# ---------------------------------------------------------------- the engine and torch

def chain(mod, n, kw):
    def run():
        h = mod.tensor([0.5], requires_grad=True, **kw)
        x = h
        for _ in range(n):
            x = (x * 1.0001 + 0.0001).tanh()
        x.sum().backward()
    return run


def mlp(mod, F, data, kw):
    x, y, ws = data
    params = [mod.tensor(w, requires_grad=True, **kw) for w in ws]
    xt, yt = mod.tensor(x, **kw), mod.tensor(y, **kw)

    def run():
        w1, b1, w2, b2, w3, b3 = params
        h = (xt @ w1 + b1).tanh()
        h = (h @ w2 + b2).tanh()
        loss = F.cross_entropy(h @ w3 + b3, yt)
        loss.backward()
    return run


def elem(mod, x_np, kw):
    def run():
        x = mod.tensor(x_np, requires_grad=True, **kw)
        (mod.sin(x) * mod.exp(-x ** 2) + x / 3).sum().backward()
    return run


def hvp(mod, autograd, W_np, x_np, v_np, kw):
    W, v = mod.tensor(W_np, **kw), mod.tensor(v_np, **kw)

    def run():
        x = mod.tensor(x_np, requires_grad=True, **kw)
        y = (mod.tanh(W @ x) ** 2).sum()
        (g,) = autograd.grad(y, x, create_graph=True)
        (hv,) = autograd.grad((g * v).sum(), x)
        return hv
    return run


def mvsum(mod, W_np, x_np, kw):
    W = mod.tensor(W_np, **kw)

    def run():
        x = mod.tensor(x_np, requires_grad=True, **kw)
        (W @ x).sum().backward()
    return run


# ---------------------------------------------------------------- HIPS autograd

def hips_workloads(data, x_np, W_np, xv_np, v_np, n_chain):
    import autograd
    import autograd.numpy as anp

    def chain_run():
        def f(h):
            for _ in range(n_chain):
                h = anp.tanh(h * 1.0001 + 0.0001)
            return anp.sum(h)
        autograd.grad(f)(np.array([0.5], dtype=np.float32))

    x, y, ws = data

    def mlp_loss(ws):
        w1, b1, w2, b2, w3, b3 = ws
        h = anp.tanh(x @ w1 + b1)
        h = anp.tanh(h @ w2 + b2)
        logits = h @ w3 + b3
        m = anp.max(logits, axis=1, keepdims=True)
        logp = logits - m - anp.log(anp.sum(anp.exp(logits - m), axis=1, keepdims=True))
        return -anp.mean(logp[np.arange(len(y)), y])

    def elem_run():
        autograd.grad(lambda x: anp.sum(anp.sin(x) * anp.exp(-x ** 2) + x / 3))(x_np)

    def hvp_run():
        f = lambda x: anp.sum(anp.tanh(W_np @ x) ** 2)
        autograd.grad(lambda x: anp.sum(autograd.grad(f)(x) * v_np))(xv_np)

    def mvsum_run():
        autograd.grad(lambda x: anp.sum(W_np @ x))(xv_np)

    return {"chain": chain_run, "mlp": lambda: autograd.grad(mlp_loss)(list(ws)),
            "elem": elem_run, "hvp": hvp_run, "mvsum": mvsum_run}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5, help="samples per engine per round")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: the engine on CuPy beside torch on CUDA (HIPS is CPU-only)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch's threads, NumPy's BLAS threads and the engine's "
                             "(default: torch and the engine take every core, NumPy's BLAS "
                             "its own default)")
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, default=WORKLOADS,
                        help="time these workloads only")
    args = parser.parse_args()
    import torch
    import torch.nn.functional as tF
    torch.set_num_threads(THREADS)
    engine.set_num_threads(THREADS)  # NOTE [parallel elementwise]: the same threads as torch

    rng = np.random.default_rng(0)
    n_chain = 1500 if args.quick else 15000
    n_elem = 100_000 if args.quick else 10_000_000
    n_hvp = 100 if args.quick else 1000
    sizes = [784, 512, 512, 10]
    ws = []
    for a, b in zip(sizes, sizes[1:]):
        ws += [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32),
               np.zeros(b, dtype=np.float32)]
    data = (rng.standard_normal((256, 784)).astype(np.float32), rng.integers(0, 10, 256), ws)
    x_np = rng.standard_normal(n_elem).astype(np.float32)
    W_np = (rng.standard_normal((n_hvp, n_hvp)) / np.sqrt(n_hvp)).astype(np.float32)
    xv_np = rng.standard_normal(n_hvp).astype(np.float32)
    v_np = rng.standard_normal(n_hvp).astype(np.float32)

    kw = {"device": args.device} if args.device == "cuda" else {}
    ours = {"chain": chain(engine, n_chain, kw), "mlp": mlp(engine, engine.F, data, kw),
            "elem": elem(engine, x_np, kw),
            "hvp": hvp(engine, engine.autograd, W_np, xv_np, v_np, kw),
            "mvsum": mvsum(engine, W_np, xv_np, kw)}
    theirs = {"chain": chain(torch, n_chain, kw), "mlp": mlp(torch, tF, data, kw),
              "elem": elem(torch, x_np, kw),
              "hvp": hvp(torch, torch.autograd, W_np, xv_np, v_np, kw),
              "mvsum": mvsum(torch, W_np, xv_np, kw)}
    hips = {}
    if args.device == "cuda":  # a call ends when the device has finished its work
        import cupy
        ours = {k: _synced(f, cupy.cuda.Device().synchronize) for k, f in ours.items()}
        theirs = {k: _synced(f, torch.cuda.synchronize) for k, f in theirs.items()}
        print(f"device: {torch.cuda.get_device_name()} (torch CUDA, the engine on CuPy "
              f"{cupy.__version__}; HIPS runs on the CPU only: not timed)")
    else:
        try:
            hips = hips_workloads(data, x_np, W_np, xv_np, v_np, n_chain)
        except ImportError:
            pass

    blas = args.threads if args.threads is not None else "its default"
    print(f"threads: torch {torch.get_num_threads()}, NumPy's BLAS {blas}, the engine's "
          f"elementwise ops {engine.get_num_threads()}; {args.rounds} "
          f"rounds of {args.repeat} samples; medians (ratios: median of the rounds', range)")
    print(f"{'workload':10} {'torch ms':>10} {'engine ms':>10} {'engine/torch':>20} "
          f"{'hips ms':>10} {'hips/torch':>11} {'engine/hips':>20}")
    for name in args.only:
        rounds = []  # (torch, engine, hips) seconds
        for _ in range(args.rounds):
            t_torch = timed(theirs[name], args.repeat)
            t_ours = timed(ours[name], args.repeat)
            t_hips = timed(hips[name], args.repeat) if name in hips else float("nan")
            rounds.append((t_torch, t_ours, t_hips))
        t_torch, t_ours, t_hips = (statistics.median(r[k] for r in rounds) for k in range(3))
        hips_torch = statistics.median(h / t for t, _, h in rounds)
        print(f"{name:10} {_ms(t_torch):>10} {_ms(t_ours):>10} "
              f"{_ratio([o / t for t, o, _ in rounds]):>20} "
              f"{_ms(t_hips) if name in hips else '-':>10} "
              f"{f'{hips_torch:.2f}x' if name in hips else '-':>11} "
              f"{_ratio([o / h for _, o, h in rounds]):>20}")


def _synced(fn, synchronize):
    def run():
        fn()
        synchronize()
    return run


def _ratio(values: list[float]) -> str:
    """The median of the rounds' ratios and their range: '0.91x (0.85-0.97)'."""
    if any(v != v for v in values):  # nan: no HIPS
        return "-"
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


def _ms(seconds: float) -> str:
    """Milliseconds, with the digits that sub-millisecond workloads need."""
    ms = seconds * 1e3
    return f"{ms:.1f}" if ms >= 10 else f"{ms:.3f}"


if __name__ == "__main__":
    main()
