"""torch.autograd.functional: vjp, jvp, jacobian, hessian, hvp, vhp.

A port of torch/autograd/functional.py (torch 2.13) onto the engine: same signatures,
same return structures (a Tensor where the caller passed a Tensor, a tuple where it
passed a tuple, nested tuples for jacobian/hessian), same strict-mode checks and error
texts. Reverse mode is built on ``autograd.grad``:

- jvp uses the double-backward trick, as torch's does (a VJP is linear in its seed, so
  differentiating it with respect to the seed gives the JVP);
- ``vectorize=True`` is accepted and gives the same values: the batched seeds run one by
  one (``is_grads_batched`` in the engine is a loop, torch's is vmap);
- ``strategy="forward-mode"`` uses forward AD (engine/forward_ad.py), one column of the
  Jacobian per input element; for hessian it is forward-over-reverse.
"""

from __future__ import annotations

from . import autograd as _autograd
from . import forward_ad as fw
from ._tensor import Tensor
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled
from .ops.table import F

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


# ---------------------------------------------------------------- helpers (as torch's)

def _as_tuple(inp, arg_name, fn_name):
    """(was it a tuple, the tuple of Tensors); torch's TypeError for anything else."""
    is_inp_tuple = True
    if not isinstance(inp, tuple):
        inp = (inp,)
        is_inp_tuple = False
    for i, el in enumerate(inp):
        if not isinstance(el, Tensor):
            where = (f"value at index {i} has type {type(el)}." if is_inp_tuple else
                     f"given {arg_name} has type {type(el)}.")
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a "
                            f"tuple of Tensors but the {where}")
    return is_inp_tuple, inp


def _tuple_postprocess(res, to_unpack):
    """Undo _as_tuple: single Tensors come back as single Tensors."""
    if isinstance(to_unpack, tuple):
        if not to_unpack[1]:
            res = tuple(el[0] for el in res)
        if not to_unpack[0]:
            res = res[0]
    elif not to_unpack:
        res = res[0]
    return res


def _grad_preprocess(inputs, create_graph, need_graph):
    """Always new Tensor objects, so that inputs the user function also captures from
    outside are told apart (pytorch#32576); differentiable views only with create_graph."""
    res = []
    for inp in inputs:
        if create_graph and inp.requires_grad:
            res.append(F.view(inp, tuple(inp.shape)))  # torch: inp.view_as(inp)
        else:
            res.append(inp.detach().requires_grad_(need_graph))
    return tuple(res)


def _grad_postprocess(inputs, create_graph):
    """No history on what is returned unless create_graph asked for it."""
    if isinstance(inputs[0], Tensor):
        if not create_graph:
            return tuple(inp.detach() for inp in inputs)
        return inputs
    return tuple(_grad_postprocess(inp, create_graph) for inp in inputs)


def _validate_v(v, other, is_other_tuple):
    if len(other) != len(v):
        if is_other_tuple:
            raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but "
                               f"got {len(v)}.")
        raise RuntimeError("The given v should contain a single Tensor.")
    for idx, (el_v, el_other) in enumerate(zip(v, other)):
        if el_v.size() != el_other.size():
            prepend = f"Entry {idx} in " if is_other_tuple else ""
            raise RuntimeError(f"{prepend}v has invalid size: should be {el_other.size()!r} "
                               f"but got {el_v.size()!r}.")


def _check_requires_grad(inputs, input_type, strict):
    if not strict:
        return
    for i, inp in enumerate(inputs):
        if inp is None:
            raise RuntimeError(f"The output of the user-provided function is independent of "
                               f"input {i}. This is not allowed in strict mode.")
        if not inp.requires_grad:
            if input_type == "hessian":
                raise RuntimeError(
                    f"The hessian of the user-provided function with respect to input {i} "
                    "is independent of the input. This is not allowed in strict mode. You "
                    "should ensure that your function is thrice differentiable and that the "
                    "hessian depends on the inputs.")
            if input_type == "jacobian":
                raise RuntimeError(
                    "While computing the hessian, found that the jacobian of the "
                    f"user-provided function with respect to input {i} is independent of the "
                    "input. This is not allowed in strict mode. You should ensure that your "
                    "function is twice differentiable and that the jacobian depends on the "
                    "inputs (this would be violated by a linear function for example).")
            if input_type == "grad_inputs":
                raise RuntimeError(
                    f"The gradient with respect to input {i} is independent of the inputs of "
                    "the user-provided function. This is not allowed in strict mode.")
            raise RuntimeError(
                f"Output {i} of the user-provided function does not require gradients. The "
                "outputs must be computed in a differentiable manner from the input when "
                "running in strict mode.")


def _autograd_grad(outputs, inputs, grad_outputs=None, create_graph=False,
                   retain_graph=None):
    """autograd.grad that skips outputs that do not require grad (None for all if none
    does) and always allows unused inputs."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    new_outputs, new_grad_outputs = [], []
    for out, grad_out in zip(outputs, grad_outputs):
        if out is not None and out.requires_grad:
            new_outputs.append(out)
            new_grad_outputs.append(grad_out)
    if not new_outputs:
        return (None,) * len(inputs)
    return _autograd.grad(tuple(new_outputs), inputs, tuple(new_grad_outputs),
                          allow_unused=True, create_graph=create_graph,
                          retain_graph=retain_graph)


_STRICT_NONE = {
    "back": ("The output of the user-provided function is independent of input {i}. This "
             "is not allowed in strict mode."),
    "back_trick": ("The gradient with respect to the input is independent of entry {i} in "
                   "the grad_outputs when using the double backward trick to compute "
                   "forward mode gradients. This is not allowed in strict mode."),
    "double_back": ("The jacobian of the user-provided function is independent of input "
                    "{i}. This is not allowed in strict mode."),
    "double_back_trick": ("The hessian of the user-provided function is independent of "
                          "entry {i} in the grad_jacobian. This is not allowed in strict "
                          "mode as it prevents from using the double backward trick to "
                          "replace forward mode AD."),
}


def _fill_in_zeros(grads, refs, strict, create_graph, stage):
    """None gradients become zeros, or strict-mode errors naming the stage."""
    res = []
    for i, grads_i in enumerate(grads):
        if grads_i is None:
            if strict:
                raise RuntimeError(_STRICT_NONE[stage].format(i=i))
            grads_i = F.zeros_like(refs[i])
        elif strict and create_graph and not grads_i.requires_grad:
            what = "jacobian" if "double" not in stage else "hessian"
            raise RuntimeError(f"The {what} of the user-provided function is independent of "
                               f"input {i}. This is not allowed in strict mode when "
                               "create_graph=True.")
        res.append(grads_i)
    return tuple(res)


def _prepare_v(v, fn_name, create_graph, other, is_other_tuple):
    _, v = _as_tuple(v, "v", fn_name)
    v = _grad_preprocess(v, create_graph=create_graph, need_graph=False)
    _validate_v(v, other, is_other_tuple)
    return v


def _single_scalar_output(outputs, is_outputs_tuple, fn_name):
    if is_outputs_tuple or not isinstance(outputs[0], Tensor):
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should "
                           "contain a single element")


def _v_may_be_none(inputs) -> None:
    """torch's check when v is omitted for jvp/vhp/hvp: only a single one-element input."""
    if len(inputs) != 1 or inputs[0].numel() != 1:
        raise RuntimeError("The vector v can only be None if the input to the user-provided "
                           "function is a single Tensor with a single element.")


def _inputs_and_v(inputs, v, create_graph, fn_name):
    """jvp's, vhp's and hvp's first steps: (was inputs a tuple, inputs, v as a tuple)."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
    if v is not None:
        v = _prepare_v(v, fn_name, create_graph, inputs, is_inputs_tuple)
    else:
        _v_may_be_none(inputs)
    return is_inputs_tuple, inputs, v


def _call(func, inputs, strict, fn_name):
    """(was the output a tuple, the outputs): func(*inputs), checked as torch does."""
    is_outputs_tuple, outputs = _as_tuple(
        func(*inputs), "outputs of the user-provided function", fn_name)
    _check_requires_grad(outputs, "outputs", strict=strict)
    return is_outputs_tuple, outputs


def _last_grad(outputs, inputs, v, refs, strict, create_graph, stage):
    """The final autograd.grad of each function, recorded only with create_graph (or where
    the caller records anyway); zeros for the ``refs`` it does not reach."""
    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grad_res = _autograd_grad(outputs, inputs, v, create_graph=create_graph)
        return _fill_in_zeros(grad_res, refs, strict, create_graph, stage)


def _results(outputs, is_outputs_tuple, result, is_result_tuple, create_graph):
    """(outputs, result) detached unless create_graph, shaped as the caller passed them."""
    outputs = _grad_postprocess(outputs, create_graph)
    result = _grad_postprocess(result, create_graph)
    return (_tuple_postprocess(outputs, is_outputs_tuple),
            _tuple_postprocess(result, is_result_tuple))


# ---------------------------------------------------------------- public API

def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): the vector-Jacobian product at ``inputs``."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        is_outputs_tuple, outputs = _call(func, inputs, strict, "vjp")
        if v is not None:
            v = _prepare_v(v, "vjp", create_graph, outputs, is_outputs_tuple)
        elif len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the user-provided function "
                               "returns a single Tensor with a single element.")
    result = _last_grad(outputs, inputs, v, inputs, strict, create_graph, "back")
    return _results(outputs, is_outputs_tuple, result, is_inputs_tuple, create_graph)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v), by the double-backward trick."""
    with enable_grad():
        is_inputs_tuple, inputs, v = _inputs_and_v(inputs, v, create_graph, "jvp")
        is_outputs_tuple, outputs = _call(func, inputs, strict, "jvp")
        # the VJP is linear in these seeds, so their value never shows in the result; zeros
        # keep inf/nan out of it
        grad_outputs = tuple(F.zeros_like(out, requires_grad=True) for out in outputs)
        grad_inputs = _autograd_grad(outputs, inputs, grad_outputs, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict=strict)
    result = _last_grad(grad_inputs, grad_outputs, v, outputs, strict, create_graph,
                        "back_trick")
    return _results(outputs, is_outputs_tuple, result, is_outputs_tuple, create_graph)


def _jvp_by_forward_ad(func, inputs, v=None):
    """jvp(func, inputs, v) with strict=False, create_graph=False: the same checks and
    results, computed by forward AD (one pass with tangents ``v``) instead of the double-
    backward trick. Used by the service's /functional/jvp."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    inputs = tuple(inp.detach() for inp in inputs)
    if v is not None:
        v = _prepare_v(v, "jvp", False, inputs, is_inputs_tuple)
    else:
        _v_may_be_none(inputs)
        v = (F.ones_like(inputs[0]),)
    with fw.dual_level():
        outputs = func(*(fw.make_dual(inp, t) for inp, t in zip(inputs, v)))
        is_outputs_tuple, outputs = _as_tuple(
            outputs, "outputs of the user-provided function", "jvp")
        unpacked = [fw.unpack_dual(o) for o in outputs]
    values = tuple(p.detach() for p, _ in unpacked)
    result = tuple(F.zeros_like(p) if t is None else t for p, t in unpacked)
    return (_tuple_postprocess(values, is_outputs_tuple),
            _tuple_postprocess(result, is_outputs_tuple))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: J[i][j] has shape outputs[i].shape +
    inputs[j].shape (nesting removed where the caller passed single Tensors)."""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more '
            'performant. Otherwise, prefer to use "reverse-mode".')
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                "torch.autograd.functional.jacobian: `create_graph=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either '
                'set `create_graph=False` or `strategy="reverse-mode"`.')
        return _jacfwd(func, inputs, strict, vectorize)
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _grad_preprocess(inputs, create_graph=create_graph, need_graph=True)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(
            outputs, "outputs of the user-provided function", "jacobian")
        _check_requires_grad(outputs, "outputs", strict=strict)
        if vectorize and strict:
            raise RuntimeError(
                "torch.autograd.functional.jacobian: `strict=True` and `vectorized=True` are "
                "not supported together. Please either set `strict=False` or "
                "`vectorize=False`.")
        jac = []
        for i, out in enumerate(outputs):
            rows = [[] for _ in inputs]
            flat = F.reshape(out, (-1,))
            for j in range(out.numel()):
                # row j of the Jacobian: the VJP with the j-th basis vector (torch
                # differentiates out.reshape(-1)[j]; the values are the same)
                seed = F.zeros_like(flat)
                seed.array[j] = 1
                vj = _autograd_grad((flat,), inputs, (seed,), retain_graph=True,
                                    create_graph=create_graph)
                for el_idx, (rows_el, vj_el, inp_el) in enumerate(zip(rows, vj, inputs)):
                    if vj_el is not None:
                        if strict and create_graph and not vj_el.requires_grad:
                            raise RuntimeError(
                                "The jacobian of the user-provided function is independent "
                                f"of input {i}. This is not allowed in strict mode when "
                                "create_graph=True.")
                        rows_el.append(vj_el)
                    else:
                        if strict and not vectorize:
                            raise RuntimeError(
                                f"Output {i} of the user-provided function is independent "
                                f"of input {el_idx}. This is not allowed in strict mode.")
                        rows_el.append(F.zeros_like(inp_el))
            jac.append(tuple(
                F.reshape(F.stack(rows_el, 0), tuple(out.shape) + tuple(inputs[k].shape))
                for k, rows_el in enumerate(rows)))
        jac = _grad_postprocess(tuple(jac), create_graph)
        return _tuple_postprocess(jac, (is_outputs_tuple, is_inputs_tuple))


def _jacfwd(func, inputs, strict=False, vectorize=False):
    """jacobian(strategy="forward-mode"): forward AD with one-hot tangents, one input
    element at a time (column k of J is J e_k). torch runs the columns as one vmap; the
    engine has no vmap, so ``vectorize=True`` is a loop here, with torch's results."""
    if strict:
        raise RuntimeError(
            "torch.autograd.functional.jacobian: `strict=True` and "
            '`strategy="forward-mode"` are not supported together (yet). Please either '
            'set `strict=False` or `strategy="reverse-mode"`.')
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    if not vectorize:
        raise NotImplementedError(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian is"
            "only implemented for `vectorize=True`.")
    columns = []  # columns[j][k][i]: the tangent of output i for element k of input j
    outputs, is_outputs_tuple = None, False

    def run(tangents):
        with fw.dual_level():
            duals = tuple(inp if t is None else fw.make_dual(inp, t)
                          for inp, t in zip(inputs, tangents))
            out = func(*duals)
            is_tuple = isinstance(out, tuple)  # torch does not check the outputs here
            outs = out if is_tuple else (out,)
            unpacked = [fw.unpack_dual(o) for o in outs]
            return is_tuple, [p for p, _ in unpacked], [
                F.zeros_like(p) if t is None else t for p, t in unpacked]

    for j, inp in enumerate(inputs):
        cols = []
        flat = F.zeros_like(F.reshape(inp.detach(), (-1,)))
        for k in range(inp.numel()):
            seed = flat.clone()
            seed.array[k] = 1
            tangents = [None] * len(inputs)
            tangents[j] = F.reshape(seed, tuple(inp.shape))
            is_outputs_tuple, outputs, jv = run(tangents)
            cols.append(jv)
        columns.append(cols)
    if outputs is None:  # no input has an element: torch's vmap would see a batch of 0
        is_outputs_tuple, outputs, _ = run([None] * len(inputs))
    jac = []
    for i, out in enumerate(outputs):
        row = []
        for j, inp in enumerate(inputs):
            shape = tuple(out.shape) + tuple(inp.shape)
            if columns[j]:  # the input's elements are the last axis, as torch permutes
                stacked = F.stack([col[i] for col in columns[j]], -1)
                row.append(F.reshape(stacked, shape))
            else:
                row.append(F.zeros(shape, dtype=out.dtype))
        jac.append(row)
    return _tuple_postprocess(jac, (is_outputs_tuple, is_inputs_tuple))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar function: the Jacobian of its Jacobian."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")
    if outer_jacobian_strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError('Expected strategy to be either "forward-mode" or '
                             '"reverse-mode".')

    def ensure_single_output_function(*inp):
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function",
                                        "hessian")
        _check_requires_grad(t_out, "outputs", strict=strict)
        _single_scalar_output(t_out, is_out_tuple, "hessian")
        return F.reshape(out, ())  # torch: out.squeeze()

    def jac_func(*inp):
        if outer_jacobian_strategy == "forward-mode":
            inp = tuple(t.requires_grad_(True) for t in inp)
        jac = jacobian(ensure_single_output_function, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict=strict)
        return jac

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict,
                   vectorize=vectorize, strategy=outer_jacobian_strategy)
    return _tuple_postprocess(res, (is_inputs_tuple, is_inputs_tuple))


def _scalar_jacobian(func, inputs, v, create_graph, strict, fn_name):
    """vhp's and hvp's common part: (was inputs a tuple, inputs, v, outputs, the gradient
    of func's one scalar output, recorded)."""
    is_inputs_tuple, inputs, v = _inputs_and_v(inputs, v, create_graph, fn_name)
    is_outputs_tuple, outputs = _call(func, inputs, strict, fn_name)
    _single_scalar_output(outputs, is_outputs_tuple, fn_name)
    jac = _autograd_grad(outputs, inputs, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict=strict)
    return is_inputs_tuple, inputs, v, outputs, jac


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H) for a scalar function."""
    with enable_grad():
        is_inputs_tuple, inputs, v, outputs, jac = _scalar_jacobian(
            func, inputs, v, create_graph, strict, "vhp")
    result = _last_grad(jac, inputs, v, inputs, strict, create_graph, "double_back")
    return _results(outputs, False, result, is_inputs_tuple, create_graph)  # one scalar out


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v) for a scalar function, by the double-backward trick."""
    with enable_grad():
        is_inputs_tuple, inputs, v, outputs, jac = _scalar_jacobian(
            func, inputs, v, create_graph, strict, "hvp")
        grad_jac = tuple(F.zeros_like(inp, requires_grad=True) for inp in inputs)
        double_back = _autograd_grad(jac, inputs, grad_jac, create_graph=True)
        _check_requires_grad(jac, "hessian", strict=strict)
    result = _last_grad(double_back, grad_jac, v, inputs, strict, create_graph,
                        "double_back_trick")
    return _results(outputs, False, result, is_inputs_tuple, create_graph)  # one scalar out
