"""Gamma-family functions: lgamma, digamma, polygamma, and the regularized incomplete
gamma functions igamma (P) and igammac (Q), as torch computes them.

Computed per element in float64 (SciPy is no dependency) with the algorithms torch's CPU
kernels use (Cephes: digamma's recurrence and asymptotic series, the Hurwitz zeta's
Euler-Maclaurin sum for polygamma), and for igamma/igammac the power series below a + 1
and the continued fraction above it. CuPy arrays use cupyx's kernels.

Derivatives as torch 2.13's derivatives.yaml: lgamma -> digamma -> polygamma(1) ->
polygamma(n + 1); igamma and igammac only for ``other`` (their derivative for ``input``
raises, as torch's ``not_implemented("igamma: input")``), and no forward mode for them.
"""

import math

import numpy as np

from .. import backend
from ..errors import DerivativeNotImplemented, OpError
from .samples import Const, Sample, explicit, rand, unary
from .table import F, broadcast_shapes, op

_MACHEP = 1.11022302462515654042e-16
_INF, _NAN = math.inf, math.nan


def _lgamma(x: float) -> float:
    if math.isnan(x):
        return _NAN
    if math.isinf(x) or (x <= 0 and x == math.floor(x)):
        return _INF
    return math.lgamma(x)


_DIGAMMA_A = (8.33333333333333333333e-2, -2.10927960927960927961e-2,
              7.57575757575757575758e-3, -4.16666666666666666667e-3,
              3.96825396825396825397e-3, -8.33333333333333333333e-3,
              8.33333333333333333333e-2)


def _digamma(x: float) -> float:
    x = np.float64(x)
    if x == 0:
        return math.copysign(_INF, -x)
    if math.isnan(x):
        return _NAN
    if x < 0:
        if x == np.trunc(x):
            return _NAN
        r = np.modf(x)[0]  # reflection: psi(1 - x) - pi / tan(pi x)
        return _digamma(1 - x) - math.pi / math.tan(math.pi * r)
    result = 0.0
    while x < 10:
        result -= 1 / x
        x += 1
    if x == 10:
        return result + 2.25175258906672110764
    y = 0.0
    if x < 1.0e17:
        z = 1.0 / (x * x)
        p = 0.0
        for c in _DIGAMMA_A:
            p = p * z + c
        y = z * p
    return result + math.log(x) - 0.5 / x - y


def _trigamma(x: float) -> float:
    x = np.float64(x)
    sign, result = 1.0, np.float64(0.0)
    if x < 0.5:
        sign = -1.0
        s = np.sin(np.pi * x)
        result -= (math.pi * math.pi) / (s * s)
        x = 1 - x
    for _ in range(6):
        result += 1 / (x * x)
        x += 1
    ixx = 1 / (x * x)
    result += (1 + 1 / (2 * x) + ixx * (1.0 / 6 - ixx * (1.0 / 30 - ixx * (1.0 / 42)))) / x
    return sign * result


_ZETA_A = (12.0, -720.0, 30240.0, -1209600.0, 47900160.0, -1.8924375803183791606e9,
           7.47242496e10, -2.950130727918164224e12, 1.1646782814350067249e14,
           -4.5979787224074726105e15, 1.8152105401943546773e17, -7.1661652561756670113e18)


def _zeta(x: float, q: float) -> float:
    """The Hurwitz zeta function sum((q + k) ** -x), Cephes' Euler-Maclaurin evaluation."""
    x, q = np.float64(x), np.float64(q)
    if x == 1:
        return _INF
    if x < 1:
        return _NAN
    if q <= 0:
        if q == np.floor(q):
            return _INF
        if x != np.floor(x):
            return _NAN
    s = q ** -x
    a, i, b = q, 0, 0.0
    while i < 9 or a <= 9.0:
        i += 1
        a += 1.0
        b = a ** -x
        s += b
        if -_MACHEP * s < b < _MACHEP * s:
            return s
    w = a
    s += b * w / (x - 1)
    s -= 0.5 * b
    a, k = 1.0, 0.0
    for c in _ZETA_A:
        a *= x + k
        b /= w
        t = a * b / c
        s += t
        if abs(t / s) < _MACHEP:
            return s
        k += 1.0
        a *= x + k
        b /= w
        k += 1.0
    return s


def _polygamma(n: int, x: float) -> float:
    if n == 0:
        return _digamma(x)
    if n == 1:
        return _trigamma(x)
    return (1.0 if n % 2 else -1.0) * math.exp(math.lgamma(n + 1.0)) * _zeta(n + 1.0, x)


def _igamma_series(a: float, x: float) -> float:
    """P(a, x) by its power series (x < a + 1)."""
    term = total = 1.0 / a
    ap = a
    for _ in range(10000):
        ap += 1
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _MACHEP:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _igammac_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction, Lentz's method (x >= a + 1)."""
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _MACHEP:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def _igamma(a: float, x: float, upper: bool) -> float:
    """P(a, x) (or Q with ``upper``), with torch's values at the edges."""
    if x < 0 or a < 0 or math.isnan(a) or math.isnan(x):
        return _NAN
    if a == 0:
        return (0.0 if upper else 1.0) if x > 0 else _NAN
    if x == 0:
        return 1.0 if upper else 0.0
    if math.isinf(a):
        return _NAN if math.isinf(x) else (1.0 if upper else 0.0)
    if math.isinf(x):
        return 0.0 if upper else 1.0
    if x < a + 1:
        p = _igamma_series(a, x)
        return 1 - p if upper else p
    q = _igammac_fraction(a, x)
    return q if upper else 1 - q


_UFUNCS = {
    "lgamma": np.frompyfunc(_lgamma, 1, 1),
    "digamma": np.frompyfunc(_digamma, 1, 1),
    "polygamma": np.frompyfunc(_polygamma, 2, 1),
    "igamma": np.frompyfunc(lambda a, x: _igamma(a, x, False), 2, 1),
    "igammac": np.frompyfunc(lambda a, x: _igamma(a, x, True), 2, 1),
}
_CUPY = {"lgamma": "gammaln", "digamma": "digamma", "polygamma": "polygamma",
         "igamma": "gammainc", "igammac": "gammaincc"}


def _elementwise(name, *arrays):
    """``name`` per element in float64, in the first array's (floating) dtype."""
    dtype = arrays[-1].dtype
    if backend.module_of(arrays[-1]) is not np:
        import cupyx.scipy.special
        return getattr(cupyx.scipy.special, _CUPY[name])(*arrays).astype(dtype, copy=False)
    wide = [a if isinstance(a, int) else np.asarray(a, dtype=np.float64) for a in arrays]
    with np.errstate(all="ignore"):  # (poles give inf and nan silently, as torch's)
        out = _UFUNCS[name](*wide)
    return np.asarray(out, dtype=np.float64).astype(dtype, copy=False)


def _same(input, *rest):
    return input


op("lgamma(Tensor input) -> Tensor", "LgammaBackward0",
   jvp="elementwise",
   forward=lambda input: _elementwise("lgamma", input),
   vjp={"input": lambda grad, input: grad * F.digamma(input)},
   dtype="float", shape=_same, samples=unary(0.2, 4.0))

op("digamma(Tensor input) -> Tensor", "DigammaBackward0",
   jvp="elementwise",
   forward=lambda input: _elementwise("digamma", input),
   vjp={"input": lambda grad, input: grad * F.polygamma(1, input)},
   dtype="float", shape=_same, samples=unary(0.2, 4.0))


def _polygamma_forward(n, input):
    if n < 0:
        raise OpError("polygamma(n, x) does not support negative n.")
    return _elementwise("polygamma", n, input)


op("polygamma(int n, Tensor input) -> Tensor", "PolygammaBackward0",
   jvp="elementwise",
   forward=_polygamma_forward,
   vjp={"input": lambda grad, n, input: grad * F.polygamma(n + 1, input)},
   dtype="float", shape=lambda n, input: input, method=False,
   samples=explicit(lambda r: Sample((1, rand(r, 2, 3, low=0.3, high=3.0))),
                    lambda r: Sample((2, rand(r, 3, low=0.3, high=3.0))),
                    lambda r: Sample((3, rand(r, low=0.5, high=2.0)))))


def _input_not_implemented(name):
    def vjp(grad):
        raise DerivativeNotImplemented(f"the derivative for '{name}: input' is not "
                                       "implemented.")
    return vjp


def _igamma_samples(r):
    return [Sample((Const(rand(r, 2, 3, low=0.5, high=3.0)), rand(r, 2, 3, low=0.2, high=4.0))),
            Sample((Const(rand(r, 3, low=0.5, high=3.0)), rand(r, 2, 3, low=1.0, high=6.0))),
            Sample((Const(rand(r, low=2.0, high=3.0)), rand(r, 3, low=0.2, high=1.0)))]


def _other_vjp(upper: bool):
    # torch: grad * exp((self - 1) * log(other) - other - lgamma(self)), negated for Q
    def vjp(grad, input, other):
        return ((-grad if upper else grad)
                * F.exp((input - 1) * F.log(other) - other - F.lgamma(input)))
    return vjp


def _forward(name):
    return lambda input, other: _elementwise(name, input, other)


for _name in ("igamma", "igammac"):
    op(f"{_name}(Tensor input, Tensor other) -> Tensor", f"{_name.capitalize()}Backward0",
       kernel=(f"{_name}_cpu", "f"),
       forward=_forward(_name),
       vjp={"input": _input_not_implemented(_name), "other": _other_vjp(_name == "igammac")},
       shape=lambda input, other: broadcast_shapes(input, other),
       samples=explicit(*[lambda r, k=k: _igamma_samples(r)[k] for k in range(3)]))
