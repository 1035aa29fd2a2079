"""Scalar reverse-mode automatic differentiation: one graph node per number.

Every arithmetic operation on a ``Value`` creates a new ``Value`` that remembers
its inputs (``children``) and the partial derivative of its output with respect
to each input (``local_grads``), both evaluated during the forward pass.
``backward()`` then walks the graph from the output to the inputs in reverse
topological order and applies the chain rule::

    child.grad += local_grad * node.grad

Example, the sigmoid neuron from the lecture::

    w0, x0, w1, x1, w2 = (Value(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
    f = (w0 * x0 + w1 * x1 + w2).sigmoid()   # f.data == 0.731...
    f.backward()                              # w0.grad == -0.196...

Speed tricks (compared with a closure-per-node design), all commented below:
``__slots__`` instead of a per-object ``__dict__``; local derivatives stored as
numbers instead of a ``_backward`` closure per node; an iterative topological
sort with an explicit stack, so a chain of 100,000 nodes needs no recursion.
"""

from __future__ import annotations

import math
from numbers import Real

from gradkit.autodiff.graph import topological_order

__all__ = ["Value", "topological_order"]


class Value:
    """A scalar that records how it was computed, so its gradient can flow back.

    Attributes:
        data: the number (a Python float).
        grad: d(output)/d(self) after ``output.backward()``; starts at 0.0.
        children: the Values this one was computed from (empty for inputs).
        local_grads: d(self)/d(child) for each child, in the same order.
        op: a short name of the operation that produced it ("" for inputs).
        label: an optional name, shown by ``draw_graph``.
    """

    # __slots__ gives every Value a fixed set of fields and no __dict__:
    # creating one is faster and it takes about half the memory.
    __slots__ = ("data", "grad", "children", "local_grads", "op", "label")

    def __init__(self, data, children=(), local_grads=(), op="", label=""):
        # Fast path: every operation below already passes a float.
        if type(data) is not float:
            data = _to_float(data, "Value()")
        self.data = data
        self.grad = 0.0
        self.children = children
        self.local_grads = local_grads
        self.op = op
        self.label = label

    def __repr__(self):
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # ----- binary arithmetic: each returns a node with its local derivatives -----

    def __add__(self, other):
        # Checked here rather than only inside _as_value: saves a call per op.
        if not isinstance(other, Value):
            other = _as_value(other, "+", self)
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __sub__(self, other):
        if not isinstance(other, Value):
            other = _as_value(other, "-", self)
        return Value(self.data - other.data, (self, other), (1.0, -1.0), "-")

    def __mul__(self, other):
        if not isinstance(other, Value):
            other = _as_value(other, "*", self)
        # d(a*b)/da = b and d(a*b)/db = a
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __truediv__(self, other):
        if not isinstance(other, Value):
            other = _as_value(other, "/", self)
        a, b = self.data, other.data
        if b == 0.0:
            raise ZeroDivisionError(f"Value /: division of {a!r} by zero")
        # d(a/b)/da = 1/b and d(a/b)/db = -a/b^2
        return Value(a / b, (self, other), (1.0 / b, -a / (b * b)), "/")

    def __pow__(self, exponent):
        if isinstance(exponent, Value):
            raise TypeError(
                f"Value **: the exponent must be a Python number, got Value(data={exponent.data!r}); "
                "a Value exponent is not supported, write (b.log() * exponent).exp() for b ** exponent"
            )
        n = _to_float(exponent, "Value ** (exponent)")
        a = self.data
        if a == 0.0 and n < 0:
            raise ZeroDivisionError(f"Value **: 0.0 ** {n!r} is undefined (division by zero)")
        if a < 0.0 and not n.is_integer():
            raise ValueError(
                f"Value **: a negative base {a!r} with a non-integer exponent {n!r} has no real value"
            )
        if a == 0.0 and 0.0 < n < 1.0:
            raise ValueError(f"Value **: the derivative of x ** {n!r} at x = 0.0 is infinite")
        # d(a^n)/da = n * a^(n-1); for n == 0 it is 0 (and 0.0 ** -1 would fail)
        local = n * a ** (n - 1.0) if n != 0.0 else 0.0
        return Value(a**n, (self,), (local,), f"**{n:g}")

    # Python numbers on the left: 2 + v, 1 - v, 2 * v, 1 / v.
    def __radd__(self, other):
        return _as_value(other, "+", self) + self

    def __rsub__(self, other):
        return _as_value(other, "-", self) - self

    def __rmul__(self, other):
        return _as_value(other, "*", self) * self

    def __rtruediv__(self, other):
        return _as_value(other, "/", self) / self

    def __rpow__(self, base):
        raise TypeError(
            f"Value **: a Value exponent is not supported ({base!r} ** Value(data={self.data!r})); "
            "write (Value(base).log() * exponent).exp() instead"
        )

    def __neg__(self):
        return Value(-self.data, (self,), (-1.0,), "neg")

    # ----- elementary functions -----

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), (e,), "exp")

    def log(self):
        a = self.data
        if a <= 0.0:
            raise ValueError(f"Value.log: the input must be positive, got {a!r}")
        return Value(math.log(a), (self,), (1.0 / a,), "log")

    def sin(self):
        return Value(math.sin(self.data), (self,), (math.cos(self.data),), "sin")

    def cos(self):
        return Value(math.cos(self.data), (self,), (-math.sin(self.data),), "cos")

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,), "tanh")

    def sigmoid(self):
        a = self.data
        # Two algebraically equal forms, each chosen so exp() never overflows.
        if a >= 0.0:
            s = 1.0 / (1.0 + math.exp(-a))
        else:
            e = math.exp(a)
            s = e / (1.0 + e)
        return Value(s, (self,), (s * (1.0 - s),), "sigmoid")

    def relu(self):
        a = self.data
        # The derivative at exactly 0 is taken as 0 (a subgradient), like PyTorch.
        return Value(a if a > 0.0 else 0.0, (self,), (1.0 if a > 0.0 else 0.0,), "relu")

    # ----- reverse pass -----

    def backward(self):
        """Fill ``grad`` of every node in the graph with d(self)/d(node).

        Gradients of input nodes (leaves, such as weights) ACCUMULATE: calling
        ``backward`` twice without ``zero_grad()`` in between adds the gradient
        twice, which is how one sums gradients over several losses. Interior
        nodes hold the gradient of the latest backward pass only (they are
        reset at its start), so their stale values never leak into the sum.
        """
        order = topological_order(self)
        for node in order:
            if node.children:
                node.grad = 0.0
        self.grad += 1.0  # d(self)/d(self); added, so a leaf root accumulates too
        # Outputs come after their inputs in `order`, so walking it backwards
        # reaches every node only after all its consumers have added their share.
        for node in reversed(order):
            children = node.children
            if not children:
                continue  # a leaf: nothing further to propagate
            g = node.grad
            # The chain rule with stored numbers: no function call per node.
            # Every op has one or two inputs; unpacking them directly is about
            # twice as fast as the general `for c, d in zip(children, local_grads)`.
            if len(children) == 2:
                a, b = children
                da, db = node.local_grads
                a.grad += da * g
                b.grad += db * g
            else:
                children[0].grad += node.local_grads[0] * g

    def zero_grad(self):
        """Set this node's ``grad`` to 0.0 (only this node's, as ``Tensor.zero_grad``).

        To clear the inputs' gradients too, call it on each of them, or let
        ``Module.zero_grad`` / ``Optimizer.zero_grad`` clear every parameter.
        """
        self.grad = 0.0


def _to_float(x, where):
    """Convert a real number to float, or raise a TypeError naming ``where``."""
    if isinstance(x, Real):
        return float(x)
    raise TypeError(f"{where}: expected a real number, got {type(x).__name__} {x!r}")


def _as_value(other, op, value):
    """Return ``other`` as a Value; Python numbers become constant leaves."""
    if isinstance(other, Value):
        return other
    # int/float first: isinstance against the abstract Real is several times slower.
    if isinstance(other, (float, int)) or isinstance(other, Real):
        return Value(float(other))
    raise TypeError(
        f"Value {op}: expected a Value or a real number as the other operand of "
        f"Value(data={value.data!r}), got {type(other).__name__} {other!r}"
    )
