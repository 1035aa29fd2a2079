"""Reverse-mode automatic differentiation on numpy arrays: the ``Tensor``.

A ``Tensor`` wraps an ``np.ndarray``. Each op on Tensors (see ``functions.py``)
returns a new Tensor that remembers the op's context: its inputs and the arrays
its backward needs. ``loss.backward()`` sorts that graph so every node comes
after everything it feeds, then walks it from the loss back to the leaves,
asking each op for its vector-Jacobian product.

    x = Tensor(np.random.randn(128, 64))
    W = Tensor(0.1 * np.random.randn(64, 10), requires_grad=True)
    loss = (x @ W).log_softmax()[np.arange(128), labels].mean() * -1
    loss.backward()      # W.grad now holds dloss/dW, shape (64, 10)

dtypes: float32 unless you hand in float64 numpy data (gradient checks need
float64's precision). Python numbers next to a Tensor take its dtype.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from gradkit.autodiff import functions as F
from gradkit.autodiff.graph import topological_order

__all__ = ["Tensor", "as_tensor", "concatenate", "stack"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _as_array(data, dtype) -> np.ndarray:
    """Convert user data to a float32/float64 array, or raise a TypeError."""
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in _FLOAT_DTYPES:
            raise TypeError(f"Tensor: dtype must be float32 or float64, got {dtype}")
    if isinstance(data, (np.ndarray, np.generic)):
        array = np.asarray(data)
        default = array.dtype if array.dtype in _FLOAT_DTYPES else np.dtype(np.float32)
    else:
        # Python numbers and (nested) lists: float32 unless asked otherwise.
        try:
            array = np.asarray(data)
        except ValueError as error:  # ragged nested lists
            raise TypeError(f"Tensor: cannot make an array from {type(data).__name__}: {error}")
        default = np.dtype(np.float32)
    kind = array.dtype.kind
    accepted = "float32, float64, integers (converted to float32) or bool with an explicit dtype="
    if kind in "iuf" or (kind == "b" and dtype is not None):
        return array.astype(dtype or default, copy=False)
    raise TypeError(f"Tensor: unsupported dtype {array.dtype}; accepted: {accepted}")


class Tensor:
    """An array that records the ops applied to it, so gradients can flow back.

    Args:
        data: a numpy array, a number, or a (nested) list of numbers.
        requires_grad: if True this is a leaf whose ``.grad`` backward fills.
        dtype: float32 or float64; by default float64 arrays stay float64 and
            everything else becomes float32. Pass a dtype to convert bools.

    Attributes:
        data: the values, an ``np.ndarray``.
        grad: dL/d(self) as an array of the same shape, or None before any
            backward (only leaves, i.e. tensors created by the user with
            ``requires_grad=True``, keep their gradient).
        requires_grad: whether gradients flow to or through this tensor.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx")

    # numpy must not treat a Tensor as an array-like scalar object: with this
    # set to None, ``ndarray + Tensor`` returns NotImplemented and Python calls
    # ``Tensor.__radd__``, which records the op.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None  # the Context of the op that made this; None for leaves

    @staticmethod
    def _from_op(data: np.ndarray, ctx) -> Tensor:
        """Build an op's output without re-validating (the fast internal path).

        Always a plain ``Tensor``, whatever subclass the inputs are: ``weight.T``
        of a ``Parameter`` is an intermediate value, not a new parameter.
        """
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out.requires_grad = ctx is not None
        out._ctx = ctx
        return out

    # ----- plain array facts -----

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def T(self) -> Tensor:  # noqa: N802 - numpy's name
        """The transpose (all axes reversed), as in numpy."""
        return self.transpose()

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op."""
        return self._ctx is None

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        extras = []
        if self.dtype != np.float32:
            extras.append(f"dtype={self.dtype}")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx.function.__name__}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "Tensor(" + ", ".join([body, *extras]) + ")"

    # ----- leaving the graph -----

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The single value of a one-element tensor, as a Python float."""
        if self.size != 1:
            raise ValueError(f"item: only a one-element tensor has an item, got shape {self.shape}")
        return self.data.item()

    def detach(self) -> Tensor:
        """A tensor sharing this data but cut from the graph (no gradient flows)."""
        return Tensor._from_op(self.data, None)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``None`` reads as all zeros)."""
        self.grad = None

    # ----- backward -----

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Compute dself/dleaf for every leaf that requires grad, into ``leaf.grad``.

        Gradients ACCUMULATE: a second backward adds to the ``.grad`` left by
        the first, until you call ``zero_grad()`` (or set ``.grad = None``).
        That is what lets several losses, or several mini-batches, add up.

        Args:
            grad: dL/d(self); may be omitted only for a one-element tensor
                (then it is 1). For any other shape pass an array of that shape.
            retain_graph: keep the graph's saved arrays so backward can run
                through it again. By default they are freed as the walk goes.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad; no input had "
                "requires_grad=True, or it was computed under no_grad()"
            )
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward: a tensor of shape {self.shape} is not a scalar; "
                    f"pass grad= an array of shape {self.shape} (dL/d(this tensor))"
                )
            grad = np.ones(self.shape, dtype=self.dtype)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward: grad has shape {grad.shape} but the tensor has shape {self.shape}"
                )

        grads = {self: grad}  # pending dL/d(node), keyed by node identity
        for node in reversed(topological_order(self)):
            node_grad = grads.pop(node, None)
            if node_grad is None:
                continue
            ctx = node._ctx
            if ctx is None:
                node._accumulate(node_grad)
                continue
            if ctx.freed:
                raise RuntimeError(
                    f"backward: the graph through '{ctx.function.op_name}' was already "
                    "freed by an earlier backward(); call backward(retain_graph=True) "
                    "the first time to go through a graph twice"
                )
            input_grads = ctx.function.backward(ctx, node_grad)
            for parent, parent_grad in zip(ctx.inputs, input_grads):
                if parent_grad is None or not parent.requires_grad:
                    continue
                if parent in grads:
                    # Not in place: parent_grad may be shared with another node.
                    grads[parent] = grads[parent] + parent_grad
                else:
                    grads[parent] = parent_grad
            if not retain_graph:
                ctx.release()

    def _accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` into this leaf's ``.grad``, keeping its dtype."""
        if self.grad is None:
            # A private copy: grad may be a read-only broadcast view or an
            # array another node still refers to.
            self.grad = np.array(grad, dtype=self.dtype, copy=True)
        else:
            self.grad += grad

    @property
    def children(self) -> tuple:
        """The inputs a gradient flows back to: those that require one, while the graph lives."""
        ctx = self._ctx
        if ctx is None or ctx.freed:
            return ()
        return tuple(t for t in ctx.inputs if t.requires_grad)

    # ----- wrapping constants -----

    def _lift(self, other) -> Tensor:
        """Wrap a number or array next to this Tensor as a constant Tensor.

        Real scalars (Python or numpy numbers) take this tensor's dtype, as in
        PyTorch, so ``x * 0.5`` and ``x * np.sqrt(2)`` stay float32 instead of
        silently turning the rest of the graph into float64. Arrays keep their
        own float dtype and follow numpy's promotion rules.
        """
        if isinstance(other, Tensor):
            return other
        if isinstance(other, Real):
            return Tensor._from_op(np.asarray(other, dtype=self.dtype), None)
        return Tensor(other)

    # ----- arithmetic -----

    def __add__(self, other):
        return F.Add.apply(self, self._lift(other))

    def __radd__(self, other):
        return F.Add.apply(self._lift(other), self)

    def __sub__(self, other):
        return F.Sub.apply(self, self._lift(other))

    def __rsub__(self, other):
        return F.Sub.apply(self._lift(other), self)

    def __mul__(self, other):
        return F.Mul.apply(self, self._lift(other))

    def __rmul__(self, other):
        return F.Mul.apply(self._lift(other), self)

    def __truediv__(self, other):
        return F.Div.apply(self, self._lift(other))

    def __rtruediv__(self, other):
        return F.Div.apply(self._lift(other), self)

    def __matmul__(self, other):
        return F.MatMul.apply(self, self._lift(other))

    def __rmatmul__(self, other):
        return F.MatMul.apply(self._lift(other), self)

    def __neg__(self):
        return F.Neg.apply(self)

    def __pow__(self, exponent):
        if not isinstance(exponent, Real):
            raise TypeError(
                f"power (**): the exponent must be a real number, got {type(exponent).__name__}; "
                "for a tensor exponent write (b * x.log()).exp()"
            )
        if isinstance(exponent, np.generic):
            exponent = exponent.item()  # a Python number keeps float32 float32
        return F.Pow.apply(self, exponent=exponent)

    # ----- element-wise functions -----

    def exp(self):
        return F.Exp.apply(self)

    def log(self):
        return F.Log.apply(self)

    def sin(self):
        return F.Sin.apply(self)

    def cos(self):
        return F.Cos.apply(self)

    def tanh(self):
        return F.Tanh.apply(self)

    def sigmoid(self):
        return F.Sigmoid.apply(self)

    def relu(self):
        return F.ReLU.apply(self)

    def softmax(self, axis: int = -1):
        """exp(x) / sum(exp(x)) along ``axis``, computed without overflow."""
        return F.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int = -1):
        """x - logsumexp(x) along ``axis``; use it (not softmax().log()) for losses."""
        return F.LogSoftmax.apply(self, axis=axis)

    # ----- reductions -----

    def sum(self, axis=None, keepdims: bool = False):
        return F.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        return F.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False):
        """Maximum along ``axis``; tied maxima share the gradient equally."""
        return F.Max.apply(self, axis=axis, keepdims=keepdims)

    # ----- shapes and indexing -----

    def reshape(self, *shape):
        """``x.reshape(2, 3)`` or ``x.reshape((2, 3))``; one entry may be -1."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return F.Reshape.apply(self, shape=shape)

    def transpose(self, *axes):
        """Permute axes; with no arguments reverse them (numpy's convention)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return F.Transpose.apply(self, axes=axes or None)

    def permute(self, *axes):
        """Permute axes; every axis must be named once (PyTorch's convention)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return F.Transpose.apply(self, axes=axes)

    def __getitem__(self, index):
        return F.GetItem.apply(self, index=_plain_index(index))


def _plain_index(index):
    """Replace Tensors and lists inside an index by numpy integer arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(part) for part in index)
    if isinstance(index, Tensor):
        return index.data.astype(np.intp)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def as_tensor(x) -> Tensor:
    """``x`` itself when it is a Tensor, else a constant Tensor of it (layers and losses accept arrays)."""
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _as_tensors(tensors, op: str) -> list:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: needs at least one tensor, got an empty sequence")
    return [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (like ``np.concatenate``)."""
    return F.Concatenate.apply(*_as_tensors(tensors, "concatenate"), axis=axis)


def stack(tensors, axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (like ``np.stack``)."""
    return F.Stack.apply(*_as_tensors(tensors, "stack"), axis=axis)
