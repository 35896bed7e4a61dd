"""`autograd-service` / `python -m service`: run the app under uvicorn."""

from __future__ import annotations

import argparse
import copy
import sys

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from .http.protocol import HttpToolsOrH11Protocol
from .http.quotas import install_log_ids
from .operations.probes import check_port
from .sessions import make_store
from .settings import Settings


def startup_banner(host: str, port: int) -> str:
    """Where a newcomer goes first: the docs and the playground (printed at startup)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    return (f"autograd-service: docs at {base}/docs (also {base}/redoc), playground at "
            f"{base}/playground, OpenAPI at {base}/openapi.json")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="autograd-service", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-level", default="info")
    args = p.parse_args(argv)
    settings = Settings()
    if args.workers > 1 and settings.store == "memory":
        print("autograd-service: --workers > 1 needs a shared session store: the in-memory "
              "store lives in one process, so a session made by one worker would be unknown "
              "to the others. Set AUTOGRAD_STORE=redis://host:6379/0 (or run one worker).",
              file=sys.stderr)
        return 2
    try:
        make_store(settings)  # fail here, with a sentence, rather than in every worker
        if settings.probe_port:
            if settings.probe_port == args.port:
                raise ValueError(f"AUTOGRAD_PROBE_PORT must differ from --port ({args.port})")
            check_port(settings.probe_host, settings.probe_port)
    except (NotImplementedError, ValueError) as e:
        print(f"autograd-service: {e}", file=sys.stderr)
        return 2
    install_log_ids()  # every record gets request_id ("-" outside a request)
    log_config = copy.deepcopy(LOGGING_CONFIG)  # the access line names the request too
    log_config["formatters"]["access"]["fmt"] = (
        '%(levelprefix)s [request %(request_id)s] %(client_addr)s - "%(request_line)s" '
        "%(status_code)s")
    print(startup_banner(args.host, args.port), file=sys.stderr, flush=True)
    uvicorn.run("service.http.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, log_config=log_config,
                timeout_graceful_shutdown=settings.shutdown_seconds,
                http=HttpToolsOrH11Protocol)  # NOTE [Upgrade: h2c]
    return 0


if __name__ == "__main__":
    sys.exit(main())
