"""Rows that are torch's composites of other rows, written as one line each (torch's
CompositeImplicitAutograd ops): the graph shows the nodes of the rows they call."""

from .samples import Const, Sample, explicit, rand
from .table import F, op

op("view_as(Tensor input, Tensor other) -> Tensor", None, composite=True,
   forward=lambda input, other: F.view(input, tuple(other.shape)),
   shape=lambda input, other: other,
   samples=explicit(lambda r: Sample((rand(r, 2, 3), Const(rand(r, 3, 2)))),
                    lambda r: Sample((rand(r, 6), Const(rand(r, 1, 6))))),
   torch=lambda torch, input, other: input.view_as(other))
