"""Size arithmetic the rows share: sizes as tuples, a view's -1 resolved, element counts,
torch's way of printing a shape, a NumPy key for one dim; and the shape rules' common
checks (broadcast_shapes, normalize_dim, check_same_dtype), with torch's texts. The rows
may import these from engine/ops/table.py too, which re-exports them."""

from .. import dtypes
from ..errors import BroadcastError, IndexOpError, OpError


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


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n

# --------------------------------------------------------------------------- errors

def shape_text(shape) -> str:
    return f"[{', '.join(str(s) for s in shape)}]"

def checked(_validated, shape) -> tuple:
    """For shape rules that only validate their arguments, then return ``shape``."""
    return shape


def index_key(ndim, dim, key) -> tuple:
    """A NumPy key that applies ``key`` at ``dim`` only."""
    return (slice(None),) * dim + (key,) + (slice(None),) * (ndim - dim - 1)


# --------------------------------------------------------------------------- shape rules

def check_same_dtype(expected, *tensors,
                     text="Found dtype {found} but expected {expected}") -> None:
    """A kernel that does not promote: every one of ``tensors`` (None skipped) must have
    ``expected``'s dtype. ``text`` names the first that differs: TensorIterator's words by
    default; kernels with their own check say "expected scalar type {expected} but found
    {found}"."""
    want = expected.array.dtype
    for t in tensors:
        if t is not None and t.array.dtype != want:
            raise OpError(text.format(found=dtypes.torch_type_name(t.array.dtype),
                                      expected=dtypes.torch_type_name(want)))


def broadcast_shapes(*shapes) -> tuple:
    """torch.broadcast_shapes, with torch's error text."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for k, d in enumerate(s):
            j = ndim - len(s) + k
            if out[j] == 1:
                out[j] = d
            elif d != 1 and d != out[j]:
                a, b = shapes[0], shapes[1] if len(shapes) > 1 else s
                raise BroadcastError(
                    f"The size of tensor a ({_dim_at(a, j, ndim)}) must match the size of "
                    f"tensor b ({_dim_at(b, j, ndim)}) at non-singleton dimension {j}")
    return tuple(out)


def _dim_at(shape, j, ndim):
    k = j - (ndim - len(shape))
    return shape[k] if k >= 0 else 1


def shape_of(value) -> tuple:
    """Shape of a Tensor-position argument as the shape rules see it."""
    if value is None:
        return None
    if hasattr(value, "shape"):
        return tuple(value.shape)
    return ()


def normalize_dim(dim: int, ndim: int) -> int:
    """torch's wrap_dim, with its IndexError text."""
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not lo <= dim <= hi:
        raise IndexOpError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], "
                           f"but got {dim})")
    return dim + ndim if dim < 0 else dim
