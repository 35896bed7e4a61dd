"""Running the service: Prometheus metrics (metrics.py); the probes are routes (routes/health.py),
also served by a process of their own with AUTOGRAD_PROBE_PORT (probes.py)."""
