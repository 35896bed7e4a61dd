"""Run one scenario twice, with ``lib`` = torch and ``lib`` = engine, and compare what it
observed: values, flags, grad_fn names and error texts, torch 2.13 being the oracle.

A scenario is ``fn(lib, log)``; ``log(value)`` records a value (tensors as rounded lists
with dtype, requires_grad and grad_fn name), ``log.raises(callable)`` the error text.
"""

import numpy as np
import torch

import engine


def _norm(value):
    if isinstance(value, (torch.Tensor, engine.Tensor)):
        fn = value.grad_fn
        arr = np.nan_to_num(np.asarray(value.detach().tolist(), dtype=np.float64),
                            nan=1e300)  # NaN == NaN here
        return ("tensor", np.round(arr, 4).tolist(), str(value.dtype).removeprefix("torch."),
                value.requires_grad, None if fn is None else type(fn).__name__)
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [_norm(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (torch.dtype, engine.dtype)):
        return str(value)
    if isinstance(value, (torch.Size, engine.Size)):
        return tuple(value)
    return value


class Log(list):
    def __call__(self, *values):
        for v in values:
            self.append(_norm(v))

    def raises(self, fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001  (the text is what is compared)
            kind = "TypeError" if isinstance(e, TypeError) else (
                "ValueError" if isinstance(e, ValueError) and not isinstance(
                    e, RuntimeError) else "RuntimeError")
            self.append(("raises", kind, str(e).split("\n")[0]))
        else:
            self.append(("no error",))


def observe(scenario, lib) -> list:
    log = Log()
    scenario(lib, log)
    return list(log)


def assert_same(scenario):
    """The scenario observes the same with engine as with torch."""
    theirs = observe(scenario, torch)
    ours = observe(scenario, engine)
    diffs = [(k, o, t) for k, (o, t) in enumerate(zip(ours, theirs)) if o != t]
    assert len(ours) == len(theirs) and not diffs, (
        f"{len(ours)} vs {len(theirs)} observations; first differences (index, ours, "
        f"torch's): {diffs[:3]}")
