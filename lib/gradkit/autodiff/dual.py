"""Forward-mode automatic differentiation with dual numbers.

A dual number ``a + b*eps`` with ``eps**2 == 0`` carries a value ``a`` and a
tangent ``b``. Evaluating f on ``x + v*eps`` gives ``f(x) + (J(x) @ v)*eps``:
the tangent of the output is the directional derivative, computed alongside
the value in ONE forward pass, with no graph kept. One pass gives one column
combination ``J @ v``; a full n-column Jacobian needs n passes (compare reverse
mode, which needs one pass per output).

``value`` and ``tangent`` may be Python floats or numpy arrays of one shape, so
a function written for numpy vectors (indexing, ``@``, ``.sum()``, ``.exp()``...)
runs unchanged on a Dual vector::

    derivative(lambda x: x**2 + 1, 3.0)           # 6.0
    jvp(lambda x: (A @ x).tanh(), x, v)           # (f(x), J(x) @ v)
"""

from __future__ import annotations

from numbers import Real

import numpy as np

__all__ = ["Dual", "derivative", "jvp", "stack"]


class Dual:
    """A value paired with its tangent (directional derivative).

    Args:
        value: a real number or an array-like of reals.
        tangent: the derivative of ``value`` along the chosen direction; a number
            is broadcast to the shape of ``value`` (default 0.0: a constant).
    """

    __slots__ = ("value", "tangent")

    # Tells numpy to leave Dual alone: `ndarray @ dual` and `ndarray * dual`
    # then return NotImplemented and Python calls Dual.__rmatmul__/__rmul__,
    # instead of numpy wrapping the Dual in an object array.
    __array_ufunc__ = None

    def __init__(self, value, tangent=0.0):
        value = _as_operand(value, "Dual value")
        tangent = _as_operand(tangent, "Dual tangent")
        if np.shape(tangent) != np.shape(value):
            try:
                tangent = np.array(np.broadcast_to(tangent, np.shape(value)), dtype=np.float64)
            except ValueError:
                raise ValueError(
                    f"Dual: tangent of shape {np.shape(tangent)} does not match value of shape {np.shape(value)}"
                ) from None
        self.value = value
        self.tangent = tangent

    def __repr__(self):
        return f"Dual(value={self.value!r}, tangent={self.tangent!r})"

    # ----- arithmetic: each rule is the derivative rule from calculus -----

    def __add__(self, other):
        other = _as_dual(other, "+")
        return Dual(self.value + other.value, self.tangent + other.tangent)

    def __sub__(self, other):
        other = _as_dual(other, "-")
        return Dual(self.value - other.value, self.tangent - other.tangent)

    def __mul__(self, other):
        other = _as_dual(other, "*")
        # product rule: (ab)' = a'b + ab'
        return Dual(self.value * other.value, self.tangent * other.value + self.value * other.tangent)

    def __truediv__(self, other):
        other = _as_dual(other, "/")
        if np.any(other.value == 0):
            raise ZeroDivisionError(f"Dual /: division by zero (divisor value {other.value!r})")
        # quotient rule: (a/b)' = (a'b - ab') / b^2
        return Dual(
            self.value / other.value,
            (self.tangent * other.value - self.value * other.tangent) / (other.value * other.value),
        )

    def __pow__(self, exponent):
        if isinstance(exponent, Dual):
            raise TypeError(
                "Dual **: the exponent must be a Python number; a Dual exponent is not supported, "
                "write (base.log() * exponent).exp() instead"
            )
        if not isinstance(exponent, Real):
            raise TypeError(f"Dual **: expected a real number exponent, got {type(exponent).__name__} {exponent!r}")
        n = float(exponent)
        a = self.value
        if n < 0 and np.any(a == 0):
            raise ZeroDivisionError(f"Dual **: 0 ** {n!r} is undefined (division by zero)")
        if not n.is_integer() and np.any(a < 0):
            raise ValueError(f"Dual **: a negative base with the non-integer exponent {n!r} has no real value")
        if 0.0 < n < 1.0 and np.any(a == 0):
            raise ValueError(f"Dual **: the derivative of x ** {n!r} at x = 0 is infinite")
        # power rule: (a^n)' = n a^(n-1) a'; for n == 0 it is 0 (and 0.0 ** -1 would fail)
        slope = n * np.power(a, n - 1.0) if n != 0.0 else 0.0
        return Dual(np.power(a, n), slope * self.tangent)

    def __matmul__(self, other):
        other = _as_dual(other, "@")
        return Dual(self.value @ other.value, self.tangent @ other.value + self.value @ other.tangent)

    def __radd__(self, other):
        return _as_dual(other, "+") + self

    def __rsub__(self, other):
        return _as_dual(other, "-") - self

    def __rmul__(self, other):
        return _as_dual(other, "*") * self

    def __rtruediv__(self, other):
        return _as_dual(other, "/") / self

    def __rmatmul__(self, other):
        return _as_dual(other, "@") @ self

    def __rpow__(self, base):
        raise TypeError(
            f"Dual **: a Dual exponent is not supported ({base!r} ** Dual); write (log(base) * exponent).exp() instead"
        )

    def __neg__(self):
        return Dual(-self.value, -self.tangent)

    # ----- elementary functions: f(a + b eps) = f(a) + f'(a) b eps -----

    def exp(self):
        e = np.exp(self.value)
        return Dual(e, e * self.tangent)

    def log(self):
        if np.any(self.value <= 0):
            raise ValueError(f"Dual.log: the input must be positive, got {self.value!r}")
        return Dual(np.log(self.value), self.tangent / self.value)

    def sin(self):
        return Dual(np.sin(self.value), np.cos(self.value) * self.tangent)

    def cos(self):
        return Dual(np.cos(self.value), -np.sin(self.value) * self.tangent)

    def tanh(self):
        t = np.tanh(self.value)
        return Dual(t, (1.0 - t * t) * self.tangent)

    def sigmoid(self):
        # 1/(1+exp(-a)) written with exp(-|a|) <= 1 so nothing overflows.
        e = np.exp(-np.abs(self.value))
        s = np.where(self.value >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        return Dual(s, s * (1.0 - s) * self.tangent)

    def relu(self):
        positive = self.value > 0  # the derivative at exactly 0 is taken as 0
        return Dual(np.where(positive, self.value, 0.0), np.where(positive, self.tangent, 0.0))

    # ----- array protocol: a Dual vector behaves like a numpy vector -----

    @property
    def shape(self):
        return np.shape(self.value)

    def __len__(self):
        if np.ndim(self.value) == 0:
            raise TypeError("Dual: len() of a scalar Dual; only array-valued Duals have a length")
        return len(self.value)

    def __getitem__(self, index):
        if np.ndim(self.value) == 0:
            raise TypeError(f"Dual: cannot index a scalar Dual with {index!r}")
        return Dual(self.value[index], self.tangent[index])

    def sum(self, axis=None):
        """Sum of the entries (along ``axis``); the tangent of a sum is the sum of tangents."""
        return Dual(np.sum(self.value, axis=axis), np.sum(self.tangent, axis=axis))


def stack(duals):
    """Build a Dual vector from a sequence of scalar Duals (or numbers, as constants)."""
    duals = [_as_dual(d, "stack") for d in duals]
    if not duals:
        raise ValueError("stack: expected at least one Dual, got an empty sequence")
    return Dual(np.stack([d.value for d in duals]), np.stack([d.tangent for d in duals]))


def derivative(f, x):
    """Return f'(x) for a scalar function f of one real number, in one forward pass."""
    if not isinstance(x, Real):
        raise TypeError(
            f"derivative: x must be a real number, got {type(x).__name__} {x!r}; use jvp for vector inputs"
        )
    out = f(Dual(float(x), 1.0))
    if not isinstance(out, Dual):
        return 0.0  # f ignored its input: a constant has derivative 0
    if np.ndim(out.value) != 0:
        raise ValueError(f"derivative: f must return a scalar, got shape {np.shape(out.value)}; use jvp")
    return float(out.tangent)


def jvp(f, x, v):
    """Return ``(f(x), J(x) @ v)`` as numpy arrays for f: R^n -> R^m, in one forward pass.

    ``x`` and ``v`` are array-likes of the same shape; f receives a Dual vector.
    """
    x = np.asarray(x, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if x.shape != v.shape:
        raise ValueError(f"jvp: direction v has shape {v.shape}, expected the shape of x {x.shape}")
    out = f(Dual(x.copy(), v.copy()))
    if not isinstance(out, Dual):
        value = np.asarray(out, dtype=np.float64)
        return value, np.zeros_like(value)  # f ignored its input
    return np.asarray(out.value, dtype=np.float64), np.asarray(out.tangent, dtype=np.float64)


def _as_operand(x, where):
    """A real number as float, or an array-like of reals as a float64 array."""
    if isinstance(x, (float, int)) or isinstance(x, Real):
        return float(x)
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: expected a real number or an array of reals, got {type(x).__name__} {x!r}") from None
    return float(array) if array.ndim == 0 else array


def _as_dual(other, op):
    """Return ``other`` as a Dual; numbers and numpy arrays become constants."""
    if isinstance(other, Dual):
        return other
    if isinstance(other, (Real, np.ndarray, list, tuple)):
        return Dual(other)
    raise TypeError(
        f"Dual {op}: expected a Dual, a real number or a numpy array, got {type(other).__name__} {other!r}"
    )
