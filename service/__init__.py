"""HTTP service over the engine: parses requests, calls the engine, encodes answers.

It knows no derivative: every gradient, grad_fn name and error text comes from ``engine``.
"""
