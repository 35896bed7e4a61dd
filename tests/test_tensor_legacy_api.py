"""Older Tensor API that torch still serves and its own autograd tests use: Tensor.new
(the legacy constructor bound to a tensor's dtype), the attributes ``del`` may not remove,
the torch.int dtype name, torch.FloatTensor and kin as types, and the removed volatile;
against torch 2.13."""

import warnings

from support.pairs import assert_same


def test_new_takes_sizes_data_or_a_tensor_in_the_dtype_of_self():
    def scenario(lib, log):
        d = lib.ones(2, 3, dtype=lib.float64)
        for made in (d.new(2, 2), d.new(lib.Size([3])), d.new(lib.Size([])), d.new(),
                     d.new([1, 2]), d.new((4,)), d.new([[1, 2], [3, 4]]), d.new(0, 2)):
            # (sizes give memory torch leaves uninitialized: only the shape is compared)
            log(made.dtype, made.shape, made.requires_grad, made.grad_fn is None)
        log(d.new([1, 2]), d.new((4,)))
        log(lib.ones(2, dtype=lib.int64).new(3).dtype)
        log.raises(d.new, -1)
        log.raises(d.new, 2.5)
        log.raises(d.new, lib.ones(2))  # a tensor of another dtype
        x = lib.ones(2, dtype=lib.float64, requires_grad=True).clone()
        alias = d.new(x)  # a tensor of the same dtype: an alias of it, with history
        log(alias, alias.is_leaf)
        with lib.no_grad():
            x.mul_(3)
        log(alias)  # the same memory
        leaf = lib.ones(2, requires_grad=True)
        log(leaf.new(2).requires_grad)
    assert_same(scenario)


def test_attributes_del_may_not_remove():
    def scenario(lib, log):
        x = lib.ones(2, requires_grad=True)
        x.sum().backward()
        del x.grad  # this one is allowed: .grad becomes None
        log(x.grad)

        def delete(name):
            def run():
                delattr(x, name)
            return run

        for name in ("data", "requires_grad", "_backward_hooks"):  # (not _grad_fn: NOTE [no
            # __delattr__ on Tensor] in engine/_tensor.py)
            log.raises(delete(name))
        log(x, x.requires_grad, x.is_leaf)  # the tensor is whole after the refusals
    assert_same(scenario)


def test_int_is_the_int32_dtype():
    def scenario(lib, log):
        log(lib.int, lib.int is lib.int32)
        a = lib.zeros(3, dtype=lib.int)
        log(a.dtype, a._version)
        lib.autograd.graph.increment_version(a)
        log(a._version)
    assert_same(scenario)


def test_legacy_tensor_types_are_types_of_their_dtype():
    def scenario(lib, log):
        kinds = (lib.FloatTensor, lib.DoubleTensor, lib.LongTensor, lib.IntTensor,
                 lib.ByteTensor, lib.BoolTensor)
        x = lib.ones(2, 2)
        for kind in kinds:
            log(kind.__name__, kind.dtype, kind().dtype, kind().shape, kind(2, 3).shape)
            log([isinstance(x.type(kind), other) for other in kinds])
            log(x.type(kind).dtype, x.type(kind.dtype).dtype)
        log(isinstance(3, lib.FloatTensor), isinstance(x, lib.Tensor))
        log(x.type(lib.FloatTensor) is x, x.type(), x.type("torch.DoubleTensor").dtype)
        log.raises(x.type, "float")
        log(lib.Tensor().shape, lib.Tensor(2).shape)
        leaf = lib.FloatTensor([1.0, 2.0]).requires_grad_()
        leaf.double().sum().backward()
        log(leaf.grad, isinstance(leaf.grad, lib.FloatTensor))
    assert_same(scenario)


def test_volatile_is_gone_with_a_warning_and_autograd_names_its_package():
    def scenario(lib, log):
        v = lib.autograd.torch.randn(3)  # torch.autograd.torch is the torch package
        log(lib.autograd.torch is lib)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            log(v.volatile)
            v.volatile = True
            log(v.volatile, v.requires_grad)
        log([(w.category.__name__, str(w.message)) for w in caught])
    assert_same(scenario)
