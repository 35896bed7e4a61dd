"""Views and in-place ops as torch: views share their base's version counter, in-place
changes through views (CopySlices and its edges, AsStridedBackward0 for older views,
the views torch gives no history), overwriting ops cutting history, copy_ broadcasting,
expanded views, contiguous() and clone() layouts.

Every scenario runs under torch and under the engine (support.semantics_harness.same):
values, dtypes, grad_fn names, next_functions, exact error messages and warnings must agree.
"""

from __future__ import annotations

import pytest
from support.semantics_harness import leaf_vector, same

# ---------------------------------------------------------------- views share versions

@pytest.mark.parametrize("view", ["select", "slice", "view", "transpose", "unsqueeze",
                                  "expand_then_edit_base"])
def test_saved_view_invalidated_by_edit_of_its_base(view):
    """A view shares its base's version counter: editing the base in place makes a
    backward that needs the saved view fail, as in torch (never a silently wrong grad); the
    text names the view's node now, AsStrided. (For the outputs of multi-view functions such
    as split torch words the error differently: not covered.)"""
    def fn(lib):
        a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = a * 1
        v = {"select": lambda: y[0], "slice": lambda: y[:, 1:],
             "view": lambda: y.view(4), "transpose": lambda: y.t(),
             "unsqueeze": lambda: y.unsqueeze(0),
             "expand_then_edit_base": lambda: y[:1].expand(3, 2)}[view]()
        w = v ** 2
        y.add_(1)
        w.sum().backward()
    assert same(fn)[0] == "error"


def test_unrelated_copies_keep_their_own_versions():
    def fn(lib):
        a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = a * 1
        c = y.clone()
        w = (c ** 2).sum() + (y.t().contiguous() ** 2).sum()
        y.add_(1)  # neither c nor the contiguous copy shares memory with y
        w.backward()
        return a.grad
    same(fn)


# ---------------------------------------------------------------- in place through views

def _view_case(case, lib):
    a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    if case == "edit_view":          # the base gets CopySlices
        y = a * 1
        v = y[0]
        v.mul_(2)
        (y * y).sum().backward()
        return y, y.grad_fn.name(), a.grad
    if case == "edit_base_then_use_view":  # the view's history is rebuilt from the base's
        y = a * 1
        v = y[0]
        y.mul_(3)
        (v * v).sum().backward()
        return v.detach(), a.grad
    if case == "nested_views":
        y = a * 1
        w = y.t()[1]
        w.add_(a[0] * 10)
        (y ** 2).sum().backward()
        return y, a.grad
    if case == "view_of_leaf":
        a[0].mul_(2)
    if case == "value_into_plain_tensor":
        z = lib.zeros(2, 2)
        z[1].copy_(a[0] * 3)
        z.sum().backward()
        return z, z.grad_fn.name(), a.grad
    if case == "under_no_grad":
        y = a * 1
        with lib.no_grad():
            y[0].mul_(5)
        (y * 1).sum().backward()
        return y, a.grad
    if case == "column_of_exp":
        y = a.exp()
        y[:, 1].mul_(2)
        y.sum().backward()
        return y, a.grad
    if case == "reshape_view":
        y = a * 1
        y.view(4)[1:3].zero_()
        (y * a).sum().backward()
        return y, a.grad
    if case == "twice_with_retain":
        y = a * 2
        y[1].add_(1)
        s = (y ** 2).sum()
        s.backward(retain_graph=True)
        s.backward()
        return a.grad


@pytest.mark.parametrize("case", ["edit_view", "edit_base_then_use_view", "nested_views",
                                  "view_of_leaf", "value_into_plain_tensor", "under_no_grad",
                                  "column_of_exp", "reshape_view", "twice_with_retain"])
def test_in_place_through_views(case):
    """Values, gradients and the base's node match torch."""
    same(lambda lib: _view_case(case, lib))


@pytest.mark.parametrize("op", ["zero_", "fill_scalar", "fill_tensor", "copy_constant",
                                "copy_tracked", "copy_other_dtype", "uniform_", "normal_",
                                "zero_view"])
def test_overwriting_in_place_ops_cut_the_old_history(op):
    def fn(lib):
        a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = a * 3
        if op == "zero_":
            y.zero_()
        elif op == "fill_scalar":
            y.fill_(2.0)
        elif op == "fill_tensor":
            y.fill_(lib.tensor(2.0))
        elif op == "copy_constant":
            y.copy_(lib.tensor([5.0, 6.0]))
        elif op == "copy_tracked":
            y.copy_(a[0] * 2)
        elif op == "copy_other_dtype":
            y.copy_(lib.tensor(5.0, dtype=lib.float64))
        elif op == "uniform_":
            y.uniform_()
        elif op == "normal_":
            y.normal_()
        else:
            y[1].zero_()
        (y * a).sum().backward()
        values = None if op in ("uniform_", "normal_") else y
        edges = y.grad_fn.next_functions
        return values, y.grad_fn.name(), edges, a.grad - y.detach()
    same(fn)


def _sig(node, depth=2):
    """A node's name and next_functions, ``depth`` levels down."""
    if node is None or depth == 0:
        return None if node is None else node.name()
    return (node.name(), [(None if f is None else _sig(f, depth - 1), nr)
                          for f, nr in node.next_functions])


VIEWS = {"select": lambda a: a[0], "slice": lambda a: a[:, 1:], "view": lambda a: a.view(6),
         "reshape": lambda a: a.reshape(3, 2), "t": lambda a: a.t(), "T": lambda a: a.T,
         "transpose": lambda a: a.transpose(0, 1), "permute": lambda a: a.permute(1, 0),
         "unsqueeze": lambda a: a.unsqueeze(0), "squeeze": lambda a: a.unsqueeze(0).squeeze(0),
         "expand": lambda a: a[:1].expand(3, 3), "diagonal": lambda a: a.diagonal(),
         "narrow": lambda a: a.narrow(1, 0, 2), "view_of_view": lambda a: a[0][1:],
         "flatten": lambda a: a.flatten(), "index_none": lambda a: a[None],
         "ellipsis": lambda a: a[..., 1], "step_slice": lambda a: a[:, ::2]}


@pytest.mark.parametrize("edit", ["mul_", "add_tensor", "no_grad_mul_", "sibling_view",
                                  "twice", "leaf_base_no_grad"])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_views_made_before_an_in_place_change_get_as_strided(view, edit):
    """torch regenerates a view's node once its base (or another view of it) changed in
    place: AsStridedBackward0, one edge to the base's history now, whatever the view op
    (views of views included); gradients flow through it."""
    def fn(lib):
        leaf = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        w = lib.tensor([2.0, 3.0, 4.0], requires_grad=True)
        a = leaf if edit == "leaf_base_no_grad" else leaf.clone()
        v = VIEWS[view](a)
        before = _sig(v.grad_fn, 1)
        if edit == "mul_":
            a.mul_(2)
        elif edit == "add_tensor":
            a.add_(w)
        elif edit in ("no_grad_mul_", "leaf_base_no_grad"):
            with lib.no_grad():
                a.mul_(2)
        elif edit == "sibling_view":
            a[1].mul_(w)
        else:
            a.mul_(2)
            a.add_(1)
        node = v.grad_fn
        geometry = (node._saved_size, node._saved_stride, node._saved_storage_offset)
        weights = lib.arange(v.numel(), dtype=lib.float32).reshape(tuple(v.shape))
        g = lib.autograd.grad((v * weights).sum(), [leaf, w], allow_unused=True)
        return before, _sig(v.grad_fn, 3), geometry, v.requires_grad, v, g
    same(fn)


_T = [7.0, 8.0, 9.0]


@pytest.mark.parametrize("case", ["mul_scalar", "mul_tensor", "mul_constant", "add_tensor",
                                  "add_alpha", "add_scalar", "sub_tensor", "div_tensor",
                                  "pow_scalar", "pow_tensor", "copy_tensor", "copy_constant",
                                  "copy_tracked", "zero_", "fill_scalar", "fill_tensor",
                                  "clamp_", "exp_", "sin_", "setitem_tensor", "setitem_tracked",
                                  "setitem_scalar", "setitem_slice", "setitem_column",
                                  "setitem_index_tensor", "zeros_base_mul", "zeros_base_set",
                                  "view_of_view", "nested_on_transpose"])
def test_copy_slices_takes_the_ops_edges(case):
    """An in-place op on a view gives the base CopySlices whose edges are the base's old
    history, then the op's node's edges but its first (torch's CopySlices constructor):
    ``v.mul_(3)`` has (base, None), ``v.add_(t)`` (base, t), ``v.exp_()`` just (base)."""
    def fn(lib):
        leaf = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        t = lib.tensor(_T, requires_grad=True)
        a = lib.zeros(2, 3) if case.startswith("zeros_base") else leaf.clone()
        v = a[0]
        edit = {
            "mul_scalar": lambda: v.mul_(3), "mul_tensor": lambda: v.mul_(t),
            "mul_constant": lambda: v.mul_(lib.tensor([1.0, 2.0, 3.0])),
            "add_tensor": lambda: v.add_(t), "add_alpha": lambda: v.add_(t, alpha=2),
            "add_scalar": lambda: v.add_(1), "sub_tensor": lambda: v.sub_(t),
            "div_tensor": lambda: v.div_(t), "pow_scalar": lambda: v.pow_(2),
            "pow_tensor": lambda: v.pow_(t * 0.1), "copy_tensor": lambda: v.copy_(t),
            "copy_constant": lambda: v.copy_(lib.tensor([1.0, 2.0, 3.0])),
            "copy_tracked": lambda: v.copy_(t * 2), "zero_": lambda: v.zero_(),
            "fill_scalar": lambda: v.fill_(2.0), "fill_tensor": lambda: v.fill_(t[0]),
            "clamp_": lambda: v.clamp_(2, 5), "exp_": lambda: v.exp_(),
            "sin_": lambda: v.sin_(),
            "setitem_tensor": lambda: a.__setitem__(0, t),
            "setitem_tracked": lambda: a.__setitem__(0, t * 2),
            "setitem_scalar": lambda: a.__setitem__(0, 5.0),
            "setitem_slice": lambda: a.__setitem__((0, slice(1, None)), t[:2]),
            "setitem_column": lambda: a.__setitem__((slice(None), 0), 1.0),
            "setitem_index_tensor": lambda: a.__setitem__(lib.tensor([0]), t),
            "zeros_base_mul": lambda: v.mul_(t), "zeros_base_set": lambda: a.__setitem__(0, t),
            "view_of_view": lambda: v[1:].mul_(t[:2]),
            "nested_on_transpose": lambda: a.t()[0].mul_(t[:2]),
        }[case]
        edit()
        g = lib.autograd.grad((a * a).sum(), [leaf, t], allow_unused=True, create_graph=True)
        gg = [None if x is None or not x.requires_grad else
              lib.autograd.grad(x.sum(), [leaf, t], allow_unused=True, retain_graph=True)
              for x in g]
        return a, _sig(a.grad_fn, 2), _sig(v.grad_fn, 1), g, gg
    same(fn)


@pytest.mark.parametrize("case", ["unbind", "split", "chunk", "view_of_unbind", "no_grad_view",
                                  "no_grad_view_no_grad_edit", "no_grad_view_of_no_grad_view",
                                  "unbind_then_backward", "no_grad_base_without_grad",
                                  "edit_no_grad_view", "unbind_edit_no_grad"])
def test_views_torch_gives_no_new_history(case):
    """A view made by a multi-view function, or in no_grad mode, whose base then changed in
    place: torch refuses it a history, with these texts. (torch raises as soon as such a
    view is used in an op; the engine at the backward through it: the graph's part of the
    case compares the backward.)"""
    def fn(lib):
        leaf = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        a = lib.zeros(2, 3) if case == "no_grad_base_without_grad" else leaf.clone()
        if case in ("unbind", "unbind_then_backward", "unbind_edit_no_grad"):
            v = a.unbind(0)[1]
        elif case == "split":
            v = a.split(1)[1]
        elif case == "chunk":
            v = a.chunk(2)[0]
        elif case == "view_of_unbind":
            v = a.unbind(0)[1][1:]
        else:
            with lib.no_grad():
                v = a[0]
                if case == "no_grad_view_of_no_grad_view":
                    v = v[1:]
        if case == "edit_no_grad_view":
            v.mul_(2)
        elif case in ("no_grad_view_no_grad_edit", "unbind_edit_no_grad"):
            with lib.no_grad():
                a.mul_(2)
        else:
            a.mul_(2)
        if case == "unbind_then_backward":
            (v * 2).sum().backward()
        return v.is_leaf, v.requires_grad, v.grad_fn
    same(fn)


@pytest.mark.parametrize("src", [[1.0, 2.0], [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], 7.0,
                                 [[1.0], [2.0]]])
def test_copy_broadcasting(src):
    def fn(lib):
        y = leaf_vector(lib) * 1
        y.copy_(lib.tensor(src))
        return y
    same(fn)


@pytest.mark.parametrize("how", ["view_zero", "setitem_scalar", "setitem_index_tensor",
                                 "zero_no_view"])
def test_second_backward_through_in_place_writes(how):
    def fn(lib):
        a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = a + 0
        if how == "view_zero":
            y[0].zero_()
        elif how == "setitem_scalar":
            y[0, 1] = 5.0
        elif how == "setitem_index_tensor":
            y[lib.tensor([0, 1]), lib.tensor([1, 0])] = 5.0
        else:
            y.zero_()
        s = y.sum()
        s.backward()
        s.backward()
        return a.grad
    same(fn)


@pytest.mark.parametrize("fn_name", ["unbind", "split", "chunk", "unbind_no_grad_base"])
def test_in_place_on_outputs_of_multi_view_functions(fn_name):
    def fn(lib):
        a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = a * 1
        if fn_name == "unbind":
            y.unbind(0)[1].mul_(2)
        elif fn_name == "split":
            y.split(1)[0].add_(1)
        elif fn_name == "chunk":
            y.chunk(2)[1].zero_()
        else:
            z = lib.zeros(2, 2)
            z.unbind(0)[0].mul_(lib.tensor(1.0, requires_grad=True))
    same(fn)


def test_in_place_on_multi_view_outputs_under_no_grad_is_allowed():
    def fn(lib):
        a = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        y = a * 1
        with lib.no_grad():
            y.unbind(0)[0].mul_(2)
        return y
    same(fn)


@pytest.mark.parametrize("case", ["expand_overlap", "expand_overlap_grad", "expand_same_shape",
                                  "expand_same_shape_no_grad", "transpose_no_grad"])
def test_in_place_on_expanded_and_other_views(case):
    def fn(lib):
        a = lib.tensor([[1.0, 2.0]], requires_grad=True)
        x = lib.tensor([[1.0, 2.0]])
        if case == "expand_overlap":
            x.expand(3, 2).add_(1)
        elif case == "expand_overlap_grad":
            (a * 1).expand(3, 2).mul_(2)
        elif case == "expand_same_shape":
            y = a * 1
            y.expand(1, 2).mul_(2)
            y.sum().backward()
            return y, a.grad
        elif case == "expand_same_shape_no_grad":
            x.expand(1, 2).mul_(3)
            return x
        else:
            m = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
            m.t()[0].mul_(10)
            return m
    same(fn)


def test_contiguous_then_view_and_clone_layouts():
    """x.t().contiguous().view(-1), the common idiom: contiguous() copies into row-major
    order (clone with contiguous_format), clone() keeps the strides (preserve_format)."""
    def fn(lib):
        x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        t = x.t()
        y = t.contiguous()
        flat = y.view(-1)
        (flat * lib.arange(6.0)).sum().backward()
        kept = t.clone()
        made = t.clone(memory_format=lib.contiguous_format)
        return (flat, x.grad, y.is_contiguous(), y.grad_fn.name(), kept.is_contiguous(),
                made.is_contiguous(), made.grad_fn.name(), repr(lib.contiguous_format))
    same(fn)


# ---------------------------------------------------------------- views made before their
# base required grad: they require grad through it, yet stay leaves with no gradient edge

@pytest.mark.parametrize("case", [
    "slice", "view", "transpose", "made_under_no_grad", "unbind", "view_of_a_view",
    "view_made_from_it_after", "base_turned_off_again", "own_flag_turned_off",
    "own_flag_turned_on", "setter_off", "other_view_turned_on", "grad_wrt_the_view",
    "grad_wrt_the_base", "grad_wrt_the_base_allow_unused", "clone_edges", "in_place_on_it"])
def test_view_made_before_its_base_required_grad(case):
    def fn(lib):
        a = lib.ones(2, 3)
        if case == "made_under_no_grad":
            with lib.no_grad():
                b = a[:]
        elif case == "view":
            b = a.view(6)
        elif case == "transpose":
            b = a.t()
        elif case == "unbind":
            b = a.unbind(0)[1]
        elif case == "view_of_a_view":
            b = a[1:][0]
        elif case == "other_view_turned_on":
            c = a[:]
            b = a[1]
            c.requires_grad_()
            return a.requires_grad, b.requires_grad, c.requires_grad
        else:
            b = a[:]
        a.requires_grad_()
        if case == "view_made_from_it_after":
            c = b.view(-1)
            (c * 2).sum().backward()
            return b, c, c.grad_fn.next_functions, a.grad, b.grad
        if case == "base_turned_off_again":
            a.requires_grad_(False)
            return b
        if case == "own_flag_turned_off":
            b.requires_grad_(False)
            return b
        if case == "setter_off":
            b.requires_grad = False
            return b
        if case == "own_flag_turned_on":
            b.requires_grad_()
            (b * 3).sum().backward()
            return b, b.grad, a.grad
        if case == "grad_wrt_the_view":
            return lib.autograd.grad((b * 2).sum(), [b])
        if case == "grad_wrt_the_base":
            return lib.autograd.grad((b * 2).sum(), [a])
        if case == "grad_wrt_the_base_allow_unused":
            return lib.autograd.grad((b * 2).sum(), [a], allow_unused=True)
        if case == "clone_edges":
            return b.clone().grad_fn.next_functions
        if case == "in_place_on_it":
            b.mul_(2)
        out = (b * 2).sum()
        nexts = out.grad_fn.next_functions[0][0].next_functions
        out.backward()
        return b, b.grad_fn, b.is_leaf, nexts, a.grad, b.grad
    same(fn)


@pytest.mark.parametrize("size", [(-1,), (3, -1), (-1, 1)])
def test_reshape_with_an_inferred_size_of_a_view_that_stays_a_view(size):
    """A non-contiguous tensor whose strides allow the new shape is reshaped without a
    copy (torch's _reshape_alias), -1 resolved; a sum's expanded gradient is one."""
    def fn(lib):
        x = lib.tensor([2.0, 0.25, 1.0], requires_grad=True)
        g = lib.autograd.grad(x.sum(), [x])[0]
        m = lib.ones(3, 1).expand(3, 4)[:, :1]
        return g.reshape(*size).shape, m.reshape(*size), m.reshape(*size).is_contiguous()
    same(fn)


# ---------------------------------------------------------------- set_: a tensor takes
# another's memory (or a storage's part, or none)

@pytest.mark.parametrize("case", [
    "shares_memory", "follows_in_place_changes", "nothing", "leaf_requiring_grad",
    "leaf_requiring_grad_under_no_grad", "leaf_takes_a_new_accumulator", "non_leaf", "source_requires_grad", "storage",
    "storage_part", "tensor_part_with_strides", "offset_counted_from_a_view",
    "out_of_bounds", "negative_offset", "other_dtype", "keywords", "not_a_tensor"])
def test_set_(case):
    def fn(lib):
        a = lib.tensor([1.0, 2.0, 3.0])
        b = lib.zeros(2)
        if case == "shares_memory":
            b.set_(a)
            b[0] = 9.0
            return a, b, (a._version, b._version), b.stride(), b.storage_offset()
        if case == "follows_in_place_changes":
            b.set_(a)
            a.add_(1)
            a.mul_(lib.tensor(2.0))
            return b, (a._version, b._version)
        if case == "nothing":
            return b.set_(), b._version
        if case == "leaf_requiring_grad":
            return lib.zeros(2, requires_grad=True).set_(a)
        if case == "leaf_requiring_grad_under_no_grad":
            with lib.no_grad():
                return lib.zeros(2, requires_grad=True).set_(a)
        if case == "leaf_takes_a_new_accumulator":  # what the graph made before no longer
            x = lib.ones(2, requires_grad=True)     # reaches x
            before = lib.autograd.graph.get_gradient_edge(x)
            out = (x * 3).sum()
            with lib.no_grad():
                x.set_(lib.full((2,), 5.0))
            after = lib.autograd.graph.get_gradient_edge(x).node
            return (after is before.node, lib.autograd.grad(out, [before]),
                    lib.autograd.grad(out, [x]))
        if case == "non_leaf":
            x = lib.ones(3, requires_grad=True)
            y = (x * 2).set_(a)
            nexts = [None if n is None else n.name() for n, _ in y.grad_fn.next_functions]
            y.sum().backward()
            return y, nexts
        if case == "source_requires_grad":
            y = b.set_(lib.ones(3, requires_grad=True) * 1)
            return y, [None if n is None else n.name() for n, _ in y.grad_fn.next_functions]
        if case == "storage":
            return b.set_(a.untyped_storage()), b.storage_offset()
        if case == "storage_part":
            return b.set_(a.untyped_storage(), 1, (2,)), b.storage_offset()
        if case == "tensor_part_with_strides":
            return b.set_(a, 0, (2, 2), (1, 1)), b.stride()
        if case == "offset_counted_from_a_view":
            c = lib.arange(6.0)
            return [lib.zeros(1).set_(c[2:], k, (2,)).storage_offset() for k in range(3)]
        if case == "out_of_bounds":
            return b.set_(a, 2, (2,))
        if case == "negative_offset":
            return b.set_(a, -1, (2,))
        if case == "other_dtype":
            return lib.zeros(2, dtype=lib.float64).set_(a)
        if case == "keywords":
            return b.set_(source=a, storage_offset=1, size=(2,))
        return b.set_(3)
    same(fn)
