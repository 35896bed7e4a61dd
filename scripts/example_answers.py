"""Writes service/http/example_answers.json: the answer to each named example of
service/http/examples.py, as the service gives it (run after changing an example;
tests/test_openapi_examples.py checks every answer against a live server, and the gradients
against torch).

    python scripts/example_answers.py
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "service" / "http" / "example_answers.json"
if not OUT.exists():  # service.http.examples reads it: start from an empty table
    OUT.write_text("{}\n")

from fastapi.testclient import TestClient  # noqa: E402

from service.http.app import create_app  # noqa: E402
from service.http.examples import REQUESTS, placeholders  # noqa: E402
from service.settings import Settings  # noqa: E402

PATHS = {"backward": "/backward", "grad": "/grad", "gradcheck": "/gradcheck",
         "gradgradcheck": "/gradgradcheck", "create_session": "/sessions",
         **{f"functional_{k}": f"/functional/{k}"
            for k in ("vjp", "jvp", "jacobian", "hessian", "hvp", "vhp")}}


def main() -> None:
    app = create_app(Settings(_env_file=None, api_keys=[], cors_origins=[]))
    answers = {}
    with TestClient(app) as client:
        for op, named in REQUESTS.items():
            for name, (_, request, status) in named.items():
                r = client.post(PATHS[op], content=json.dumps(request),
                                headers={"Content-Type": "application/json"})
                assert r.status_code == status, (op, name, r.status_code, r.text)
                answers.setdefault(op, {})[name] = placeholders(r.json())
    OUT.write_text(json.dumps(answers, indent=1, ensure_ascii=False, allow_nan=False) + "\n")


if __name__ == "__main__":
    main()
