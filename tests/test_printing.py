"""repr(engine tensor) == repr(torch tensor), character for character, over many values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import engine

rng = np.random.default_rng(1234)


def _cases():
    f = np.float32
    cases = {
        "scalar": np.array(2.5, f),
        "scalar_int_valued": np.array(3.0, f),
        "scalar_neg_zero": np.array(-0.0, f),
        "scalar_nan": np.array(np.nan, f),
        "scalar_tiny": np.array(1e-7, f),
        "scalar_huge": np.array(3e9, f),
        "vec_int_valued": np.array([1, 2, 3], f),
        "vec_mixed_sign": np.array([-1.5, 2.25, 3.0], f),
        "vec_zeros": np.zeros(4, f),
        "vec_neg_zero": np.array([-0.0, 1.0], f),
        "vec_nan_inf": np.array([np.nan, np.inf, -np.inf, 1.0], f),
        "vec_nan_inf_frac": np.array([np.nan, np.inf, -np.inf, 1.5], f),
        "vec_only_nonfinite": np.array([np.nan, np.inf], f),
        "vec_ratio_sci": np.array([0.001, 10.0], f),
        "vec_int_ratio_sci": np.array([1.0, 2000.0], f),
        "vec_big_int": np.array([1e9, 1.0], f),
        "vec_small": np.array([1e-5, 0.5], f),
        "vec_thirds": np.array([1, 2, 3], f) / 3,
        "vec_random": rng.normal(size=7).astype(f),
        "vec_random_scaled": (rng.normal(size=9) * 1e4).astype(f),
        "vec_long_wrap": rng.normal(size=40).astype(f),
        "vec_long_int_wrap": np.arange(60, dtype=f),
        "vec_1000": rng.normal(size=1000).astype(f),
        "vec_1001": rng.normal(size=1001).astype(f),
        "mat_2x3": rng.normal(size=(2, 3)).astype(f),
        "mat_int_valued": np.array([[1, -20], [300, 4]], f),
        "mat_wide": rng.normal(size=(3, 30)).astype(f),
        "mat_summarized": rng.normal(size=(40, 40)).astype(f),
        "mat_summarized_rows": rng.normal(size=(1200, 2)).astype(f),
        "mat_summarized_cols": rng.normal(size=(2, 600)).astype(f),
        "cube_2x3x4": rng.normal(size=(2, 3, 4)).astype(f),
        "cube_summarized": rng.normal(size=(12, 12, 12)).astype(f),
        "four_d": rng.normal(size=(2, 2, 2, 2)).astype(f),
        "mat_1x1": np.array([[5.0]], f),
        "mat_with_nan": np.array([[np.nan, 1.25], [2.0, -np.inf]], f),
        "mixed_magnitudes": np.array([[1e-3, 1e3], [5.0, 6.0]], f),
        "empty_0": np.zeros((0,), f),
        "empty_2x0": np.zeros((2, 0), f),
        "empty_0x3x1": np.zeros((0, 3, 1), f),
        "f64_vec": rng.normal(size=4),
        "f64_int_valued": np.array([1.0, 2.0]),
        "f64_scalar": np.array(0.1),
        "f64_empty": np.zeros((0,)),
        "f16_vec": np.array([0.1, 2.0, 65504.0], np.float16),
        "i64_vec": np.array([1, -22, 333], np.int64),
        "i64_scalar": np.array(7, np.int64),
        "i64_mat": np.arange(12, dtype=np.int64).reshape(3, 4) * 1000 - 5000,
        "i64_empty": np.zeros((0,), np.int64),
        "i64_summarized": np.arange(2000, dtype=np.int64),
        "i32_vec": np.array([1, 2], np.int32),
        "i32_empty": np.zeros((0, 2), np.int32),
        "u8_vec": np.array([0, 255], np.uint8),
        "bool_vec": np.array([True, False, True]),
        "bool_scalar": np.array(False),
        "bool_mat": np.array([[True, False], [False, False]]),
        "bool_empty": np.zeros((0,), bool),
    }
    for scale in (1e-9, 1e-4, 1e-2, 1.0, 1e2, 1e5, 1e8, 1e12):
        cases[f"random_scale_{scale:g}"] = (rng.normal(size=(2, 5)) * scale).astype(f)
    for scale in (0.5, 3.0, 999.0, 1000.0, 1001.0, 1e7, 1e8, 2e8):
        cases[f"int_scale_{scale:g}"] = np.array([1.0, scale, -2.0], f).round()
    return cases


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_repr_matches_torch(name):
    arr = CASES[name]
    assert repr(engine.tensor(arr)) == repr(torch.tensor(arr))
    assert str(engine.tensor(arr)) == str(torch.tensor(arr))


@pytest.mark.parametrize("name", [n for n in sorted(CASES) if CASES[n].dtype.kind == "f"])
def test_repr_with_autograd_suffixes(name):
    arr = CASES[name]
    if arr.dtype == np.float16:
        pytest.skip("float16 arithmetic is not part of the comparison")
    e = engine.tensor(arr, requires_grad=True)
    t = torch.tensor(arr, requires_grad=True)
    assert repr(e) == repr(t)
    assert repr(e * 2) == repr(t * 2)
    assert repr((e * 2).detach()) == repr((t * 2).detach())


def test_long_suffixes_wrap_onto_new_lines():
    arr = np.arange(14, dtype=np.float64) + 0.5
    e = engine.tensor(arr, requires_grad=True)
    t = torch.tensor(arr, requires_grad=True)
    assert repr(e) == repr(t)
    assert repr(e + 1) == repr(t + 1)


def test_leaf_node_reprs_mask_the_same_way():
    e = engine.tensor([1.0], requires_grad=True) * 2
    t = torch.tensor([1.0], requires_grad=True) * 2
    strip = lambda s: s.split(" at ")[0]
    assert strip(repr(e.grad_fn)) == strip(repr(t.grad_fn))
    assert strip(repr(e.grad_fn.next_functions)) == strip(repr(t.grad_fn.next_functions))


def test_size_repr():
    assert repr(engine.zeros(2, 3).shape) == repr(torch.zeros(2, 3).shape)
    assert repr(engine.tensor(1.0).shape) == repr(torch.tensor(1.0).shape)


@settings(max_examples=200, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=3),
       kind=st.sampled_from(["normal", "int_valued", "tiny", "huge", "mixed", "special",
                             "int64", "bool", "float64"]),
       seed=st.integers(0, 2**32 - 1))
def test_repr_matches_torch_random(shape, kind, seed):
    r = np.random.default_rng(seed)
    size = tuple(shape)
    if kind == "normal":
        arr = r.normal(size=size).astype(np.float32)
    elif kind == "int_valued":
        arr = r.integers(-1000, 1000, size=size).astype(np.float32)
    elif kind == "tiny":
        arr = (r.normal(size=size) * 1e-6).astype(np.float32)
    elif kind == "huge":
        arr = (r.normal(size=size) * 1e9).astype(np.float32)
    elif kind == "mixed":
        arr = (r.normal(size=size) * 10.0 ** r.integers(-6, 6, size=size)).astype(np.float32)
    elif kind == "special":
        arr = r.choice(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 2.5], np.float32),
                       size=size)
    elif kind == "int64":
        arr = r.integers(-10**6, 10**6, size=size)
    elif kind == "bool":
        arr = r.integers(0, 2, size=size).astype(bool)
    else:
        arr = r.normal(size=size) * 100
    assert repr(engine.tensor(arr)) == repr(torch.tensor(arr))
