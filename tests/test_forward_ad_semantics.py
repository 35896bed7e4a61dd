"""Forward-mode AD's dual tensors as torch 2.13 makes them: make_dual keeps the tangent
itself (no copy) on a view of the primal, an in-place op on a dual writes into that
tangent and never gives the plain primal one, in-place ops through views of a dual update
the dual's tangent, and the refusals (an integer tangent, a nested level, a wrong level).
torch is the oracle, run side by side with the engine."""

import pytest
import torch
import torch.autograd.forward_ad as torch_fwad
from support.functions import function, product
from support.made_up_derivatives import scaled
from support.semantics_harness import outcome, stories

import engine
import engine.forward_ad as engine_fwad

FWAD = {torch: torch_fwad, engine: engine_fwad}


def _values(t):
    return None if t is None else (t.tolist(), str(t.dtype))


def _identity(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        primal, tangent = lib.ones(2), lib.tensor([3.0, 4.0])
        dual = fw.make_dual(primal, tangent)
        unpacked = fw.unpack_dual(dual)
        return (unpacked.tangent is tangent, unpacked.primal is primal, dual is primal,
                fw.unpack_dual(primal).tangent is None, fw.unpack_dual(dual).tangent is tangent)


def _in_place_on_the_dual(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        primal, tangent = lib.ones(2), lib.tensor([3.0, 4.0])
        dual = fw.make_dual(primal, tangent)
        dual *= 2
        return (_values(fw.unpack_dual(primal).tangent), _values(fw.unpack_dual(dual).tangent),
                _values(tangent), _values(primal), fw.unpack_dual(dual).tangent is tangent)


def _in_place_on_the_unpacked_primal(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        dual = fw.make_dual(lib.ones(2), lib.tensor([3.0, 4.0]))
        primal = fw.unpack_dual(dual).primal
        primal.mul_(3)
        return (_values(dual), _values(fw.unpack_dual(dual).tangent),
                _values(fw.unpack_dual(primal).tangent))


def _in_place_on_a_view_of_the_dual(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        plain = lib.ones(3)
        dual = fw.make_dual(plain, lib.ones(3))
        view = dual[1:]
        view.mul_(5)
        return (_values(fw.unpack_dual(dual).tangent), _values(fw.unpack_dual(plain).tangent),
                _values(fw.unpack_dual(view).tangent), _values(plain))


def _dual_copied_into_a_view_of_a_plain_tensor(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        base = lib.zeros(3)
        base[:2].copy_(fw.make_dual(lib.ones(2), lib.tensor([7.0, 8.0])))
        return _values(fw.unpack_dual(base).tangent)


def _dual_of_a_leaf_is_its_view(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        leaf = lib.ones(2, 3, requires_grad=True)
        dual = fw.make_dual(leaf.t(), lib.ones(3, 2))  # a non-contiguous primal too
        grad_fn = dual.grad_fn.name()
        (dual * 3).sum().backward()
        return grad_fn, _values(leaf.grad), _values(fw.unpack_dual(dual).tangent)


def _tangent_of_another_dtype(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        tangent = lib.ones(2, dtype=lib.float64)
        dual = fw.make_dual(lib.ones(2), tangent)
        return _values(fw.unpack_dual(dual).tangent), fw.unpack_dual(dual).tangent is tangent


def _tangent_laid_out_otherwise(lib, primal_of, tangent_of):
    # torch keeps the tangent object only when its layout (strides, storage offset and
    # size) is the primal's; otherwise the dual gets a copy laid out as the primal
    fw = FWAD[lib]
    with fw.dual_level():
        primal, tangent = primal_of(lib), tangent_of(lib)
        dual = fw.make_dual(primal, tangent)
        kept = fw.unpack_dual(dual).tangent
        kept_is_given = kept is tangent
        dual.mul_(2)  # writes into the kept tangent: the given one only when it is kept
        return (kept_is_given, _values(kept), _values(tangent), kept.stride(),
                kept.storage_offset())


LAYOUTS = {
    "transposed tangent": (lambda lib: lib.ones(2, 3),
                           lambda lib: lib.arange(6.0).reshape(3, 2).t()),
    "transposed primal": (lambda lib: lib.ones(3, 2).t(), lambda lib: lib.arange(6.0).reshape(2, 3)),
    "both transposed": (lambda lib: lib.ones(3, 2).t(),
                        lambda lib: lib.arange(6.0).reshape(3, 2).t()),
    "tangent a slice of more": (lambda lib: lib.ones(2), lambda lib: lib.arange(4.0)[1:3]),
    "primal a slice of more": (lambda lib: lib.ones(4)[1:3], lambda lib: lib.arange(2.0)),
    "same offset, same storage": (lambda lib: lib.ones(4)[1:3],
                                  lambda lib: lib.arange(4.0)[1:3]),
    "a dimension of one": (lambda lib: lib.ones(3, 1),
                           lambda lib: lib.arange(3.0).reshape(1, 3).t()),
    "primal with gaps": (lambda lib: lib.ones(6)[::2], lambda lib: lib.arange(3.0)),
    "expanded primal": (lambda lib: lib.ones(1).expand(3), lambda lib: lib.arange(3.0)),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_tangent_layout(name):
    primal_of, tangent_of = LAYOUTS[name]
    story = lambda lib: _tangent_laid_out_otherwise(lib, primal_of, tangent_of)  # noqa: E731
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


def _current_level(lib):
    fw = FWAD[lib]
    seen = [fw._current_level]
    with fw.dual_level():
        seen.append(fw._current_level)
    seen.append(fw._current_level)
    return seen


def _detach_in_place_drops_the_tangent(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        dual = fw.make_dual(lib.ones(2), lib.tensor([1.0, 2.0])).clone()
        kept = fw.unpack_dual(dual * 2).tangent
        dual.detach_()
        return _values(kept), fw.unpack_dual(dual).tangent, fw.unpack_dual(dual * 2).tangent


STORIES = [_detach_in_place_drops_the_tangent, _identity, _in_place_on_the_dual, _in_place_on_the_unpacked_primal,
           _in_place_on_a_view_of_the_dual, _dual_copied_into_a_view_of_a_plain_tensor,
           _dual_of_a_leaf_is_its_view, _tangent_of_another_dtype, _current_level]


@stories(*STORIES)
def test_dual_tensors(story):
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


def _integer_tangent(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        fw.make_dual(lib.ones(2), lib.ones(2, dtype=lib.int64))


def _integer_primal(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        fw.make_dual(lib.ones(2, dtype=lib.int64), lib.ones(2))


def _nested_level(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        fw.enter_dual_level()


def _nested_level_leaves_the_outer_one_open(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        try:
            fw.enter_dual_level()
        except RuntimeError:
            pass
        dual = fw.make_dual(lib.ones(2), lib.ones(2))
        return _values(fw.unpack_dual(dual * 2).tangent)


def _wrong_level(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        fw.make_dual(lib.ones(2), lib.ones(2), level=3)


def _no_level(lib):
    FWAD[lib].make_dual(lib.ones(2), lib.ones(2))


def _exit_another_level(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        fw.exit_dual_level(level=2)


def _exit_with_no_level_open(lib):
    FWAD[lib].exit_dual_level()


def _exit_the_open_level_by_number(lib):
    fw = FWAD[lib]
    level = fw.enter_dual_level()
    fw.exit_dual_level(level=level)
    return level, fw._current_level


def _tangent_that_is_itself_a_dual(lib):
    fw = FWAD[lib]
    with fw.dual_level():
        dual = fw.make_dual(lib.ones(2), lib.ones(2))
        fw.make_dual(lib.zeros(2), dual)


def _out_variants_given_a_dual(lib):
    fw = FWAD[lib]
    seen = []
    with fw.dual_level():
        dual = fw.make_dual(lib.ones(2), lib.ones(2))
        plain = lib.ones(2)
        seen.append(outcome(lambda: lib.add(plain, plain, out=dual)))
        seen.append(outcome(lambda: lib.mul(dual, plain, out=plain)))
        with lib.no_grad():  # refused there too
            seen.append(outcome(lambda: lib.exp(dual, out=lib.zeros(2))))
        lib.add(plain, plain, out=lib.zeros(2))  # no dual: as usual
    return seen


def _forward_ad_is_off_in_inference_mode(lib):
    fw = FWAD[lib]
    seen = []
    with fw.dual_level():
        dual = fw.make_dual(lib.ones(2), lib.ones(2))
        with lib.inference_mode():
            seen.append(fw.unpack_dual(dual).tangent is None)
            seen.append(fw.unpack_dual(dual * 2).tangent is None)
            primal = lib.ones(2)
            made = fw.make_dual(primal, lib.ones(2))  # an alias, no tangent
            seen.append((made._is_view(), made._base is primal, lib.is_inference(made),
                         fw.unpack_dual(made).tangent is None))
            made += 1
            seen.append(_values(primal))
        seen.append(_values(fw.unpack_dual(dual * 2).tangent))
    return seen


REFUSALS = [_tangent_that_is_itself_a_dual, _out_variants_given_a_dual,
            _forward_ad_is_off_in_inference_mode, _integer_tangent, _integer_primal, _nested_level,
            _nested_level_leaves_the_outer_one_open, _wrong_level, _no_level,
           _exit_another_level, _exit_with_no_level_open, _exit_the_open_level_by_number]


@stories(*REFUSALS)
def test_refusals(story):
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


# -- custom Functions under forward AD: their jvp gives the tangents

def _scale_function(lib, factor_in_jvp):
    class Scale(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.k = k
            return x * k

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.k, None

        @staticmethod
        def jvp(ctx, x_t, k_t):
            ctx.seen = (_values(x_t), k_t)
            return x_t * factor_in_jvp

    return Scale


def _same_function(lib, tangent_out):
    """A Function that returns its input as-is; its jvp gives ``tangent_out(x_t)``."""
    return function(lib, "Same", forward=lambda ctx, x: x, backward=lambda ctx, grad: grad,
                    jvp=lambda ctx, x_t: tangent_out(x_t))


def _returns_a_slice_of_its_input(lib, jvp, tangent, given):
    """The forward returns a view of its input: the jvp must return a view of the input's
    tangent (of that tangent's base, where it is a view itself)."""
    fw = FWAD[lib]

    def slice_tangent(ctx, x_t):
        out = x_t.narrow(0, 0, 2)
        if jvp != "a slice of the tangent":
            out = out.clone()
        return out.view_as(out) if jvp == "a view of a copy" else out

    sliced = function(lib, "Sliced", forward=lambda ctx, x: x.narrow(0, 0, 2),
                      vjp=lambda ctx, g: lib.cat([g, g.new_zeros(2, 3)]), jvp=slice_tangent)
    primal = lib.arange(12.0, dtype=lib.float64).reshape(4, 3)
    t = (lib.ones(4, 3, dtype=lib.float64) if tangent == "plain"
         else lib.ones(12, dtype=lib.float64).view(4, 3))
    with fw.dual_level():
        dual = fw.make_dual(primal, t)
        out = sliced.apply(dual if given == "dual" else dual.view_as(dual))
        out_t = fw.unpack_dual(out).tangent
        return _values(out), _values(out_t), out_t._base is not None


def _jvp_gives_the_tangent(lib):
    fw = FWAD[lib]
    scale = _scale_function(lib, 7.0)
    with fw.dual_level():
        out = scale.apply(fw.make_dual(lib.tensor([1.0, 2.0]), lib.tensor([1.0, -1.0])), 3.0)
        return _values(out), _values(fw.unpack_dual(out).tangent), out.grad_fn is None


def _jvp_sees_zeros_for_a_tensor_without_tangent(lib):
    fw = FWAD[lib]
    seen = []

    def jvp(ctx, x_t, y_t):
        seen.append((_values(x_t), _values(y_t)))
        return x_t + y_t

    Product = product(lib, "Product", backward=lambda ctx, grad: (grad, grad), jvp=jvp)

    with fw.dual_level():
        out = Product.apply(fw.make_dual(lib.tensor([1.0, 2.0]), lib.ones(2)), lib.ones(2))
        return seen, _values(fw.unpack_dual(out).tangent)


def _no_jvp(lib):
    fw = FWAD[lib]
    double = scaled(lib.autograd.Function, 2, 2)
    with fw.dual_level():
        double.apply(fw.make_dual(lib.ones(2), lib.ones(2)))


def _input_as_is_needs_a_view(lib):
    fw = FWAD[lib]
    same = _same_function(lib, lambda x_t: x_t * 5)
    with fw.dual_level():
        same.apply(fw.make_dual(lib.ones(2), lib.ones(2)))


def _tangent_for_a_non_differentiable_output(lib, refuse):
    fw = FWAD[lib]

    class Split(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            kept, dropped = x * 2, x * 3
            ctx.mark_non_differentiable(dropped)
            return kept, dropped

        @staticmethod
        def backward(ctx, g_kept, g_dropped):
            return g_kept * 2

        @staticmethod
        def jvp(ctx, x_t):
            return x_t * 2, (x_t * 3 if refuse else None)

    with fw.dual_level():
        kept, dropped = Split.apply(fw.make_dual(lib.ones(2), lib.ones(2)))
        return _values(fw.unpack_dual(kept).tangent), _values(fw.unpack_dual(dropped).tangent)


def _jvp_of_the_wrong_size(lib):
    fw = FWAD[lib]

    Summed = function(lib, "Summed", forward=lambda ctx, x: x * 2,
                      backward=lambda ctx, grad: grad, jvp=lambda ctx, x_t: x_t.sum())

    with fw.dual_level():
        Summed.apply(fw.make_dual(lib.ones(2), lib.ones(2)))


def _gradcheck_calls_the_jvp(lib, factor):
    x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    scale = _scale_function(lib, factor)
    return lib.autograd.gradcheck(lambda a: scale.apply(a, 3.0), (x,), check_forward_ad=True,
                                  check_backward_ad=False, raise_exception=True)


def _returns_its_input(lib, tangent_out):
    fw = FWAD[lib]
    same = _same_function(lib, tangent_out)
    with fw.dual_level():
        tangent = lib.tensor([1.0, 2.0])
        out = same.apply(fw.make_dual(lib.ones(2), tangent))
        out_tangent = fw.unpack_dual(out).tangent
        out_tangent.mul_(3)  # a view writes through into the input's tangent
        return _values(out_tangent), _values(tangent)


def _gradcheck_of_a_function_returning_its_input(lib, tangent_out):
    same = _same_function(lib, tangent_out)
    x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    return lib.autograd.gradcheck(same.apply, (x,), check_forward_ad=True,
                                  check_backward_ad=False, raise_exception=True)


def _modifies_its_input(lib, jvp, dual_input=True):
    fw = FWAD[lib]

    class Double_(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 2, None

    Double_.jvp = staticmethod(lambda ctx, x_t, y_t: jvp(x_t))
    with fw.dual_level():
        tangent = lib.tensor([1.0, 2.0])
        x = fw.make_dual(lib.ones(2), tangent) if dual_input else lib.ones(2)
        y = fw.make_dual(lib.ones(2), lib.ones(2))  # (so a level has a tangent to carry)
        out = Double_.apply(x, y)
        return _values(fw.unpack_dual(out).tangent), _values(tangent), out is x


def _saved_tensors_in_jvp_and_backward(lib, for_forward):
    fw = FWAD[lib]
    seen = []

    def forward(ctx, x, y):
        ctx.save_for_backward(x)
        if for_forward:
            ctx.save_for_forward(x, y)
        return x * y

    def jvp(ctx, x_t, y_t):
        saved = ctx.saved_tensors  # the ones saved for forward only
        seen.append(("jvp", len(saved)))
        x, y = saved if saved else (lib.ones(2), lib.ones(2))
        return y * x_t + x * y_t

    def backward(ctx, grad):
        seen.append(("backward", len(ctx.saved_tensors)))
        (x,) = ctx.saved_tensors
        return grad * 2, grad * x

    Product = function(lib, "Product", forward=forward, backward=backward, jvp=jvp)
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = lib.tensor([3.0, -1.0], requires_grad=True)
    with fw.dual_level():
        out = Product.apply(fw.make_dual(x, lib.tensor([0.5, 1.0])), y)
        tangent = fw.unpack_dual(out).tangent
        out.sum().backward()
    return seen, _values(tangent), _values(x.grad), _values(y.grad)


FUNCTION_STORIES = {
    "jvp reads what was saved for forward": lambda lib: _saved_tensors_in_jvp_and_backward(
        lib, True),
    "jvp without save_for_forward reads nothing": lambda lib: (
        _saved_tensors_in_jvp_and_backward(lib, False)),
    "input as-is, jvp gives its tangent itself": lambda lib: _returns_its_input(
        lib, lambda t: t),
    "input as-is, jvp gives a view": lambda lib: _returns_its_input(lib, lambda t: t[:]),
    "input as-is, jvp gives view_as": lambda lib: _returns_its_input(
        lib, lambda t: t.view_as(t)),
    "input as-is, jvp gives a copy": lambda lib: _returns_its_input(lib, lambda t: t.clone()),
    "gradcheck, input as-is, tangent itself": lambda lib: (
        _gradcheck_of_a_function_returning_its_input(lib, lambda t: t)),
    "gradcheck, input as-is, a view": lambda lib: (
        _gradcheck_of_a_function_returning_its_input(lib, lambda t: t.view_as(t))),
    "dirty input, tangent modified and returned": lambda lib: _modifies_its_input(
        lib, lambda t: t.mul_(2)),
    "dirty input, a new tangent": lambda lib: _modifies_its_input(lib, lambda t: t * 2),
    "dirty input, modified, a new one returned": lambda lib: _modifies_its_input(
        lib, lambda t: t.mul_(2) * 1),
    "dirty input, modified, a view returned": lambda lib: _modifies_its_input(
        lib, lambda t: t.mul_(2)[:]),
    "dirty input without a tangent": lambda lib: _modifies_its_input(
        lib, lambda t: t * 2, dual_input=False),

    **{f"returns a slice, jvp {jvp}, {tangent} tangent, {given} input":
       (lambda lib, jvp=jvp, tangent=tangent, given=given: _returns_a_slice_of_its_input(
           lib, jvp, tangent, given))
       for jvp in ("a slice of the tangent", "a copy", "a view of a copy")
       for tangent in ("plain", "view") for given in ("dual", "view of the dual")},
    "jvp gives the tangent": _jvp_gives_the_tangent,
    "zeros for a tensor without tangent": _jvp_sees_zeros_for_a_tensor_without_tangent,
    "no jvp": _no_jvp,
    "input as-is needs a view": _input_as_is_needs_a_view,
    "non-differentiable output left alone": lambda lib: _tangent_for_a_non_differentiable_output(
        lib, refuse=False),
    "non-differentiable output refused": lambda lib: _tangent_for_a_non_differentiable_output(
        lib, refuse=True),
    "jvp of the wrong size": _jvp_of_the_wrong_size,
    "gradcheck with the right jvp": lambda lib: _gradcheck_calls_the_jvp(lib, 3.0),
    "gradcheck with a wrong jvp": lambda lib: _gradcheck_calls_the_jvp(lib, 4.0),
}


@pytest.mark.parametrize("name", list(FUNCTION_STORIES))
def test_custom_function_under_forward_ad(name):
    story = FUNCTION_STORIES[name]
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


# Tangents are computed with differentiable ops in the call's grad mode, as torch's: a
# tangent requires grad (with a grad_fn) where the tangent it came from or its primal does,
# and a backward through it reaches both. (Nodes compared where our rule and torch's
# formula are the same op; elsewhere presence of a grad_fn and the gradients.)
TANGENT_OPS = {
    "sin": (lambda x: x.sin(), True),
    "exp": (lambda x: x.exp(), True),
    "product_with_itself": (lambda x: x * x, True),
    "cube": (lambda x: x ** 3, True),
    "tanh": (lambda x: x.tanh(), False),
    "sum": (lambda x: x.sum(), True),
    "view": (lambda x: x.view(2, 1), True),
    "clone": (lambda x: x.clone(), True),
    "select": (lambda x: x[0], True),
    "matmul": (lambda x: x @ x, False),
    "add_a_number": (lambda x: x + 2, True),
    "subtract_a_number": (lambda x: x - 2, True),
    "subtract_from_a_number": (lambda x: 2 - x, True),
}


def _rounded(t):
    return [round(v, 9) for v in t.detach().reshape(-1).tolist()]


@pytest.mark.parametrize("needs", ["tangent", "primal", "both", "neither", "no_grad"])
@pytest.mark.parametrize("name", list(TANGENT_OPS))
def test_tangents_have_history(name, needs):
    f, same_node = TANGENT_OPS[name]

    def story(lib):
        fw = FWAD[lib]
        p = lib.tensor([0.5, -1.5], dtype=lib.float64,
                       requires_grad=needs in ("primal", "both", "no_grad"))
        t = lib.tensor([2.0, 0.25], dtype=lib.float64, requires_grad=needs in ("tangent", "both"))
        with fw.dual_level():
            if needs == "no_grad":
                with lib.no_grad():
                    out = fw.unpack_dual(f(fw.make_dual(p, t))).tangent
            else:
                out = fw.unpack_dual(f(fw.make_dual(p, t))).tangent
        node = out.grad_fn
        seen = (out.requires_grad, node is not None,
                node.name() if same_node and node is not None else None)
        grads = None
        if out.requires_grad:
            wrt = [x for x in (p, t) if x.requires_grad]
            grads = [None if g is None else _rounded(g) for g in lib.autograd.grad(
                out.sum(), wrt, allow_unused=True)]
        return seen, _rounded(out), grads
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


@pytest.mark.parametrize("needs", [True, False])
def test_unpacked_primal_is_an_identity_view(needs):
    """unpack_dual's primal: a view of the dual with torch's Identity node (a CppFunction,
    printed <Identity>) where the primal requires grad; backward goes through it."""
    def story(lib):
        fw = FWAD[lib]
        p = lib.tensor([1.0, 2.0], requires_grad=needs)
        with fw.dual_level():
            primal = fw.unpack_dual(fw.make_dual(p, lib.ones(2))).primal
            node = primal.grad_fn
            seen = (repr(primal), primal._is_view(), type(node).__name__ if node else None,
                    node.name() if node else None)
        if needs:
            (primal * 2).sum().backward()
        return seen, None if p.grad is None else p.grad.tolist()
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))
