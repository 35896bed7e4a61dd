"""Prometheus metrics: one registry per app (tests build several apps in one process)."""

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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

    def middleware(self):
        async def measure(request, call_next):
            start = time.perf_counter()
            status = 500
            try:
                response = await call_next(request)
                status = response.status_code
                return response
            finally:
                route = request.scope.get("route")
                path = getattr(route, "path", "unmatched")
                self.requests.labels(request.method, path, str(status)).inc()
                self.latency.labels(path).observe(time.perf_counter() - start)
        return measure


def _retained_bytes(store) -> int:
    """Saved-tensor bytes of the sessions this process holds (the in-memory store's)."""
    from .memory import report
    total = 0
    for session in list(getattr(store, "_sessions", {}).values()):
        try:
            total += report(session.ws)["saved_bytes"]
        except RuntimeError:  # a graph changed while it was read: counted next scrape
            pass
    return total
