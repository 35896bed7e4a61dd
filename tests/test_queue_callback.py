"""``Variable._execution_engine.queue_callback`` as torch 2.13 has it: refused outside a
backward; during one, the callback runs once every node of that walk has run (the leaves'
.grad written), before backward()/grad() returns, in the order queued, with callbacks a
callback queues run too; a nested (reentrant) walk runs its own callbacks when it ends.
torch is the oracle, run side by side with the engine."""

from support.semantics_harness import same, stories


def _queue(lib, callback):
    lib.autograd.Variable._execution_engine.queue_callback(callback)


def _outside_a_backward(lib):
    _queue(lib, lambda: None)


def _after_the_walk_in_order(lib):
    log = []
    x = lib.ones(2, requires_grad=True)
    y = x * 2

    def hook(grad):
        log.append("hook")

        def first():
            log.append(("first sees x.grad", x.grad))
            _queue(lib, lambda: log.append("queued by a callback"))

        _queue(lib, first)
        _queue(lib, lambda: log.append("second"))

    y.register_hook(hook)
    y.sum().backward()
    log.append("backward returned")
    return log


def _during_autograd_grad(lib):
    log = []
    x = lib.ones(2, requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: _queue(lib, lambda: log.append("callback")))
    grads = lib.autograd.grad(y.sum(), [x])
    return log, grads


def _nested_walk_runs_its_own(lib):
    log = []

    class Reentrant(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a.clone()

        @staticmethod
        def backward(ctx, grad):
            _queue(lib, lambda: log.append("outer walk's callback"))
            with lib.enable_grad():
                inner = lib.ones(1, requires_grad=True) * 3
                inner.register_hook(
                    lambda g: _queue(lib, lambda: log.append("inner walk's callback")))
                inner.sum().backward()
            log.append("inner backward returned")
            return grad

    Reentrant.apply(lib.ones(2, requires_grad=True)).sum().backward()
    return log


def _not_run_when_the_walk_raises(lib):
    log = []
    x = lib.ones(2, requires_grad=True)
    y = x * 2

    def hook(grad):
        _queue(lib, lambda: log.append("callback"))
        raise ValueError("the hook fails")

    y.register_hook(hook)
    try:
        y.sum().backward()
    except ValueError as e:
        log.append(str(e))
    return log


@stories(_outside_a_backward, _after_the_walk_in_order,
         _during_autograd_grad, _nested_walk_runs_its_own,
         _not_run_when_the_walk_raises)
def test_queue_callback(story):
    same(story)
