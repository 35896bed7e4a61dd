"""Shape rows: views, permutations, expansion."""

import numpy as np

from ..errors import OpError
from .samples import Sample, explicit, rand
from .table import F, is_contiguous, normalize_dim, op


def as_size(size) -> tuple:
    return (size,) if isinstance(size, int) else tuple(size)


def infer_size(size, numel) -> tuple:
    """Resolve one -1 in a view/reshape size, with torch's error text."""
    size = as_size(size)
    known, infer = 1, None
    for i, s in enumerate(size):
        if s == -1:
            if infer is not None:
                raise OpError("only one dimension can be inferred")
            infer = i
        elif s < 0:
            raise OpError(f"invalid shape dimension {s}")
        else:
            known *= s
    if infer is not None and known != 0 and numel % known == 0:
        return size[:infer] + (numel // known,) + size[infer + 1:]
    if known != numel or infer is not None:
        raise OpError(f"shape '[{', '.join(str(s) for s in size)}]' is invalid for input of "
                      f"size {numel}")
    return size


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _view(input, size):
    size = infer_size(size, input.size)
    if isinstance(input, np.generic):  # NumPy hands 0-d results back as scalars
        input = np.asarray(input)
    out = input.view()
    try:
        out.shape = size  # refuses (AttributeError) exactly when a copy would be needed
    except AttributeError:
        raise OpError("view size is not compatible with input tensor's size and stride (at "
                      "least one dimension spans across two contiguous subspaces). Use "
                      ".reshape(...) instead.") from None
    return out


VIEW_SAMPLES = explicit(lambda r: Sample((rand(r, 2, 3), (3, 2))),
                        lambda r: Sample((rand(r, 2, 3), (-1,))),
                        lambda r: Sample((rand(r, 6), (2, -1))),
                        lambda r: Sample((rand(r, 1), ())))

op("view(Tensor input, int[] size) -> Tensor", "ViewBackward0", varargs=True,
   forward=_view, vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input, size: infer_size(size, _numel(input)),
   samples=VIEW_SAMPLES, torch=lambda torch, input, size: input.view(size))


def _reshape(input, shape):
    if is_contiguous(input):
        return F.view(input, shape)
    return F._unsafe_view(F.clone(input), shape)


op("reshape(Tensor input, int[] shape) -> Tensor", None, varargs=True, composite=True,
   forward=_reshape, shape=lambda input, shape: infer_size(shape, _numel(input)),
   samples=VIEW_SAMPLES)

op("_unsafe_view(Tensor input, int[] size) -> Tensor", "UnsafeViewBackward0", method=False,
   forward=lambda input, size: np.reshape(input, infer_size(size, input.size)),
   vjp={"input": lambda grad, input_shape: F.reshape(grad, input_shape)},
   dtype="none", shape=lambda input, size: infer_size(size, _numel(input)),
   samples=VIEW_SAMPLES,
   torch=lambda torch, input, size: torch.ops.aten._unsafe_view(input, size))

op("clone(Tensor input) -> Tensor", "CloneBackward0",
   forward=lambda input: np.array(input, copy=True), vjp={"input": lambda grad: grad},
   dtype="none", shape=lambda input: input,
   samples=explicit(lambda r: Sample((rand(r, 2, 3),))))


def _expand_size(shape, size):
    size = as_size(size)
    if len(size) < len(shape):
        raise OpError(f"expand(torch.FloatTensor{{[{', '.join(map(str, shape))}]}}, "
                      f"size=[{', '.join(map(str, size))}]): the number of sizes provided "
                      f"({len(size)}) must be greater or equal to the number of dimensions in "
                      f"the tensor ({len(shape)})")
    lead = len(size) - len(shape)
    out = []
    for i, s in enumerate(size):
        if i < lead:
            if s < 0:
                raise OpError(f"The expanded size of the tensor ({s}) isn't allowed in a "
                              "leading, non-existing dimension 0")
            out.append(s)
            continue
        have = shape[i - lead]
        if s == -1:
            out.append(have)
        elif have == 1 or have == s:
            out.append(s)
        else:
            raise OpError(f"The expanded size of the tensor ({s}) must match the existing size "
                          f"({have}) at non-singleton dimension {i}.  Target sizes: "
                          f"[{', '.join(map(str, size))}].  Tensor sizes: "
                          f"[{', '.join(map(str, shape))}]")
    return tuple(out)


op("expand(Tensor input, int[] size, *, bool implicit=False) -> Tensor", "ExpandBackward0", varargs=True,
   forward=lambda input, size, implicit: np.broadcast_to(input, _expand_size(input.shape, size)),
   vjp={"input": lambda grad, input_shape: F.sum_to(grad, input_shape)},
   dtype="none", shape=lambda input, size, implicit: _expand_size(input, size),
   samples=explicit(lambda r: Sample((rand(r, 3), (2, 3))),
                    lambda r: Sample((rand(r, 2, 1), (2, 4))),
                    lambda r: Sample((rand(r, 1), (-1,))),
                    lambda r: Sample((rand(r), (3, 2)))),
   torch=lambda torch, input, size, implicit=False: input.expand(size))


def _perm(dims, ndim):
    dims = tuple(normalize_dim(d, ndim) for d in as_size(dims))
    if sorted(dims) != list(range(ndim)):
        raise OpError("permute(sparse_coo): number of dimensions in the tensor input does not "
                      "match the length of the desired ordering of dimensions i.e. input.dim() "
                      f"= {ndim} is not equal to len(dims) = {len(dims)}" if len(dims) != ndim
                      else "permute(): duplicate dims are not allowed.")
    return dims


op("permute(Tensor input, int[] dims) -> Tensor", "PermuteBackward0", varargs=True,
   forward=lambda input, dims: np.transpose(input, _perm(dims, input.ndim)),
   vjp={"input": lambda grad, dims, input_shape: F.permute(
       grad, tuple(np.argsort(_perm(dims, len(input_shape))).tolist()))},
   dtype="none",
   shape=lambda input, dims: tuple(input[d] for d in _perm(dims, len(input))),
   samples=explicit(lambda r: Sample((rand(r, 2, 3), (1, 0))),
                    lambda r: Sample((rand(r, 2, 3, 4), (2, 0, 1)))))
