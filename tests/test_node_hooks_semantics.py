"""Hooks on graph nodes and tensors, in the order and number torch 2.13 runs them: tensor
hooks before the node's pre-hooks, an AccumulateGrad node's own pre- and post-hooks,
what grad() runs (a leaf's tensor hooks, not its node's hooks) and backward(inputs=...)
(an input's own node runs), hooks called with None for an output that gets no gradient,
and a hook that replaces a None gradient refused. Each story runs under torch and the
engine; the logs and results must agree."""

import pytest
import torch
from support.functions import product
from support.pairs import assert_same
from support.semantics_harness import outcome, stories

import engine


def _values(t):
    return None if t is None else t.tolist()


def _ordering(lib):
    log = []

    def tensor_hook(g):
        log.append(("tensor", g.item()))
        return g * 3

    def node_pre_hook(gs):
        log.append(("node", gs[0].item()))
        return tuple(g * 2 for g in gs)

    a = lib.tensor(1.0, requires_grad=True)
    b = a.clone()
    b.grad_fn.register_prehook(node_pre_hook)
    b.register_hook(tensor_hook)
    b.grad_fn.register_prehook(node_pre_hook)
    accumulate = b.grad_fn.next_functions[0][0]
    a.register_hook(tensor_hook)
    accumulate.register_prehook(node_pre_hook)
    a.register_hook(tensor_hook)

    runs = []
    b.sum().backward(retain_graph=True)
    runs.append((log[:], a.grad.item()))
    log.clear()
    runs.append((lib.autograd.grad(b.sum(), inputs=(a,), retain_graph=True)[0].item(), log[:]))
    log.clear()
    b.sum().backward(inputs=(b,))
    runs.append((log[:], b.grad.item(), a.grad.item()))
    return runs


def _counts(lib):
    counts = {"tensor": 0, "pre": 0, "post": 0}

    def count(kind):
        def hook(*args):
            counts[kind] += 1
        return hook

    a = lib.tensor(1.0, requires_grad=True)
    b = a * 2
    c = b * 2
    a.register_hook(count("tensor"))
    b.register_hook(count("tensor"))
    accumulate = b.grad_fn.next_functions[0][0]
    accumulate.register_hook(count("post"))
    accumulate.register_prehook(count("pre"))
    b.grad_fn.register_hook(count("post"))
    b.grad_fn.register_prehook(count("pre"))

    seen = []
    for run in (lambda: lib.autograd.grad(c, inputs=(b,), retain_graph=True),
                lambda: lib.autograd.grad(c, inputs=(a, b), retain_graph=True),
                lambda: c.backward(retain_graph=True),
                lambda: c.backward(inputs=(a, b), retain_graph=True)):
        run()
        seen.append(dict(counts))
        counts.update(tensor=0, pre=0, post=0)
    return seen


def _accumulate_grad_node_hooks_see_tensor_hooks(lib):
    log = []
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = a.clone()
    accumulate = b.grad_fn.next_functions[0][0]
    accumulate.register_hook(lambda outs, ins: log.append(("post", len(outs),
                                                            [_values(g) for g in ins])))
    accumulate.register_prehook(lambda ins: log.append(("pre", [_values(g) for g in ins])))
    a.register_hook(lambda g: g * 2)
    b.sum().backward()
    return log, _values(a.grad)


def _accumulate_grad_pre_hook_replaces(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = a * 3
    accumulate = b.grad_fn.next_functions[0][0]
    accumulate.register_prehook(lambda gs: (gs[0] + 10,))
    b.sum().backward()
    return _values(a.grad)


def _unreached_leaf_runs_nothing(lib):
    log = []
    a = lib.tensor(1.0, requires_grad=True)
    a.register_hook(lambda g: log.append("tensor"))
    b = lib.tensor(1.0, requires_grad=True)
    c = a.clone()
    c.grad_fn.next_functions[0][0].register_hook(lambda *args: log.append("post"))
    (a + b + c).sum().backward(inputs=[b])
    return log, _values(b.grad), _values(a.grad)


def _hooks_called_with_none(lib):
    log = []
    x = lib.ones(3, requires_grad=True)
    parts = x.unbind()
    parts[0].register_hook(lambda g: log.append(("part0", _values(g))))
    parts[2].register_hook(lambda g: log.append(("part2", _values(g))))
    parts[0].retain_grad()
    parts[1].backward(lib.tensor(2.0))
    return log, _values(x.grad), _values(parts[0].grad)


def _leaf_hook_called_with_none(lib):
    log = []

    FirstOnly = product(lib, "FirstOnly", backward=lambda ctx, g: (g, None))
    a = lib.ones(2, requires_grad=True)
    b = lib.ones(2, requires_grad=True)
    a.register_hook(lambda g: log.append(("a", _values(g))))
    b.register_hook(lambda g: log.append(("b", _values(g))))
    FirstOnly.apply(a, b).sum().backward()
    return log, _values(a.grad), _values(b.grad)


def _hook_replacing_none(lib):
    x = lib.ones(2, requires_grad=True)
    first, second = x.unbind()
    first.register_hook(lambda g: lib.tensor(5.0) if g is None else None)
    second.backward()


def _accumulate_grad_hooks_with_post_accumulate_hook(lib):
    log = []
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    accumulate = (x * 1).grad_fn.next_functions[0][0]
    x.register_hook(lambda g: (log.append("tensor pre-hook"), g - 2)[1])
    accumulate.register_prehook(lambda gs: (log.append("node pre-hook"), (gs[0] / 5,))[1])
    x.register_post_accumulate_grad_hook(
        lambda t: (log.append("post-accumulate hook"), t.grad.add_(0.5))[0])
    accumulate.register_hook(lambda outs, ins: log.append("node post-hook"))
    x.sum().backward()
    return log, [round(g, 6) for g in x.grad.tolist()]


def _node_reached_by_two_paths(lib):
    # exp's node gets gradients from sin and cos: its hooks fire once per walk, after both
    log = []
    x = lib.ones(2, requires_grad=True)
    y = x.exp()
    z = y.sin() + y.cos()
    add = z.grad_fn
    sin, cos = (edge[0] for edge in add.next_functions)
    accumulate = y.grad_fn.next_functions[0][0]
    for name, node in (("add", add), ("exp", y.grad_fn), ("sin", sin), ("cos", cos),
                       ("accumulate", accumulate)):
        node.register_prehook(lambda outs, name=name: log.append(("pre", name)))
        node.register_hook(lambda ins, outs, name=name: log.append(("post", name)))
    for run in (lambda: z.sum().backward(retain_graph=True),
                lambda: z.sum().backward(inputs=[y], retain_graph=True),
                lambda: lib.autograd.grad(z.sum(), [y], retain_graph=True),
                lambda: lib.autograd.grad(z.sum(), [x])):
        run()
        log.append("end of walk")
    return log


@stories(_ordering, _counts, _accumulate_grad_node_hooks_see_tensor_hooks,
         _accumulate_grad_pre_hook_replaces, _unreached_leaf_runs_nothing,
         _hooks_called_with_none, _leaf_hook_called_with_none, _hook_replacing_none,
         _accumulate_grad_hooks_with_post_accumulate_hook, _node_reached_by_two_paths)
def test_hooks(story):
    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


# -- what a node hook may return: a tuple of as many gradients, each None or a Tensor of
#    the replaced one's dtype and size (not in place of a None); a post hook's result is
#    what the next post hook sees

class _HookObject:
    """A hook without __name__ (torch names it '<unknown>')."""

    def __call__(self, grads):
        return tuple(None if g is None else g.double() for g in grads)


def _a_function(lib):
    return product(lib, "Scale", backward=lambda ctx, grad: (grad, grad))


def _node_of(lib, where, x):
    if where == "a custom Function":
        out = _a_function(lib).apply(x, lib.ones(2, requires_grad=True))
        return out, out.grad_fn
    out = x * 2
    if where == "AccumulateGrad":
        return out, out.grad_fn.next_functions[0][0]
    return out, out.grad_fn


NODE_HOOK_RESULTS = {
    "post hook, a list": lambda node, log: node.register_hook(lambda ins, outs: list(ins)),
    "post hook, too many": lambda node, log: node.register_hook(lambda ins, outs: ins + ins),
    "post hook, the same tuple": lambda node, log: node.register_hook(lambda ins, outs: ins),
    "post hook, all None": lambda node, log: node.register_hook(
        lambda ins, outs: tuple(None for _ in ins)),
    "post hook, a value for a None": lambda node, log: node.register_hook(
        lambda ins, outs: tuple(outs[0] if g is None else g for g in ins)),
    "post hooks, the second sees the first's": lambda node, log: (
        node.register_hook(lambda ins, outs: tuple(None if g is None else g * 3 for g in ins)),
        node.register_hook(lambda ins, outs: log.append([_values(g) for g in ins]))),
    "pre hook, another dtype": lambda node, log: node.register_prehook(
        lambda outs: (outs[0].double(),)),
    "pre hook, another size": lambda node, log: node.register_prehook(
        lambda outs: (outs[0].sum(),)),
    "pre hook, None": lambda node, log: node.register_prehook(lambda outs: (None,)),
    "pre hook, an object without a name": lambda node, log: node.register_prehook(
        _HookObject()),
}


@pytest.mark.parametrize("where", ["a built-in node", "a custom Function", "AccumulateGrad"])
@pytest.mark.parametrize("name", list(NODE_HOOK_RESULTS))
def test_what_node_hooks_return(name, where):
    def story(lib):
        log = []
        x = lib.ones(2, requires_grad=True)
        out, node = _node_of(lib, where, x)
        NODE_HOOK_RESULTS[name](node, log)
        out.sum().backward()
        return _values(x.grad), log

    assert outcome(lambda: story(engine)) == outcome(lambda: story(torch))


def test_accumulate_grad_node_hooks_see_the_gradient_that_became_grad():
    # torch makes a fresh gradient nothing else holds (here the one the node's pre-hook
    # returns) the leaf's .grad itself, so the node's post-hook sees what a
    # post-accumulate hook did to .grad in place
    def scenario(lib, log):
        leaf = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        acc = leaf.view_as(leaf).grad_fn.next_functions[0][0]

        def shrink(grads):
            return (grads[0].div(5.0),)

        def bump(t):
            t.grad.add_(0.5)

        def replace(grad_inputs, grad_outputs):
            log(grad_outputs[0])
            leaf.grad = grad_outputs[0].mul(10)

        leaf.register_hook(lambda g: g.sub(2.0))
        acc.register_prehook(shrink)
        leaf.register_post_accumulate_grad_hook(bump)
        acc.register_hook(replace)
        leaf.sum().backward()
        log(leaf.grad)
        kept = []  # a gradient the hook keeps a reference to is not taken
        acc2 = lib.ones(2, requires_grad=True)
        node = acc2.view_as(acc2).grad_fn.next_functions[0][0]

        def keep(grads):
            kept.append(grads[0] * 2)
            return (kept[-1],)

        node.register_prehook(keep)
        (acc2 * 3).sum().backward()
        with lib.no_grad():
            acc2.grad.add_(1)
        log(acc2.grad, kept[0])
    assert_same(scenario)
