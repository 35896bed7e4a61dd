"""Anomaly mode as torch: detect_anomaly / set_detect_anomaly finding NaN in backward (or
not, with check_nan=False), and the in-place error's hint under anomaly mode.

Every scenario runs under torch and under the engine (support.semantics_harness.same):
values, dtypes, grad_fn names, next_functions, exact error messages and warnings must agree.
"""

from __future__ import annotations

from support.semantics_harness import leaf_vector, same_as_torch


@same_as_torch
def test_detect_anomaly_nan(lib):
    x = lib.tensor([0.0, 1.0], requires_grad=True)
    with lib.autograd.detect_anomaly():
        y = (x.sqrt() * 0).sum()  # d sqrt at 0 is inf; inf * 0 = nan
        y.backward()


@same_as_torch(warnings_too=False)
def test_set_detect_anomaly_nan(lib):
    x = lib.tensor([0.0, 1.0], requires_grad=True)
    with lib.autograd.set_detect_anomaly(True):
        (x.sqrt() * 0).sum().backward()


@same_as_torch
def test_anomaly_off_lets_nan_through(lib):
    x = lib.tensor([0.0, 1.0], requires_grad=True)
    (x.sqrt() * 0).sum().backward()
    return x.grad


@same_as_torch
def test_anomaly_check_nan_false(lib):
    x = lib.tensor([0.0, 1.0], requires_grad=True)
    with lib.autograd.detect_anomaly(check_nan=False):
        (x.sqrt() * 0).sum().backward()
    return x.grad


@same_as_torch
def test_in_place_error_hint_under_anomaly_mode(lib):
    x = leaf_vector(lib)
    with lib.autograd.detect_anomaly():
        y = x.exp()
        y.add_(1)
        y.sum().backward()


@same_as_torch
def test_in_place_error_hint_under_set_detect_anomaly_without_nan_checks(lib):
    x = leaf_vector(lib)
    flags = [lib.is_anomaly_enabled()]
    with lib.autograd.set_detect_anomaly(True, check_nan=False):
        flags.append(lib.is_anomaly_enabled())
        y = x.tanh()
        with lib.no_grad():
            y.mul_(2)
        try:
            y.sum().backward()
        except RuntimeError as exc:
            flags.append(str(exc))
    flags.append(lib.is_anomaly_enabled())
    return flags
