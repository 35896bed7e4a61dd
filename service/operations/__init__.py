"""Running the service: Prometheus metrics (metrics.py); the probes are routes (routes/health.py)."""
