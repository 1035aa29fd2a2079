"""The differentiable operations behind ``Tensor``, one ``Function`` per op.

Every op is a pair of plain numpy computations:

- ``forward(ctx, *arrays, **params)`` computes the output array and saves on
  ``ctx`` whatever the backward will need (``ctx.save_for_backward(...)`` for
  arrays, plain attributes for shapes and axes);
- ``backward(ctx, grad_output)`` receives dL/d(output) and returns one
  dL/d(input) per input: the vector-Jacobian product. It may return ``None``
  for an input whose ``ctx.needs_input_grad`` entry is False, which saves work
  (for example the gradient of a data batch ``x`` in ``x @ W``).

``Function.apply`` runs the forward on the inputs' arrays and, when recording is
on and some input requires a gradient, attaches the context to the output so
``Tensor.backward`` can find it. Nothing here knows about the graph walk.

Broadcasting: an element-wise op on shapes (3, 1) and (4,) produces (3, 4), so
its gradient has shape (3, 4) too. ``unbroadcast`` sums it back down to each
input's shape; every element-wise backward ends with it.

Rule for backward code: ``grad_output`` may be a read-only view shared with
other nodes, so never modify it in place.
"""

from __future__ import annotations

import numpy as np

from gradkit.autodiff.grad_mode import is_grad_enabled

__all__ = [
    "Context",
    "Function",
    "unbroadcast",
    "normalize_axes",
    # element-wise binary
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Neg",
    # element-wise unary
    "Exp",
    "Log",
    "Sin",
    "Cos",
    "Tanh",
    "Sigmoid",
    "ReLU",
    # linear algebra and reductions
    "MatMul",
    "Sum",
    "Mean",
    "Max",
    "Softmax",
    "LogSoftmax",
    # shape and indexing
    "Reshape",
    "Transpose",
    "GetItem",
    "Concatenate",
    "Stack",
]


# --------------------------------------------------------------------------
# Helpers shared by many ops
# --------------------------------------------------------------------------


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing numpy broadcasting.

    Broadcasting (a) prepends axes and (b) stretches size-1 axes. An input used
    at many output positions receives the sum of their gradients, so we sum
    over (a) the prepended axes and (b) the axes that were stretched.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    stretched = tuple(
        extra + i for i, size in enumerate(shape) if size == 1 and grad.shape[extra + i] != 1
    )
    summed = grad.sum(axis=tuple(range(extra)) + stretched, keepdims=True)
    # keepdims left a 1 at every prepended axis; reshape drops them.
    return summed.reshape(shape)


def normalize_axes(axis, ndim: int) -> tuple:
    """Turn ``axis`` (None, an int or a tuple of ints) into sorted non-negative axes.

    Raises ``numpy.exceptions.AxisError`` (both a ValueError and an IndexError)
    when an axis is out of range or repeated; ``Function.apply`` adds the op
    name and the input shape to the message.
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    result = []
    for a in axes:
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"axis must be an int or a tuple of ints, got {a!r}")
        if not -ndim <= a < ndim:
            valid = f"{-ndim}..{ndim - 1}" if ndim else "none, the tensor is 0-d"
            raise np.exceptions.AxisError(
                f"axis {a} is out of range for {ndim} dimensions (valid axes: {valid})"
            )
        result.append(int(a) % ndim)
    if len(set(result)) != len(result):
        raise np.exceptions.AxisError(f"axis {axis!r} repeats an axis")
    return tuple(sorted(result))


def _expand_reduced(grad: np.ndarray, axes: tuple, keepdims: bool, shape: tuple) -> np.ndarray:
    """Broadcast the gradient of a reduction back over the reduced axes.

    Without keepdims the reduced axes are gone from ``grad``; put them back as
    size-1 axes, then broadcast (a view, no copy) to the input's shape.
    """
    if not keepdims:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, shape)


def _is_advanced_index(index) -> bool:
    """True when numpy would use advanced (integer/boolean array) indexing."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (np.ndarray, list)) for p in parts)


# --------------------------------------------------------------------------
# Context and the Function base class
# --------------------------------------------------------------------------


class Context:
    """What one op's forward leaves for its backward: a node of the graph.

    Attributes:
        function: the ``Function`` subclass that made the output.
        inputs: the input Tensors (the graph edges backward follows).
        needs_input_grad: one bool per input, True where a gradient is wanted.
        saved_arrays: the arrays passed to ``save_for_backward``.
        freed: True once a backward without ``retain_graph`` has released it.
    Ops may store any other attribute (an axis, a shape) on it.
    """

    def __init__(self, function, inputs):
        self.function = function
        self.inputs = inputs
        self.needs_input_grad = tuple(t.requires_grad for t in inputs)
        self.saved_arrays = ()
        self.freed = False

    def save_for_backward(self, *arrays) -> None:
        self.saved_arrays = arrays

    def release(self) -> None:
        """Drop the inputs and saved arrays so their memory can be reclaimed."""
        function = self.function
        self.__dict__.clear()
        self.function = function
        self.freed = True


class Function:
    """Base class of every differentiable op; subclasses define forward and backward."""

    #: the name used in error messages and in ``repr`` (e.g. "add (+)").
    op_name = "function"

    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, **params) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_output: np.ndarray) -> tuple:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors and return the output Tensor.

        The output records ``ctx`` (and through it the inputs) only when
        recording is on and at least one input requires a gradient.
        """
        ctx = Context(cls, inputs)
        try:
            data = cls.forward(ctx, *[t.data for t in inputs], **params)
        except (ValueError, IndexError) as error:
            # numpy's message names neither our op nor, always, the shapes.
            shapes = " and ".join(str(t.shape) for t in inputs)
            noun = "shapes" if len(inputs) > 1 else "shape"
            message = f"{cls.op_name}: {error} (input {noun} {shapes})"
            try:
                wrapped = type(error)(message)
            except TypeError:  # an exception class with a different constructor
                wrapped = ValueError(message)
            raise wrapped from error
        record = is_grad_enabled() and any(ctx.needs_input_grad)
        # Every input is a Tensor (tensor.py wraps constants), so the output is
        # built through the first input's ``_from_op``; functions.py never
        # imports tensor.py, which keeps the two modules free of an import cycle.
        return inputs[0]._from_op(data, ctx if record else None)


# --------------------------------------------------------------------------
# Element-wise binary ops (broadcasting)
# --------------------------------------------------------------------------


class Add(Function):
    op_name = "add (+)"

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        shape_a, shape_b = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(grad, shape_a) if need_a else None,
            unbroadcast(grad, shape_b) if need_b else None,
        )


class Sub(Function):
    op_name = "subtract (-)"

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, grad):
        shape_a, shape_b = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(grad, shape_a) if need_a else None,
            unbroadcast(-grad, shape_b) if need_b else None,
        )


class Mul(Function):
    op_name = "multiply (*)"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(grad * b, a.shape) if need_a else None,
            unbroadcast(grad * a, b.shape) if need_b else None,
        )


class Div(Function):
    op_name = "divide (/)"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays
        need_a, need_b = ctx.needs_input_grad
        grad_over_b = grad / b
        return (
            unbroadcast(grad_over_b, a.shape) if need_a else None,
            # d(a/b)/db = -a / b**2
            unbroadcast(-grad_over_b * a / b, b.shape) if need_b else None,
        )


class Pow(Function):
    """``a ** exponent`` for a constant number ``exponent``."""

    op_name = "power (**)"

    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return a**exponent

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_arrays
        p = ctx.exponent
        return (grad * p * a ** (p - 1),)


class Neg(Function):
    op_name = "negate (-x)"

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return (-grad,)


# --------------------------------------------------------------------------
# Element-wise unary ops
# --------------------------------------------------------------------------


class Exp(Function):
    op_name = "exp"

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)  # d exp(a)/da = exp(a): reuse the output
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_arrays
        return (grad * out,)


class Log(Function):
    op_name = "log"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_arrays
        return (grad / a,)


class Sin(Function):
    op_name = "sin"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_arrays
        return (grad * np.cos(a),)


class Cos(Function):
    op_name = "cos"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_arrays
        return (-grad * np.sin(a),)


class Tanh(Function):
    op_name = "tanh"

    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_arrays
        return (grad * (1 - out * out),)


class Sigmoid(Function):
    op_name = "sigmoid"

    @staticmethod
    def forward(ctx, a):
        # 1 / (1 + exp(-a)) overflows for a << 0. With e = exp(-|a|) <= 1 both
        # branches are safe: a >= 0 gives 1 / (1 + e), a < 0 gives e / (1 + e).
        e = np.exp(-np.abs(a))
        out = np.where(a >= 0, 1, e) / (1 + e)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_arrays
        return (grad * out * (1 - out),)


class ReLU(Function):
    op_name = "relu"

    @staticmethod
    def forward(ctx, a):
        out = np.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_arrays
        # The gradient passes where the input was positive, i.e. where out > 0
        # (at exactly 0 we pick the subgradient 0, as PyTorch does).
        return (grad * (out > 0),)


# --------------------------------------------------------------------------
# Matrix product
# --------------------------------------------------------------------------


class MatMul(Function):
    """``a @ b`` with numpy's rules: 1-D operands and broadcast batch dims.

    For matrices, out = a b gives dL/da = g b^T and dL/db = a^T g. numpy treats
    a 1-D ``a`` as a row (1, k) and a 1-D ``b`` as a column (k, 1), removing that
    axis from the result; backward re-inserts it, applies the matrix rule, sums
    over broadcast batch dims and drops the inserted axis again.
    """

    op_name = "matmul (@)"

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("both operands must be at least 1-D; use * to scale by a scalar")
        inner_a = a.shape[-1]
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if inner_a != inner_b:
            raise ValueError(
                f"inner dimensions differ: the left operand's last axis has {inner_a} entries, "
                f"the right operand's {'only' if b.ndim == 1 else 'second-to-last'} axis has {inner_b}"
            )
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_arrays
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, no reshaping needed
            return (grad @ b.T if need_a else None, a.T @ grad if need_b else None)
        if a.ndim == 1 and b.ndim == 1:  # dot product: grad is a scalar
            return (grad * b if need_a else None, grad * a if need_b else None)
        a2 = a[np.newaxis, :] if a.ndim == 1 else a
        b2 = b[:, np.newaxis] if b.ndim == 1 else b
        if a.ndim == 1:
            grad = np.expand_dims(grad, -2)  # the row axis numpy removed
        if b.ndim == 1:
            grad = np.expand_dims(grad, -1)  # the column axis numpy removed
        grad_a = grad_b = None
        if need_a:
            grad_a = unbroadcast(grad @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if need_b:
            grad_b = unbroadcast(np.swapaxes(a2, -1, -2) @ grad, b2.shape).reshape(b.shape)
        return grad_a, grad_b


# --------------------------------------------------------------------------
# Reductions
# --------------------------------------------------------------------------


class Sum(Function):
    op_name = "sum"

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.axes = normalize_axes(axis, a.ndim)
        ctx.keepdims = keepdims
        ctx.shape = a.shape
        return np.sum(a, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        # Every input element contributes once: the gradient is copied back.
        return (_expand_reduced(grad, ctx.axes, ctx.keepdims, ctx.shape),)


class Mean(Function):
    op_name = "mean"

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.axes = normalize_axes(axis, a.ndim)
        ctx.keepdims = keepdims
        ctx.shape = a.shape
        ctx.count = int(np.prod([a.shape[i] for i in ctx.axes]))
        return np.mean(a, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        return (_expand_reduced(grad / ctx.count, ctx.axes, ctx.keepdims, ctx.shape),)


class Max(Function):
    """Maximum over axes. Ties split the gradient evenly among the tied entries
    (like ``torch.amax``), so the result does not depend on element order."""

    op_name = "max"

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = normalize_axes(axis, a.ndim)
        if a.size == 0:
            raise ValueError("max of an empty tensor is undefined")
        out = np.max(a, axis=axes, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdims = axes, keepdims
        return out if keepdims else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_arrays
        is_max = a == out  # out kept its reduced axes, so this broadcasts
        ties = is_max.sum(axis=ctx.axes, keepdims=True)
        if not ctx.keepdims:
            grad = np.expand_dims(grad, ctx.axes)
        return (is_max * (grad / ties),)


class Softmax(Function):
    op_name = "softmax"

    @staticmethod
    def forward(ctx, a, axis=-1):
        (axis,) = normalize_axes(axis, a.ndim)
        # Subtracting the max changes nothing mathematically (it cancels in
        # the ratio) but keeps exp() from overflowing: the largest term is 1.
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_arrays
        # Jacobian of softmax is diag(s) - s s^T, so J^T g = s * (g - <g, s>).
        return (s * (grad - (grad * s).sum(axis=ctx.axis, keepdims=True)),)


class LogSoftmax(Function):
    op_name = "log_softmax"

    @staticmethod
    def forward(ctx, a, axis=-1):
        (axis,) = normalize_axes(axis, a.ndim)
        # log softmax(a) = a - logsumexp(a), and logsumexp(a) = m + log sum exp(a - m)
        # with m the max, so no exp() ever sees a large positive number.
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_arrays
        # d/da of (a_i - logsumexp(a)) is delta_ij - softmax_j, so the VJP is
        # g - softmax * sum(g); softmax = exp(out) needs no second max shift.
        return (grad - np.exp(out) * grad.sum(axis=ctx.axis, keepdims=True),)


# --------------------------------------------------------------------------
# Shapes and indexing
# --------------------------------------------------------------------------


class Reshape(Function):
    op_name = "reshape"

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return (grad.reshape(ctx.shape),)


class Transpose(Function):
    op_name = "transpose"

    @staticmethod
    def forward(ctx, a, axes):
        if axes is None:  # numpy's default: reverse the axes
            axes = tuple(range(a.ndim - 1, -1, -1))
        elif len(axes) != a.ndim or len(normalize_axes(axes, a.ndim)) != a.ndim:
            raise ValueError(f"axes {tuple(axes)} are not a permutation of {a.ndim} axes")
        ctx.axes = tuple(int(x) % a.ndim for x in axes)
        return np.transpose(a, ctx.axes)

    @staticmethod
    def backward(ctx, grad):
        # Axis i of the output is axis axes[i] of the input, so sending it back
        # uses the inverse permutation, argsort(axes).
        return (np.transpose(grad, np.argsort(ctx.axes)),)


class GetItem(Function):
    op_name = "getitem ([])"

    @staticmethod
    def forward(ctx, a, index):
        ctx.index = index
        ctx.shape = a.shape
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        full = np.zeros(ctx.shape, dtype=grad.dtype)
        if _is_advanced_index(ctx.index):
            # An integer array may pick the same element twice, e.g. a[[0, 0]];
            # full[index] += grad would add only once, np.add.at adds each time.
            np.add.at(full, ctx.index, grad)
        else:
            full[ctx.index] = grad  # ints and slices never repeat an element
        return (full,)


class Concatenate(Function):
    op_name = "concatenate"

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        out = np.concatenate(arrays, axis=axis)
        ctx.axis = axis
        # Where each input starts and ends along the axis, to cut grad apart.
        ctx.boundaries = np.cumsum([x.shape[axis] for x in arrays])[:-1]
        return out

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.boundaries, axis=ctx.axis))


class Stack(Function):
    op_name = "stack"

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        out = np.stack(arrays, axis=axis)
        ctx.axis = axis % out.ndim
        return out

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.axis, 0))
