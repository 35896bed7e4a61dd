"""Rows that are other rows in another form: torch's composites (CompositeImplicitAutograd
ops, whose graph shows the nodes of the rows they call), and transpose_'s own node."""

import numpy as np

from .movement import _transpose_dims
from .samples import Const, Sample, explicit, rand
from .table import F, op

op("view_as(Tensor input, Tensor other) -> Tensor", None, composite=True,
   forward=lambda input, other: F.view(input, tuple(other.shape)),
   shape=lambda input, other: other,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), Const(rand(r, 3, 2)))),
                    lambda r: Sample((rand(r, 6), Const(rand(r, 1, 6))))),
   torch=lambda torch, input, other: input.view_as(other))

op("expand_as(Tensor input, Tensor other) -> Tensor", None, composite=True,
   forward=lambda input, other: F.expand(input, tuple(other.shape)),
   shape=lambda input, other: other,
   samples=explicit(lambda r: Sample((rand(r, 3, 1), Const(rand(r, 2, 3, 4)))),
                    lambda r: Sample((rand(r), Const(rand(r, 2))))),
   torch=lambda torch, input, other: input.expand_as(other))

op("reshape_as(Tensor input, Tensor other) -> Tensor", None, composite=True,
   forward=lambda input, other: F.reshape(input, tuple(other.shape)),
   shape=lambda input, other: other,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), Const(rand(r, 3, 2)))),
                    lambda r: Sample((rand(r, 2, 3).T, Const(rand(r, 6))))),
   torch=lambda torch, input, other: input.reshape_as(other))

# input itself where the dtypes agree (Tensor.to's rule), else ToCopyBackward0
op("type_as(Tensor input, Tensor other) -> Tensor", None, composite=True,
   forward=lambda input, other: input.to(other.dtype),
   shape=lambda input, other: input,
   samples=explicit(lambda r: Sample((rand(r, 3), Const(rand(r, 2).astype(np.float64)))),
                    lambda r: Sample((rand(r, 2, 2), Const(rand(r, 1))))),
   torch=lambda torch, input, other: input.type_as(other))

# x.transpose_(0, 1) / x.t_(): x itself takes the transposed layout; its node is torch's
# TransposeBackward1 (Tensor.transpose_ in engine/tensor_extras.py writes it into x)
op("_transpose_inplace(Tensor input, int dim0, int dim1) -> Tensor", "TransposeBackward1",
   method=False, jvp="linear", dtype="none",
   forward=lambda input, dim0, dim1: np.transpose(input, _transpose_dims(input.ndim, dim0,
                                                                         dim1)),
   vjp={"input": lambda grad, dim0, dim1: F.transpose(grad, dim0, dim1)},
   shape=lambda input, dim0, dim1: tuple(input[d] for d in _transpose_dims(len(input), dim0,
                                                                           dim1)))  # (no samples: torch has no out-of-place form; tests/test_inference_mode.py checks it)
