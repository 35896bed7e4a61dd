"""torch.autograd.gradcheck / gradgradcheck (torch's slow mode): analytical Jacobians from
one backward per output element against central finite differences.

Jacobians are laid out as torch's are: one (input.numel(), output.numel()) matrix per
(output, input) pair. ``gradcheck_report`` returns them all, with the worst entry, so the
service can answer with data rather than a message.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import forward_ad as fw
from . import graph as _graph
from ._tensor import Tensor
from .autograd import grad

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "get_numerical_jacobian",
           "get_analytical_jacobian"]


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


def numerical_jacobian(func, inputs, eps=1e-6, target=None) -> list[list[np.ndarray]]:
    """[output][input] (n_in, n_out) central differences. As torch's, each input element is
    perturbed in place (so a ``func`` that closes over its inputs sees it too), minus
    first, then restored; the outputs must keep their shapes and dtypes meanwhile.
    ``target``: the tensors perturbed instead of the inputs (those requiring grad)."""
    inputs, diff, outs, jac = _zero_jacobian(func, inputs)  # grad on: func may differentiate
    wrt = [inputs[k] for k in diff]
    if target is not None:
        wrt = [t for t in _as_tuple(target) if isinstance(t, Tensor) and t.requires_grad]
        jac = [[np.zeros((t.numel(), o.numel()), dtype=np.float64) for t in wrt]
               for o in outs]
    for col, x in enumerate(wrt):
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
              "differentiable": [],
              "numerical": numerical, "analytical": None, "diff_inputs": diff,
              "dtypes": [inputs[i].array.dtype for i in diff]}
    # as torch, only the outputs that require grad are compared (and numbered)
    outputs = _outputs(func, inputs)
    differentiable = report["differentiable"] = [o.requires_grad for o in outputs]
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
    if check_backward_ad and any(report["differentiable"]):
        try:
            _backward_multiplies_by_grad_output(func, inputs)
            if check_undefined_grad:
                _backward_takes_undefined_grads(func, inputs)
        except GradcheckError:
            if raise_exception:
                raise
            return False
    return True


# -- the checks after the Jacobians' (torch's _test_backward_mul_by_grad_output and
#    _test_undefined_backward_mode)

def _differentiable(func, inputs) -> list:
    return [o for o in _outputs(func, inputs) if isinstance(o, Tensor) and o.requires_grad]


def _backward_multiplies_by_grad_output(func, inputs) -> None:
    """Zero grad_outputs must give zero gradients, of the inputs' dtypes and sizes."""
    outs = _differentiable(func, inputs)
    diff = [inputs[i] for i in _diff_inputs(inputs)]
    grads = grad(outs, diff, [Tensor._make(np.zeros_like(o.array)) for o in outs],
                 allow_unused=True)
    for g, x in zip(grads, diff):
        if g is None:
            continue
        if (g.array != 0).any():
            raise GradcheckError("backward not multiplied by grad_output")
        if g.dtype is not x.dtype:
            raise GradcheckError("grad is incorrect type")
        if g.shape != x.shape:
            raise GradcheckError("grad is incorrect size")


class _UndefinedGrad(_graph.Node):
    """torch's UndefinedGrad: its input's gradient is undefined (None), whatever comes."""

    _name = "UndefinedGradBackward"

    def apply(self, grads, raw: bool):
        return [None]


def _undefined_grad(t):
    node = _UndefinedGrad()
    node.seq = next(_graph.sequence_nrs)
    node.next_functions = (t._edge(),)
    node.metas = node.out_metas = ((t.array.shape, t.array.dtype),)
    return Tensor._make_with_history(t.array, node, 0)


def _warn_undefined_grad_check() -> None:
    warnings.warn("Backwards compatibility: New undefined gradient support checking feature "
                  "is enabled by default, but it may break existing callers of this "
                  "function. If this is true for you, you can call this function with "
                  '"check_undefined_grad=False" to disable the feature', UserWarning,
                  stacklevel=4)


_UNDEFINED_NOTES = 'Please look at "Notes about undefined output gradients" in ' \
    '"tools/autograd/derivatives.yaml"'


def _backward_takes_undefined_grads(func, inputs) -> None:
    """Each backward must take undefined output gradients (all at once, then one at a
    time where there are several) and give undefined or zero input gradients."""
    diff = [inputs[i] for i in _diff_inputs(inputs)]
    sets = [[_undefined_grad(o) for o in _differentiable(func, inputs)]]
    if len(sets[0]) > 1:
        for k in range(len(sets[0])):
            sets.append([_undefined_grad(o) if i == k else o
                         for i, o in enumerate(_differentiable(func, inputs))])
    for outs in sets:
        try:
            grads = grad(outs, diff, [Tensor._make(np.zeros_like(o.array)) for o in outs],
                         allow_unused=True)
        except RuntimeError as e:
            _warn_undefined_grad_check()
            raise GradcheckError("Expected backward function to handle undefined output "
                                 "grads. " + _UNDEFINED_NOTES) from e
        if any(g is not None and (g.array != 0).any() for g in grads):
            _warn_undefined_grad_check()
            raise GradcheckError("Expected all input grads to be undefined or zero when all "
                                 "output grads are undefined or zero. " + _UNDEFINED_NOTES)


# -- torch's deprecated public helpers

def _deprecated(name: str) -> None:
    warnings.warn(f"`{name}` was part of PyTorch's private API and not meant to be exposed. "
                  "We are deprecating it and it will be removed in a future version of "
                  "PyTorch. If you have a specific use for this or feature request for this "
                  "to be a stable API, please file us an issue at "
                  "https://github.com/pytorch/pytorch/issues/new", FutureWarning, stacklevel=3)


def get_numerical_jacobian(fn, inputs, target=None, eps=1e-3, grad_out=1.0):
    """torch's deprecated helper: central differences of ``fn(inputs)`` (it takes the
    inputs as one tuple) with respect to each input that requires grad (or each of
    ``target``'s), restricted to the first output: a tuple of (n_in, n_out) tensors."""
    _deprecated("get_numerical_jacobian")
    if grad_out != 1.0:
        raise ValueError("Expected grad_out to be 1.0. get_numerical_jacobian no longer "
                         "supports values of grad_out != 1.0.")
    inputs = _as_tuple(inputs)
    wrt = [t for t in (inputs if target is None else _as_tuple(target))
           if isinstance(t, Tensor) and t.requires_grad]
    jac = numerical_jacobian(lambda *a: fn(a), inputs, eps,
                             target=None if target is None else target)
    return tuple(Tensor._make(j.astype(t.array.dtype)) for j, t in zip(jac[0], wrt))


def get_analytical_jacobian(inputs, output, nondet_tol=0.0, grad_out=1.0):
    """torch's deprecated helper: ``output``'s Jacobian with respect to each input that
    requires grad, one backward per output element, twice: (jacobians, reentrant,
    sizes_ok, types_ok)."""
    _deprecated("get_analytical_jacobian")
    if grad_out != 1.0:
        raise ValueError("Expected grad_out to be 1.0. get_analytical_jacobian no longer "
                         "supports values of grad_out != 1.0.")
    diff = [t for t in _as_tuple(inputs) if isinstance(t, Tensor) and t.requires_grad]
    n = output.numel()

    def rows():
        jac = [np.zeros((t.numel(), n), dtype=t.array.dtype) for t in diff]
        sizes_ok = types_ok = True
        for k in range(n):
            seed = np.zeros(output.shape, dtype=output.array.dtype)
            seed.reshape(-1)[k] = 1
            gs = grad(output, diff, Tensor._make(seed), retain_graph=True, allow_unused=True)
            for j, (g, t) in zip(jac, zip(gs, diff)):
                if g is None:
                    continue
                types_ok = types_ok and g.dtype is t.dtype
                sizes_ok = sizes_ok and g.numel() == t.numel()
                j[:, k] = np.reshape(g.array, -1)
        return jac, sizes_ok, types_ok

    first, sizes_ok, types_ok = rows()
    again, _, _ = rows()
    reentrant = all(a.shape == b.shape and bool((np.abs(a - b) <= nondet_tol).all())
                    for a, b in zip(first, again))
    return tuple(Tensor._make(j) for j in first), reentrant, sizes_ok, types_ok


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
