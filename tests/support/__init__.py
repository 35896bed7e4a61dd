"""Helpers shared by the tests (not tests themselves): the engine-vs-torch harnesses, the
live server the HTTP tests talk to, the seed tutorials' examples and the graph fuzzer."""
