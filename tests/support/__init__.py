"""Helpers shared by the tests (not tests themselves): the engine-vs-torch harnesses, the
small custom Functions scenarios build alike in both (functions.py), the live server the
HTTP tests talk to (its start, processes.py, shared with benchmarks/service.py), the seed
tutorials' examples and the graph fuzzer."""
