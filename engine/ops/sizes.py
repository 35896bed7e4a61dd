"""Size arithmetic the shape rows share: sizes as tuples, a view's -1 resolved, element
counts, torch's way of printing a shape, a NumPy key for one dim."""

from ..errors import OpError


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


