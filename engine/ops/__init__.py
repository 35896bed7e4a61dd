"""The op table. Importing this package registers every row (F.<name> for each op) and
gives Tensor its methods, as torch's ``variants: function, method``."""

import warnings

from . import (  # noqa: F401  (registers rows)
    activations,
    aliases,
    conv,
    creation,
    elementwise,
    factories,
    linalg,
    losses,
    reductions,
    selection,
    shape,
    statistics,
    table,
)
from .table import OVERLOADS, ROWS, F, op, resolve  # noqa: F401

__all__ = ["F", "ROWS", "OVERLOADS", "op", "resolve"]

# torch computes sqrt(-1), log(0), 0/0 silently (nan/inf); NumPy warns from whichever frame
# called the ufunc, which is always one of ours here. A filter scoped to these modules costs
# nothing per op, unlike an errstate around every forward.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"engine\.ops\.")


def _install_methods():
    from .._tensor import Tensor, _bind_operator_rows
    from . import inplace  # (here: it flags rows, so every row must exist)

    for name, rows in OVERLOADS.items():
        if not any(r.method for r in rows) or name in Tensor.__dict__:
            continue
        fn = getattr(F, name)

        def method(self, *args, _fn=fn, _rows=rows, **kwargs):
            if len(_rows) == 1:  # one overload: straight to the row, no dispatch
                row = _rows[0]
                n = len(args) + 1
                if (not kwargs and row.direct and row.nrequired <= n <= row.npositional
                        and table.forward_hook is None):
                    return row._call_tensors((self, *args) + row.defaults[n:])
                return row(self, *args, **kwargs)
            return _fn(self, *args, **kwargs)

        method.__name__ = name
        setattr(Tensor, name, method)
    for name in sorted(inplace.METHODS):  # exp_, mul_, ...: torch's in-place variants
        setattr(Tensor, name, inplace.method(name[:-1]))
    Tensor.bernoulli_ = inplace.method("_bernoulli_fill")  # (a row of its own: not bernoulli)
    _bind_operator_rows()


_install_methods()
