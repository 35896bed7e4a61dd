"""var_mean, std_mean and median beyond the per-op table tests: one node for both outputs
(torch's VarMeanBackward0), gradients through both, the lower median's ties; vs torch."""

from support.pairs import assert_same


def test_var_mean_equals_var_and_mean_and_one_node():
    def scenario(lib, log):
        data = [[[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], [[2.0, 1.0, -2.0], [0.0, 3.0, 1.0]]]
        a = lib.tensor(data, requires_grad=True)
        b = lib.tensor(data, requires_grad=True)
        var, mean = lib.var_mean(a, dim=[0, 2], keepdim=False)
        log(type(var.grad_fn).__name__, var.grad_fn is mean.grad_fn, var, mean)
        var2, mean2 = b.var(dim=[0, 2]), b.mean(dim=[0, 2])
        seed = lib.tensor([1.0, -2.0])
        (var * var * mean * mean).backward(seed)
        (var2 * var2 * mean2 * mean2).backward(seed)
        log(a.grad, b.grad)
        v, m = lib.var_mean(a, correction=0)
        (v + 2 * m).backward()
        log(v, m, a.grad)
        s, m = lib.std_mean(a, 1, keepdim=True)
        log(type(s.grad_fn).__name__, s, m)
        (s.sum() + m.sum()).backward()
        log(a.grad)
        (g,) = lib.autograd.grad(lib.var_mean(a)[0], a, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), a)
        log(g.detach(), gg)  # (torch's double-backward graph is its own composition)
    assert_same(scenario)


def test_median_lower_value_and_gradient():
    def scenario(lib, log):
        x = lib.tensor([[3.0, 1.0, 2.0, 5.0], [4.0, 4.0, 0.0, 1.0]], requires_grad=True)
        m = lib.median(x)
        log(m, type(m.grad_fn).__name__)
        m.backward()
        log(x.grad)
        x.grad = None
        values, indices = x.median(1)
        log(values, indices, type(values.grad_fn).__name__)
        values.sum().backward()
        log(x.grad)
        log(lib.median(lib.tensor([1.0, float("nan"), 0.0])))
    assert_same(scenario)


def test_min_max_median_nanmedian_share_the_gradient_among_ties_and_nans():
    # each of these full reductions picks one value; torch spreads its gradient evenly
    # over every element equal to it (over the NaNs, when the result is NaN)
    def scenario(lib, log):
        for name in ("min", "max", "median", "nanmedian"):
            for values in ([1.0, 0.0, 1.0, 0.0, 1.0, 0.0], [float("nan")] * 3,
                           [1.0, float("nan"), 2.0, 2.0]):
                x = lib.tensor(values, requires_grad=True)
                out = getattr(lib, name)(x)
                out.backward()
                log(name, out, x.grad)
    assert_same(scenario)
