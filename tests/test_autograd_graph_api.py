"""torch.autograd.graph's GradientEdge / get_gradient_edge, register_multi_grad_hook,
increment_version, allow_mutation_on_saved_tensors, and
Tensor.register_post_accumulate_grad_hook, against torch."""

from support.pairs import assert_same


def test_gradient_edges_as_inputs_and_outputs():
    def scenario(lib, log):
        edge_of = lib.autograd.graph.get_gradient_edge
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        z = y.exp().sum()
        ey, ex = edge_of(y), edge_of(x)
        log(type(ey.node).__name__, ey.output_nr, type(ex.node).__name__, ex.output_nr)
        log(isinstance(ey, tuple), ey.node is y.grad_fn)
        log(lib.autograd.grad(z, ey, retain_graph=True))
        log(lib.autograd.grad(z, [ex, y], retain_graph=True))
        log(lib.autograd.grad(ey, x, grad_outputs=lib.ones(2), retain_graph=True))
        log.raises(lambda: lib.autograd.grad(ey, x, retain_graph=True))
        z.backward(inputs=[ex], retain_graph=True)
        log(x.grad)
        lib.autograd.backward(ey, lib.ones(2))
        log(x.grad)
        log.raises(lambda: edge_of(lib.ones(2)))
        _, b = lib.ones(2, requires_grad=True).unbind(0)
        log(edge_of(b).output_nr)
    assert_same(scenario)


def test_increment_version_makes_saved_tensors_stale():
    def scenario(lib, log):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        a = x.clone()
        y = a * a
        lib.autograd.graph.increment_version(a)
        log.raises(lambda: y.sum().backward())
        b = x.clone()
        z = b.exp()
        lib.autograd.graph.increment_version([b])
        log.raises(lambda: z.sum().backward())
    assert_same(scenario)


def test_multi_grad_hook_all_and_any():
    def scenario(lib, log):
        graph = lib.autograd.graph
        t1, t2, t3, t4 = (lib.ones(2, requires_grad=True) for _ in range(4))
        seen = []
        handle = graph.register_multi_grad_hook(
            (t1, t2, t3, t4), lambda grads: seen.append([g is not None for g in grads]))
        (t2 * t3).sum().backward(inputs=(t2, t3))
        (t1 * t2 * t4).sum().backward()
        (t1 * 2).sum().backward()
        log(seen)
        log.raises(lambda: lib.autograd.grad((t1 * t3).sum(), (t1,)))
        handle.remove()
        (t1 * t2).sum().backward()
        log(len(seen))
        first = []
        graph.register_multi_grad_hook((t1, t2), lambda g: first.append(g), mode="any")
        (t1 * 2 + t2 * 3).sum().backward()
        (t2 * 5).sum().backward()
        log(first)
        log.raises(lambda: graph.register_multi_grad_hook((t1,), print, mode="some"))
    assert_same(scenario)


def test_post_accumulate_grad_hook():
    def scenario(lib, log):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        calls = []
        handle = x.register_post_accumulate_grad_hook(
            lambda t: calls.append(("post", t is x, t.grad.tolist())))
        x.register_hook(lambda g: calls.append(("pre", g.tolist())))
        (x * 3).sum().backward()
        (x * 3).sum().backward()
        lib.autograd.grad((x * 3).sum(), x)  # grad() accumulates nothing: no post hook
        (x * 3).sum().backward(inputs=[x])
        log(calls)
        handle.remove()
        (x * 3).sum().backward()
        log(len(calls))
        log.raises(lambda: (x * 2).register_post_accumulate_grad_hook(lambda t: None))
        log.raises(lambda: lib.ones(2).register_post_accumulate_grad_hook(lambda t: None))
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        w.register_post_accumulate_grad_hook(lambda t: 5)
        log.raises(lambda: (w * 3).sum().backward())
        v = lib.tensor([1.0, 2.0], requires_grad=True)
        v.register_post_accumulate_grad_hook(lambda t: t.grad)
        log.raises(lambda: (v * 3).sum().backward())
        # an optimizer step inside the hook, as torch's docs suggest
        p = lib.tensor([1.0, -1.0], requires_grad=True)

        def step(t):
            with lib.no_grad():
                t.sub_(0.5 * t.grad)
                t.grad = None

        p.register_post_accumulate_grad_hook(step)
        (p * p).sum().backward()
        log(p, p.grad)
    assert_same(scenario)


def test_allow_mutation_on_saved_tensors():
    def scenario(lib, log):
        graph = lib.autograd.graph
        with graph.allow_mutation_on_saved_tensors():
            a = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
            b = a.clone()
            out = (b ** 2).sum()
            b.sin_()
            out.backward()
            log(a.grad, b)
            a.grad = None
            b = a.clone()
            out = (b * b).sum()
            b[0].mul_(2)  # through a view
            out.backward()
            log(a.grad)
            a.grad = None
            b = a.clone()
            row = b[1]
            out = row.exp().sum()
            b.add_(1)  # the base of what was saved
            out.backward()
            log(a.grad)
            a.grad = None
            b = a.clone()
            y = b * b
            b.sin_()
            z = b * b  # the same tensor saved again at its next version
            b.cos_()
            (y + z).sum().backward()
            log(a.grad)
            log.raises(lambda: graph.allow_mutation_on_saved_tensors().__enter__())
        with graph.allow_mutation_on_saved_tensors():
            out = (a.clone() ** 2).sum()
        try:
            out.backward()
        except AssertionError as e:
            log(str(e))
        # outside the block, the usual error is back
        b = a.clone()
        out = (b ** 2).sum()
        b.sin_()
        log.raises(lambda: out.backward())
    assert_same(scenario)


def test_node_metadata_and_sequence_numbers():
    def scenario(lib, log):
        x = lib.ones(2, requires_grad=True)
        y = x.exp()
        z = y.sin()
        y.grad_fn.metadata["tag"] = "kept"  # the same dict each time it is asked for
        log(y.grad_fn.metadata, z.grad_fn.metadata)
        log(isinstance(y.grad_fn, lib.autograd.graph.Node),
            isinstance(y.grad_fn.next_functions[0][0], lib.autograd.graph.Node))
        # absolute numbers are each library's own; order and gaps are torch's
        log(z.grad_fn._sequence_nr() - y.grad_fn._sequence_nr())
        log(y.grad_fn.next_functions[0][0]._sequence_nr())  # AccumulateGrad: UINT64_MAX
    assert_same(scenario)


def test_allow_mutation_on_saved_tensors_clones_only_what_is_still_saved():
    def scenario(lib, log):
        def count(ctx):
            return len(list(ctx.cloned.items()))

        start = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
        with lib.autograd.graph.allow_mutation_on_saved_tensors() as ctx:
            a = lib.tensor(start, requires_grad=True).clone()
            out = (a ** 2).sum()
            log(len(list(ctx.tid_to_weakhandle.items())), count(ctx))
            out.backward()  # frees what was saved: nothing to clone after
            a.sin_()
            log(count(ctx))
            out = (a ** 2).sum()
            a.sin_()
            log(count(ctx))
            del out
            log(count(ctx))
        with lib.autograd.graph.allow_mutation_on_saved_tensors() as ctx:
            a = lib.tensor(start, requires_grad=True).clone()
            b, c = a ** 2, a ** 2  # one tensor at one version: cloned once
            a.sin_()
            log(count(ctx))
            del b, c
            log(count(ctx))
        with lib.autograd.graph.allow_mutation_on_saved_tensors() as ctx:
            a = lib.tensor(start, requires_grad=True).clone()
            b = a ** 2
            a.sin_()
            c = a ** 2
            a.sin_()  # each version saved gets its clone
            log(count(ctx))
            del b
            log(count(ctx))
            del c
            log(count(ctx))
    assert_same(scenario)
