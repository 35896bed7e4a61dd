"""Print the OpenAPI document: `python -m service.http.openapi > openapi.json`.

openapi.json at the repository root is the published contract; a test fails when it drifts
from the app.
"""

import json
import sys

from ..settings import Settings
from .app import create_app


def document() -> str:
    app = create_app(Settings(_env_file=None, api_keys=[], cors_origins=[]))
    return json.dumps(app.openapi(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document())
