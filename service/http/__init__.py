"""HTTP: the app factory (app.py), the routes (routes/), request and answer bodies in and
out (bodies.py), problem+json errors (errors.py), per-key quotas and request ids (quotas.py),
the published contract (contract.py, examples.py, openapi.py) and uvicorn's protocol."""
