"""Prometheus metrics: one registry per app (tests build several apps in one process)."""

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..run.retained import report

# Label values come from bounded sets only, so the registry cannot grow per request: the
# route is the matched template (or "unmatched"), the method one of these (or "other").
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


class Metrics:
    def __init__(self, store):
        self.registry = r = CollectorRegistry()
        self.requests = Counter("autograd_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("autograd_request_seconds", "Request latency",
                                 ["route"], registry=r,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                                          2.5, 5, 10, 30))
        Gauge("autograd_sessions", "Sessions held", registry=r).set_function(
            lambda: store.stats()[0])
        Gauge("autograd_session_bytes", "Tensor bytes held by sessions",
              registry=r).set_function(lambda: store.stats()[1])
        Gauge("autograd_retained_graph_bytes", "Bytes saved for backward by the retained "
              "graphs of this process's sessions", registry=r).set_function(
            lambda: _retained_bytes(store))
        # the Redis store's catch-ups (NOTE [bounded replay]): counts since the replica started
        Gauge("autograd_replayed_log_entries", "Session log entries this replica re-ran to "
              "catch up (Redis store)", registry=r).set_function(
            lambda: getattr(store, "replayed", 0))
        snapshots = Gauge("autograd_session_snapshots", "Session snapshots written, loaded, "
                          "refused or found corrupt by this replica (Redis store)", ["event"],
                          registry=r)
        for event in ("written", "loaded", "refused", "corrupt"):
            snapshots.labels(event).set_function(
                lambda e=event: getattr(store, "snapshots", {}).get(e, 0))

    def middleware(self):
        """Pure ASGI middleware (for ``app.add_middleware``): counts and times every
        request by route. Not BaseHTTPMiddleware, whose extra task and body streams cost
        about as much as a small /backward itself."""
        metrics = self

        class Measure:
            def __init__(self, app):
                self.app = app

            async def __call__(self, scope, receive, send):
                if scope["type"] != "http":
                    return await self.app(scope, receive, send)
                start = time.perf_counter()
                status = 500

                async def send_status(message):
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                    await send(message)

                try:
                    await self.app(scope, receive, send_status)
                finally:
                    route = scope.get("route")  # set in the shared scope by the router
                    path = getattr(route, "path", "unmatched")
                    method = scope["method"] if scope["method"] in METHODS else "other"
                    key = (method, path, status)
                    series = children.get(key)
                    if series is None:  # labels() takes a lock and builds a key each time
                        series = (metrics.requests.labels(key[0], path, str(status)),
                                  metrics.latency.labels(path))
                        if len(children) < 10_000:  # methods and routes are few
                            children[key] = series
                    series[0].inc()
                    series[1].observe(time.perf_counter() - start)
        children: dict = {}
        return Measure


def _retained_bytes(store) -> int:
    """Saved-tensor bytes of the sessions this process holds (the in-memory store's)."""
    total = 0
    for session in list(getattr(store, "_sessions", {}).values()):
        try:
            total += report(session.ws)["saved_bytes"]
        except RuntimeError:  # a graph changed while it was read: counted next scrape
            pass
    return total
