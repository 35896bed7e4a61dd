"""torch.autograd.gradcheck / gradgradcheck (torch's slow mode): analytical Jacobians from
one backward per output element against central finite differences.

Jacobians are laid out as torch's are: one (input.numel(), output.numel()) matrix per
(output, input) pair. ``gradcheck_report`` returns them all, with the worst entry, so the
service can answer with data rather than a message.
"""

from __future__ import annotations

import numpy as np

from . import forward_ad as fw
from ._tensor import Tensor
from .autograd import grad


class GradcheckError(RuntimeError):
    """torch.autograd.gradcheck.GradcheckError."""


def _as_tuple(x) -> tuple:
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _outputs(func, inputs) -> tuple:
    out = func(*inputs)
    return _as_tuple(out)


def _cloned_outputs(func, inputs) -> tuple:
    """The outputs copied, as torch's numerical Jacobian clones them: an output that is an
    input as-is (or a view of one) would otherwise change with the next perturbation."""
    return tuple(Tensor._make(o.array.copy()) if isinstance(o, Tensor) else o
                 for o in _outputs(func, inputs))


def _diff_inputs(inputs) -> list[int]:
    return [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]


def _zero_jacobian(func, inputs) -> tuple:
    """The inputs as a tuple, the positions of those that require grad, ``func``'s outputs
    on them, and the Jacobian to fill: [output][input] zeros (n_in, n_out), float64."""
    inputs = _as_tuple(inputs)
    diff = _diff_inputs(inputs)
    outs = _outputs(func, inputs)
    jac = [[np.zeros((inputs[i].numel(), o.numel()), dtype=np.float64) for i in diff]
           for o in outs]
    return inputs, diff, outs, jac


def numerical_jacobian(func, inputs, eps=1e-6) -> list[list[np.ndarray]]:
    """[output][input] (n_in, n_out) central differences. As torch's, each input element is
    perturbed in place (so a ``func`` that closes over its inputs sees it too), minus
    first, then restored; the outputs must keep their shapes and dtypes meanwhile."""
    inputs, diff, _, jac = _zero_jacobian(func, inputs)  # grad on: func may differentiate
    for col, k in enumerate(diff):
        x = inputs[k]
        if not x.array.flags.writeable:  # (a broadcast view): the input gets its own memory
            x.array = np.array(x.array)
        for j in range(x.numel()):
            idx = tuple(int(i) for i in np.unravel_index(j, x.array.shape))
            orig = x.array[idx].copy()
            x.array[idx] = orig - eps
            minus = _cloned_outputs(func, inputs)
            x.array[idx] = orig + eps
            plus = _cloned_outputs(func, inputs)
            x.array[idx] = orig
            for o, (a, b) in enumerate(zip(minus, plus)):
                _check_same_dtype_and_shape(a, b, eps, idx)
                jac[o][col][j] = (np.asarray(b.array, dtype=np.float64).reshape(-1)
                                  - np.asarray(a.array, dtype=np.float64).reshape(-1)) / (2 * eps)
    return jac


def _check_same_dtype_and_shape(a, b, eps, idx) -> None:
    """torch's check (an AssertionError, not a gradcheck failure)."""
    for what, x, y in (("shape", a.shape, b.shape), ("dtype", a.dtype, b.dtype)):
        if x != y:
            raise AssertionError(f"Expected `func` to return outputs with the same {what} when "
                                 f"inputs are perturbed on index {idx} by {eps}, but got: "
                                 f"{what}s {x} and {y}.")


def analytical_jacobian(func, inputs) -> list[list[np.ndarray]]:
    """[output][input] (n_in, n_out): one autograd.grad per output element."""
    inputs, diff, outs, jac = _zero_jacobian(func, inputs)
    for o, out in enumerate(outs):
        if not out.requires_grad:
            continue  # an output that does not depend on the inputs: zero Jacobian
        for k in range(out.numel()):
            seed = np.zeros(out.shape, dtype=out.array.dtype)
            seed.reshape(-1)[k] = 1
            gs = grad(out, [inputs[i] for i in diff], grad_outputs=Tensor._make(seed),
                      retain_graph=True, allow_unused=True)
            for col, g in enumerate(gs):
                if g is not None:
                    jac[o][col][:, k] = np.asarray(g.array, dtype=np.float64).reshape(-1)
    return jac


def forward_ad_jacobian(func, inputs) -> list[list[np.ndarray]]:
    """[output][input] (n_in, n_out): one forward-AD pass per input element (a one-hot
    tangent on that input), as torch's gradcheck with check_forward_ad."""
    inputs, diff, _, jac = _zero_jacobian(func, inputs)
    # as torch, the function sees its inputs detached here: requires_grad only says which
    # inputs are differentiable, and forward AD needs no graph
    detached = [a.detach() if isinstance(a, Tensor) else a for a in inputs]
    for col, i in enumerate(diff):
        x = inputs[i]
        for k in range(x.numel()):
            seed = np.zeros(x.shape, dtype=x.array.dtype)
            seed.reshape(-1)[k] = 1
            with fw.dual_level():
                args = list(detached)
                args[i] = fw.make_dual(detached[i], Tensor._make(seed))
                for o, out in enumerate(_outputs(func, args)):
                    t = fw.unpack_dual(out).tangent
                    if t is not None:
                        jac[o][col][k] = np.asarray(t.array, dtype=np.float64).reshape(-1)
    return jac


def _compare(report, numerical, analytical, atol, rtol, mode: str) -> bool:
    """Record the first (output, input) pair beyond the tolerance; True when all agree."""
    diff = report["diff_inputs"]
    for o, (row_n, row_a) in enumerate(zip(numerical, analytical)):
        for col, (n, a) in enumerate(zip(row_n, row_a)):
            bad = np.abs(a - n) > atol + rtol * np.abs(n)
            if bad.any() or np.isnan(a).any() != np.isnan(n).any():
                excess = np.abs(a - n) - (atol + rtol * np.abs(n))
                idx = np.unravel_index(int(np.nanargmax(excess)), excess.shape)
                report["ok"] = False
                report["failure"] = {
                    "output": o, "input": diff[col], "numerical": n, "analytical": a,
                    "mode": mode, "dtype": report["dtypes"][col],
                    "worst": {"index": [int(idx[0]), int(idx[1])],
                              "numerical": float(n[idx]), "analytical": float(a[idx]),
                              "abs_diff": float(abs(a[idx] - n[idx]))}}
                return False
    return True


def gradcheck_report(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                     nondet_tol=0.0, check_forward_ad=False, check_backward_ad=True) -> dict:
    """Everything gradcheck decides, as data: ``ok``, the first failing (output, input)
    pair with both Jacobians, its worst entry and the mode ("backward", or "forward" for
    forward AD's Jacobian), and ``reentrant``. As torch, backward is checked first."""
    inputs = _as_tuple(inputs)
    numerical = numerical_jacobian(func, inputs, eps)
    diff = _diff_inputs(inputs)
    report = {"ok": True, "failure": None, "reentrant": True, "zero_expected": False,
              "numerical": numerical, "analytical": None, "diff_inputs": diff,
              "dtypes": [inputs[i].array.dtype for i in diff]}
    # as torch, only the outputs that require grad are compared (and numbered)
    outputs = _outputs(func, inputs)
    differentiable = [o.requires_grad for o in outputs]
    if not any(differentiable):  # then finite differences must all be zero
        # (torch's numerical Jacobian has no rows for outputs of integer or bool dtype)
        if any((n != 0).any() for row, o in zip(numerical, outputs)
               if o.dtype.is_floating_point for n in row):
            report["ok"], report["zero_expected"] = False, True
        return report
    numerical = [row for row, d in zip(numerical, differentiable) if d]
    if check_backward_ad:
        analytical = report["analytical"] = analytical_jacobian(func, inputs)
        analytical = [row for row, d in zip(analytical, differentiable) if d]
        if not _compare(report, numerical, analytical, atol, rtol, "backward"):
            return report
        again = [row for row, d in zip(analytical_jacobian(func, inputs), differentiable) if d]
        for row_a, row_b in zip(analytical, again):
            for a, b in zip(row_a, row_b):
                if (np.abs(a - b) > nondet_tol).any():
                    report["ok"] = False
                    report["reentrant"] = False
                    return report
    if check_forward_ad:
        forward = forward_ad_jacobian(func, inputs)
        if report["analytical"] is None:
            report["analytical"] = forward
        forward = [row for row, d in zip(forward, differentiable) if d]
        _compare(report, numerical, forward, atol, rtol, "forward")
    return report


def _mismatch_message(report) -> str:
    f = report["failure"]
    mode = "computed with forward mode " if f.get("mode") == "forward" else ""
    # (torch's Jacobians, and so their repr, are in the input's dtype)
    numerical, analytical = (Tensor._make(f[k].astype(f["dtype"]))
                             for k in ("numerical", "analytical"))
    return (f"Jacobian {mode}mismatch for output {f['output']} with respect to input "
            f"{f['input']},\nnumerical:{numerical!r}\nanalytical:{analytical!r}\n")


def failure_message(report, nondet_tol=0.0) -> str | None:
    if report["ok"]:
        return None
    if report["zero_expected"]:
        return "Numerical gradient for function expected to be zero"
    if report["failure"] is not None:
        return _mismatch_message(report)
    return ("Backward is not reentrant, i.e., running backward with same input and "
            "grad_output multiple times gives different values, although analytical gradient "
            f"matches numerical gradient.The tolerance for nondeterminism was {nondet_tol}.")


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False,
              check_forward_ad=False, check_backward_ad=True, fast_mode=False,
              masked=None) -> bool:
    """True when the analytical Jacobians match finite differences; on a mismatch raises
    GradcheckError with torch's text (or returns False with raise_exception=False)."""
    if not (check_forward_ad or check_backward_ad):
        raise AssertionError("Expected at least one of check_forward_ad or check_backward_ad "
                             "to be True")
    inputs = _as_tuple(inputs)
    if not any(isinstance(t, Tensor) and t.requires_grad for t in inputs):
        raise ValueError("gradcheck expects at least one input tensor to require gradient, "
                         "but none of them have requires_grad=True.")
    report = gradcheck_report(func, inputs, eps=eps, atol=atol, rtol=rtol,
                              nondet_tol=nondet_tol, check_forward_ad=check_forward_ad,
                              check_backward_ad=check_backward_ad)
    message = failure_message(report, nondet_tol)
    if message is not None:
        if raise_exception:
            raise GradcheckError(message)
        return False
    return True


def grad_of(func, n_inputs: int):
    """The function gradgradcheck checks: (inputs..., grad_outputs...) -> the gradients
    of ``func``'s outputs for its differentiable inputs, with create_graph."""

    def new_func(*args):
        ins, gos = args[:n_inputs], args[n_inputs:]
        outs = _outputs(func, ins)
        diff = [t for t in ins if isinstance(t, Tensor) and t.requires_grad]
        # grad_outputs stand for the differentiable outputs only, as torch's
        gs = grad([o for o in outs if o.requires_grad], diff, grad_outputs=list(gos),
                  create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return new_func


def random_grad_outputs(func, inputs, seed=0) -> tuple:
    """torch makes random grad_outputs in [-1, 1) that require grad, one for each output
    that requires grad (func runs with grad mode as it is: an in-place op on a base may
    make a view require grad); seeded here."""
    rng = np.random.default_rng(seed)
    outs = [o for o in _outputs(func, inputs) if o.requires_grad]
    result = []
    for o in outs:
        t = Tensor._make(rng.uniform(-1, 1, o.shape).astype(o.array.dtype))
        t.requires_grad_(True)
        result.append(t)
    return tuple(result)


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False,
                  check_batched_grad=False, check_fwd_over_rev=False,
                  check_rev_over_rev=True, fast_mode=False, masked=False) -> bool:
    """gradcheck of the gradient function: second derivatives against finite differences
    of first derivatives (torch's default random grad_outputs, seeded)."""
    inputs = _as_tuple(inputs)
    if grad_outputs is None:
        grad_outputs = random_grad_outputs(func, inputs)
    else:
        grad_outputs = _as_tuple(grad_outputs)
    return gradcheck(grad_of(func, len(inputs)), inputs + tuple(grad_outputs), eps=eps,
                     atol=atol, rtol=rtol, raise_exception=raise_exception,
                     nondet_tol=nondet_tol)
