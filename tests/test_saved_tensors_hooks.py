"""torch.autograd.graph.saved_tensors_hooks and per-node saved-tensor hooks, against torch."""

from support.made_up_derivatives import cube
from support.pairs import assert_same


def test_pack_and_unpack_calls_and_gradients():
    def scenario(lib, log):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        calls = []

        def pack(t):
            calls.append(("pack", tuple(t.shape), t.requires_grad, t.grad_fn is None))
            return t.detach() * 1

        def unpack(p):
            calls.append("unpack")
            return p

        with lib.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = x.pow(2)
            z = y.exp()
        log(calls)
        saved = y.grad_fn._saved_self  # an input: a leaf with x's identity
        log(saved is x, saved.requires_grad, saved.is_leaf, saved)
        result = z.grad_fn._saved_result  # an output: the saving node is its grad_fn
        log(result.requires_grad, result.grad_fn is z.grad_fn, result)
        z.sum().backward()
        log(calls, x.grad)
        log.raises(lambda: z.sum().backward())
    assert_same(scenario)


def test_hooks_values_reach_the_backward_and_higher_order():
    def scenario(lib, log):
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t * 2, lambda p: p / 2):
            y = (x * x * x).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        log(g)
        (gg,) = lib.autograd.grad(g.sum(), x)
        log(gg)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t, lambda p: p * 0 + 1):
            w = (x * x).sum()  # the backward sees ones for every saved x
        w.backward()
        log(x.grad)
    assert_same(scenario)


def test_innermost_hooks_win_and_apply_to_functions():
    def scenario(lib, log):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []

        Cube = cube(lib.autograd.Function)

        def outer(t):
            seen.append("outer")
            return t

        def inner(t):
            seen.append("inner")
            return t

        with lib.autograd.graph.saved_tensors_hooks(outer, lambda p: p):
            a = x.sin()
            with lib.autograd.graph.saved_tensors_hooks(inner, lambda p: p + 1):
                b = Cube.apply(x)
            c = x.cos()
        log(seen)
        (a + b + c).sum().backward()
        log(x.grad)
    assert_same(scenario)


def test_hook_errors():
    def scenario(lib, log):
        graph = lib.autograd.graph
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        with graph.saved_tensors_hooks(lambda t: 1, lambda p: p):
            y = x.pow(2)
        log.raises(lambda: y.sum().backward())

        def bad_pack(t):
            t.add_(1)
            return t

        a = x.clone()
        with graph.saved_tensors_hooks(bad_pack, lambda p: p):
            log.raises(lambda: a.pow(2))
        with graph.disable_saved_tensors_hooks("hooks are off here"):
            log.raises(lambda: graph.saved_tensors_hooks(lambda t: t, lambda p: p).__enter__())
        with graph.saved_tensors_hooks(lambda t: t, lambda p: p):
            pass  # usable again after the block
        # the hooks own the value: no in-place check
        b = x.clone()
        with graph.saved_tensors_hooks(lambda t: t.clone(), lambda p: p):
            y = b.pow(2)
        b.mul_(3)
        y.sum().backward()
        log(x.grad)
    assert_same(scenario)


def test_hooks_on_one_saved_tensor():
    def scenario(lib, log):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x.pow(2)
        raw = y.grad_fn._raw_saved_self
        log.raises(lambda: raw.register_hooks(lambda t: t))
        raw.register_hooks(lambda t: t * 2, lambda p: p + 1)
        log(y.grad_fn._saved_self)
        log.raises(lambda: raw.register_hooks(lambda t: t, lambda t: t))
        y.sum().backward()
        log(x.grad)
        log.raises(lambda: raw.register_hooks(lambda t: t, lambda t: t))
        z = x.exp()
        z.grad_fn._raw_saved_result.register_hooks(lambda t: t, lambda p: p * 0)
        z.sum().backward()
        log(x.grad)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
            w = x.pow(2)
        log.raises(lambda: w.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda t: t))
    assert_same(scenario)


def test_save_on_cpu_gives_the_same_gradients():
    def scenario(lib, log):
        x = lib.tensor([[0.5, 1.5], [2.0, -1.0]], requires_grad=True)
        with lib.autograd.graph.save_on_cpu():
            y = (x.tanh() @ x).sigmoid().sum()
        y.backward()
        log(x.grad)
    assert_same(scenario)


def test_hooks_entered_inside_backward_do_not_outlive_it():
    # torch runs a backward under the thread state it began with: a hooks context an
    # unpack hook enters (and never leaves) is gone once the backward ends, and so is the
    # reference the stack held to its hooks
    def scenario(lib, log):
        packed = []
        stray = lib.autograd.graph.saved_tensors_hooks(
            lambda t: packed.append("stray") or t, lambda t: t)

        def unpack(t):
            stray.__enter__()
            return t

        x = lib.ones(2, requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(lambda t: t, unpack):
            y = x.sin()
        y.sum().backward()
        after = x.cos()  # saves x: only a hook still on the stack would see it
        after.sum().backward()
        log(packed, x.grad)
    assert_same(scenario)


def test_inplace_variant_packs_a_clone_of_self():
    def scenario(lib, log):
        a = lib.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
        b = a.clone()
        w = lib.tensor([[1.5, 2.0], [-0.5, 3.0]], requires_grad=True)
        seen = []

        def pack(t):
            seen.append((t is b, type(t.grad_fn).__name__, t._version, t.is_leaf))
            return t

        with lib.autograd.graph.saved_tensors_hooks(pack, lambda p: p):
            b.sin_()  # saves the value before the change: a clone, not b itself
            b.mul_(w)
            mul = b.grad_fn
            b.add_(1)  # saves nothing of self
        log(sorted(seen), b._version)
        log(type(mul._saved_self.grad_fn).__name__)
        b.sum().backward()
        log(a.grad, w.grad)
    assert_same(scenario)


def test_pack_hooks_run_with_grad_mode_off():
    def scenario(lib, log):
        seen = []

        def pack(t):
            seen.append(("pack", lib.is_grad_enabled(), (t * 2).requires_grad))
            return t

        def unpack(p):
            seen.append(("unpack", lib.is_grad_enabled()))
            return p

        def double_in_place(t):
            t *= 2  # a leaf that requires grad too: no leaf error, grad mode is off
            return t

        a = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
        with lib.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = a * a
        z = a * a
        z.grad_fn._raw_saved_self.register_hooks(pack, unpack)
        lib.autograd.grad(y.sum() + z.sum(), a, create_graph=True)
        log(seen)
        for make in (lambda: a.detach().requires_grad_(), lambda: a * 1):
            t = make()
            version = t._version
            log.raises(lambda t=t: (t * t).grad_fn._raw_saved_self.register_hooks(
                double_in_place, lambda p: p))
            with lib.autograd.graph.saved_tensors_hooks(double_in_place, lambda p: p):
                log.raises(lambda t=t: t * t)
            log(t._version - version, type(t.grad_fn).__name__, t)
    assert_same(scenario)


def test_saved_tensor_type_only_comes_from_a_node():
    def scenario(lib, log):
        log.raises(lambda: lib.autograd.SavedTensor())
        log.raises(lambda: lib.autograd.SavedTensor(lib.ones(2)))
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        raw = x.exp().grad_fn._raw_saved_result
        log(type(raw).__name__, isinstance(raw, lib.autograd.SavedTensor))
    assert_same(scenario)
