"""The op table. Importing this package registers every row (F.<name> for each op);
engine/_tensor.py then gives Tensor its methods from them, as torch's ``variants:
function, method``."""

import warnings

from . import (  # noqa: F401  (registers rows)
    activations,
    aliases,
    conv,
    creation,
    einsum,
    elementwise,
    factories,
    indexing,
    joining,
    linalg,
    losses,
    movement,
    nll,
    reductions,
    scatter,
    selection,
    softmax,
    special,
    statistics,
    subscript,
    table,
)
from .table import OVERLOADS, ROWS, F, op, resolve  # noqa: F401

__all__ = ["F", "ROWS", "OVERLOADS", "op", "resolve"]

# torch computes sqrt(-1), log(0), 0/0 silently (nan/inf); NumPy warns from whichever frame
# called the ufunc, which is always one of ours here. A filter scoped to these modules costs
# nothing per op, unlike an errstate around every forward.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"engine\.ops\.")
