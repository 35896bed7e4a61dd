"""Differential fuzzing over HTTP against torch (bounded: 40 examples); the long run is
scripts/fuzz_http.py. Disagreements it found are pinned below as regression tests."""

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from support.fuzz_graphs import cases, run_case, run_table_case, table_cases
from support.service_server import running_server


@pytest.fixture(scope="module")
def fuzz_api():
    with running_server() as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_random_graphs_agree_with_torch(fuzz_api, case):
    problems = run_case(fuzz_api, case)
    assert not problems, problems


# ---- regression tests: disagreements the fuzzer found

def _agree(client, nodes, calls=None, retain_grad=()):
    case = {"nodes": nodes, "retain_grad": list(retain_grad),
            "calls": calls or [{"retain_graph": None, "create_graph": False, "seed": 0}]}
    return run_case(client, case)


def test_atan2_gradient_at_origin(fuzz_api):
    # torch's atan2_backward zeroes 1 / (x^2 + y^2) at the origin: the gradient is 0, not NaN
    nodes = [{"id": "a", "op": "tensor", "data": [0.0], "requires_grad": True},
             {"id": "b", "op": "tensor", "data": [0.0], "requires_grad": True},
             {"id": "n", "op": "atan2", "args": ["a", "b"]},
             {"id": "out", "op": "sum", "args": ["n"]}]
    assert not _agree(fuzz_api, nodes)


def test_sum_dim_of_0d(fuzz_api):
    # torch lets a 0-d tensor take dim 0 and -1 (sum, mean, amax, norm, var, ...)
    nodes = [{"id": "a", "op": "tensor", "data": 1.5, "requires_grad": True},
             {"id": "n", "op": "exp", "args": ["a"]},
             {"id": "out", "op": "sum", "args": ["n"], "kwargs": {"dim": 0}}]
    assert not _agree(fuzz_api, nodes)


def test_hook_and_retain_grad_on_tensor_without_grad_refused(fuzz_api):
    # the fuzzer's first runs: torch refuses both; the service must too (4xx, torch's text)
    nodes = [{"id": "a", "op": "tensor", "data": [1.0], "requires_grad": False},
             {"id": "b", "op": "tensor", "data": [2.0], "requires_grad": True},
             {"id": "n0", "op": "exp", "args": ["a"]},
             {"id": "n1", "op": "mul", "args": ["n0", "b"]},
             {"id": "out", "op": "sum", "args": ["n1"]}]
    assert not _agree(fuzz_api, nodes, retain_grad=["n0"])
    assert not _agree(fuzz_api, nodes, calls=[{"retain_graph": None, "create_graph": False,
                                               "seed": 0, "hooks": {"n0": "grad * 0.5"}}])


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=table_cases())
def test_every_table_row_over_http_agrees_with_torch(fuzz_api, case):
    """Any row of the op table (one of its samples) sent as a node list: the gradients
    over HTTP are torch's."""
    problems = run_table_case(fuzz_api, case)
    assert not problems, problems
