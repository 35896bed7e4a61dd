"""Forward-mode AD over HTTP vs torch computed in the test: /functional/jvp through an
in-place write on a view, and /ops saying which overloads have a forward-mode rule (the
engine's forward AD itself: test_forward_ad.py)."""

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

import engine
from service.http.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(Settings(_env_file=None)))


def test_jvp_over_http_through_an_inplace_view_write(client):
    src = ("x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)\n"
           "y = x * 2\ny[0:2].mul_(3)\nz = y.sin()\n")
    r = client.post(
        "/functional/jvp", json={"source": src, "inputs": "x", "outputs": "z",
                                 "v": [1.0, 0.5, -1.0]})
    assert r.status_code == 200, r.text

    def f(x):
        y = x * 2
        y[0:2].mul_(3)
        return y.sin()
    value, jvp = torch.autograd.functional.jvp(
        f, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64),
        torch.tensor([1.0, 0.5, -1.0], dtype=torch.float64))
    np.testing.assert_allclose(r.json()["func_output"][0]["data"], value.numpy(), rtol=1e-12)
    np.testing.assert_allclose(r.json()["jvp"][0]["data"], jvp.numpy(), rtol=1e-12)


def test_ops_endpoint_says_which_rows_have_forward_ad(client):
    listed = client.get("/ops").json()["ops"]
    seen = 0
    for entry in listed:
        for ov, row in zip(entry["overloads"], engine.ops.OVERLOADS[entry["name"]]):
            assert ov["forward_ad"] == (row.jvp is not None or row.composite), row.qualname
            seen += 1
    assert seen > 150
    exp = next(e for e in listed if e["name"] == "exp")["overloads"][0]
    eq = next(e for e in listed if e["name"] == "eq")["overloads"][0]
    assert exp["forward_ad"] and not eq["forward_ad"]
