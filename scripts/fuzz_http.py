"""The long differential-fuzzing run: random graphs over HTTP vs torch (tests/support/).

    python scripts/fuzz_http.py --examples 2000            # starts its own server
    python scripts/fuzz_http.py --url http://127.0.0.1:8000 --examples 500
    python scripts/fuzz_http.py --table --examples 3000     # every op-table row

Prints each disagreement with the case (a JSON line to paste into a regression test)."""

import argparse
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import httpx  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from support.fuzz_graphs import cases, run_case, run_table_case, table_cases  # noqa: E402
from support.service_server import running_server  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--table", action="store_true",
                    help="one sample of any op-table row per example, instead of random graphs")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    found = []

    def fuzz(client):
        @settings(max_examples=args.examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=table_cases() if args.table else cases())
        def one(case):
            problems = (run_table_case if args.table else run_case)(client, case)
            if problems:
                found.append(case)
                shown = case if not args.table else {"row": case[0].name, "args": repr(case[1])}
                print(json.dumps({"problems": problems, "case": shown}), flush=True)

        if args.seed is not None:
            one = __import__("hypothesis").seed(args.seed)(one)
        one()

    if args.url:
        with httpx.Client(base_url=args.url, timeout=60) as client:
            fuzz(client)
    else:
        with running_server() as url, httpx.Client(base_url=url, timeout=60) as client:
            fuzz(client)
    print(f"{args.examples} examples, {len(found)} disagreements", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
