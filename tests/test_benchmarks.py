"""The engine benchmark still runs: a smoke run at its smallest sizes (speed itself is
measured by running the script, never asserted in a test)."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "engine.py"


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--rounds", "1",
                           "--repeat", "1", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rows(out: str) -> dict[str, str]:
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("workload"))
    return {line.split()[0]: line for line in lines[header + 1:] if line.strip()}


def test_every_workload_gets_a_row_with_ratios():
    rows = _rows(_run())
    assert set(rows) == {"chain", "mlp", "elem", "hvp", "mvsum"}
    for name, row in rows.items():
        # torch ms, engine ms, "engine/torch (range)", hips ms, hips/torch, engine/hips
        assert re.search(r"\d+\.\d+x \(\d+\.\d+-\d+\.\d+\)", row), (name, row)


def test_threads_and_only_reach_both_libraries():
    out = _run("--threads", "1", "--only", "mlp")
    assert "threads: torch 1, NumPy's BLAS 1, the engine's elementwise ops 1;" in out
    assert set(_rows(out)) == {"mlp"}


def test_the_request_cost_breakdown_runs():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "request_costs.py"),
                           "--calls", "20"], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^\| (.+?) \| (\d+\.\d) \|$", done.stdout, re.M)
    assert len(rows) == 10 and all(float(us) > 0 for _, us in rows), done.stdout
    assert re.search(r"ours / floor: \d+\.\d\dx", done.stdout)
