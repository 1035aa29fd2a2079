"""Source of assignments/a2_tensor_autodiff/tensor_autodiff.ipynb (built by assignments/tools/build_notebooks.py).

Assignment 2, "Backprop through arrays": reverse mode lifted from scalars to NumPy
arrays. Lectures 002 (vector and matrix derivatives, the Jacobian view of the chain
rule, patterns in backprop, the hinge-loss graph) and 001 (mini-batch training,
matrix calculations).
"""

# %% [markdown]
# # Assignment 2: Backprop through arrays
#
# In Assignment 1 every number was its own graph node. A network layer multiplies a
# $128\times64$ batch by a $64\times256$ matrix: 2 million multiply-adds that would be 2 million
# Python objects. Real frameworks make each node an **array** and each operation a
# NumPy call, and the chain rule becomes a **vector-Jacobian product** (VJP): given the
# gradient of the loss with respect to an operation's output, return the gradient with
# respect to each input, without ever building the (huge) Jacobian.
#
# You will write the VJPs of the operations a classifier needs (with NumPy
# **broadcasting**, which is where most bugs hide), the backward pass of a small
# `Tensor` class, two numerically stable losses, a gradient check against the course
# library, and finally train logistic regression on handwritten digits with it.
#
# **How this notebook works** (as in Assignment 1): fill in the cells marked
# `# YOUR CODE HERE`, run the visible tests under each, and restart-and-run-all then
# *Validate* before you submit. Hidden tests run your code on fresh random shapes and
# the grader compares the results with those of the reference solution. Write each piece
# yourself, with NumPy, not with `torch` or the library's version; the library's versions
# of these losses (in `gradkit.nn.functional`) raise an error when called while grading.
# The grader also reads your solution cells: a test whose code uses anything but NumPy
# (for example a VJP computed through `gradkit.Tensor`, or a loss through `torch`)
# scores 0, and the feedback names what was used. Only Part 7 uses the library
# (`gradkit.Tensor` and `numerical_gradient`), as the oracle it is meant to be there.
#
# **Points** (one line per graded test cell):
#
# {{points_table}}

# %% [locked id=setup]
# Set-up: run this cell first. It imports what the notebook uses and defines the
# small helpers that the visible tests call. You do not need to change it.
# {{include _helpers.py}}

plt.rcParams["figure.figsize"] = (6.4, 4.0)

# %% [markdown]
# ## Part 1. Broadcasting, and why its gradient is a sum
#
# NumPy lets you combine arrays of different shapes: `a + b` with `a.shape == (3, 1)`
# and `b.shape == (4,)` gives a `(3, 4)` result. The rule: line the shapes up on the
# right; a missing axis counts as size 1; an axis of size 1 is *stretched* to match the
# other. So `b` is reused in each of the 3 rows and `a` in each of the 4 columns.
#
# A value that is used several times receives the **sum** of the gradients from all its
# uses (the `+=` of Assignment 1). So the gradient that arrives with the output's shape
# `(3, 4)` must be summed back to each input's shape: over axis 1 (keeping it) for `a`,
# over axis 0 (dropping it) for `b`. That is the whole of "broadcasting-aware backward".
#
# Write `unbroadcast(grad, shape)`: sum `grad` over the axes that broadcasting
# *added* in front (drop them) and over the axes where `shape` has a 1 but `grad` does
# not (keep them, as size 1). Return an array of exactly `shape`.

# %% [solution id=unbroadcast]
def unbroadcast(grad, shape):
    """Sum grad down to shape, undoing NumPy broadcasting.

    grad: an array whose shape is shape broadcast against something else.
    shape: a tuple, the shape of the input that was broadcast.
    Returns an array of exactly that shape.
    """
    ### BEGIN SOLUTION
    grad = np.asarray(grad)
    shape = tuple(shape)
    added = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(added))) if added > 0 else grad
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)
    ### END SOLUTION

# %% [tests id=test_unbroadcast points=4]
g = np.arange(12.0).reshape(3, 4)
with checking("unbroadcast"):
    cases = [((3, 1), [[6.0], [22.0], [38.0]]), ((4,), [12.0, 15.0, 18.0, 21.0]), ((), 66.0),
             ((1, 4), [[12.0, 15.0, 18.0, 21.0]]), ((3, 4), g)]
    for shape, expected in cases:
        got = unbroadcast(g, shape)
        expect_close(f"unbroadcast(arange(12).reshape(3, 4), {shape})", got, expected)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

# The mixed cases are reported first: their words stand for the whole test when its visible part fails.
_mixed = Check("unbroadcast", "random input shapes broadcast to random output shapes",
               hint="sum over the axes broadcasting added in front (dropping them) and over the stretched size-1 "
                    "axes (keeping them as size 1): the result must have exactly the input's shape")
_rng = grading_rng("test_unbroadcast")
for _k in range(12):
    _out_shape = tuple(int(n) for n in _rng.integers(1, 4, size=int(_rng.integers(0, 4))))
    # an input shape that broadcasts to _out_shape: drop leading axes, set some axes to 1
    _keep = int(_rng.integers(0, len(_out_shape) + 1))
    _in_shape = tuple(1 if _rng.random() < 0.4 else n for n in _out_shape[len(_out_shape) - _keep:])
    _grad = _rng.normal(size=_out_shape)
    report(f"unbroadcast_{_k}", unbroadcast(_grad, _in_shape), rtol=1e-12, atol=1e-12, check=_mixed,
           example=f"grad of shape {_out_shape}, input shape {_in_shape}")

# One kind of broadcasting at a time, so that the missing reduction is named; then random shapes mixing both.
_added = Check("unbroadcast", "input shapes that broadcasting extended with leading axes",
               hint="axes that broadcasting added in front of the input's shape: sum grad over them and drop them")
_stretched = Check("unbroadcast", "input shapes with size-1 axes that broadcasting stretched",
                   hint="where the input's shape has a 1 but grad does not, that axis was stretched: sum grad over "
                        "it and keep it as size 1 (keepdims=True), so the result has exactly the input's shape")
_rng = grading_rng("test_unbroadcast_kinds")
for _k in range(4):
    _out_shape = tuple(int(n) for n in _rng.integers(2, 5, size=int(_rng.integers(1, 4))))
    _in_shape = _out_shape[int(_rng.integers(1, len(_out_shape) + 1)):]  # drop one or more leading axes
    _grad = _rng.normal(size=_out_shape)
    report(f"unbroadcast_added_{_k}", unbroadcast(_grad, _in_shape), rtol=1e-12, atol=1e-12, check=_added,
           example=f"grad of shape {_out_shape}, input shape {_in_shape}")
for _k in range(4):
    _out_shape = tuple(int(n) for n in _rng.integers(2, 5, size=int(_rng.integers(1, 4))))
    _ones = _rng.random(len(_out_shape)) < 0.5
    _ones[int(_rng.integers(len(_out_shape)))] = True  # at least one stretched axis
    _in_shape = tuple(1 if one else n for one, n in zip(_ones, _out_shape))
    _grad = _rng.normal(size=_out_shape)
    report(f"unbroadcast_stretched_{_k}", unbroadcast(_grad, _in_shape), rtol=1e-12, atol=1e-12, check=_stretched,
           example=f"grad of shape {_out_shape}, input shape {_in_shape}")

### END HIDDEN TESTS

# %% [markdown]
# ## Part 2. Vector-Jacobian products of element-wise operations
#
# For $y = f(x)$ with $x\in\mathbb{R}^n$, $y\in\mathbb{R}^m$, the chain rule in Jacobian form reads
# $\bar{x} = J^\top \bar{y}$, where $\bar{y} = \partial L/\partial y$ is the gradient arriving from
# above and $J_{ij} = \partial y_i/\partial x_j$. For an element-wise function $J$ is diagonal,
# so $J^\top\bar y$ is simply $f'(x) \odot \bar y$: multiply element by element. No $n\times n$
# matrix is ever formed.
#
# For two inputs combined element-wise, each input gets its own product, and then
# `unbroadcast` brings it back to the input's shape:
#
# | op | $\bar a$ | $\bar b$ |
# |---|---|---|
# | $a + b$ | $\bar y$ | $\bar y$ |
# | $a \cdot b$ | $\bar y\, b$ | $\bar y\, a$ |
# | $a / b$ | $\bar y / b$ | $-\bar y\, a / b^2$ |
#
# Write the three binary VJPs. Each receives the gradient `grad` (the output's shape)
# and the input arrays or shapes, and returns the pair `(grad_a, grad_b)` with the
# shapes of `a` and `b`.

# %% [solution id=binary_vjps]
def add_vjp(grad, a_shape, b_shape):
    """VJP of a + b: returns (grad_a, grad_b) with shapes a_shape and b_shape."""
    ### BEGIN SOLUTION
    return unbroadcast(grad, a_shape), unbroadcast(grad, b_shape)
    ### END SOLUTION


def mul_vjp(grad, a, b):
    """VJP of a * b (element-wise): returns (grad_a, grad_b) with the shapes of a and b."""
    ### BEGIN SOLUTION
    return unbroadcast(grad * b, np.shape(a)), unbroadcast(grad * a, np.shape(b))
    ### END SOLUTION


def div_vjp(grad, a, b):
    """VJP of a / b (element-wise): returns (grad_a, grad_b) with the shapes of a and b."""
    ### BEGIN SOLUTION
    return unbroadcast(grad / b, np.shape(a)), unbroadcast(-grad * a / (b * b), np.shape(b))
    ### END SOLUTION

# %% [tests id=test_binary_vjps points=4]
a_small = np.array([[1.0], [2.0]])  # (2, 1)
b_small = np.array([3.0, 4.0, 5.0])  # (3,)
g_small = np.ones((2, 3))
with checking("add_vjp"):
    ga, gb = add_vjp(g_small, a_small.shape, b_small.shape)
expect_close("add_vjp grad_a for a (2,1) + b (3,)", ga, [[3.0], [3.0]])
expect_close("add_vjp grad_b for a (2,1) + b (3,)", gb, [2.0, 2.0, 2.0])
with checking("mul_vjp"):
    ga, gb = mul_vjp(g_small, a_small, b_small)
expect_close("mul_vjp grad_a for a (2,1) * b (3,): each a[i] times sum of b", ga, [[12.0], [12.0]])
expect_close("mul_vjp grad_b for a (2,1) * b (3,): each b[j] times sum of a", gb, [3.0, 3.0, 3.0])
with checking("div_vjp"):
    ga, gb = div_vjp(np.array([1.0]), np.array([6.0]), np.array([2.0]))
expect_close("div_vjp of 6 / 2 with grad 1: (1/2, -6/4)", (ga, gb), ([0.5], [-1.5]))
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit_autograder.kernel.channel import Check, report, grading_rng

# add_vjp's check is reported first, so its words stand for the whole test: the table of all three.
_add = Check("add_vjp", "gradients (grad_a and grad_b) for random pairs of broadcast shapes",
             hint="the table above: $(\\bar y, \\bar y)$ for $a + b$, $(\\bar y\\, b, \\bar y\\, a)$ for $a \\cdot b$, "
                  "$(\\bar y/b, -\\bar y\\, a/b^2)$ for $a/b$ (mind that minus sign), each brought back to its "
                  "input's shape with unbroadcast")
_mul = Check("mul_vjp", "gradients (grad_a and grad_b) for random pairs of broadcast shapes",
             hint="for $y = a \\cdot b$ element-wise, $\\bar a = \\bar y\\, b$ and $\\bar b = \\bar y\\, a$, "
                  "each summed back to its input's shape with unbroadcast")
_checks = {
    ("add", "a"): _add, ("add", "b"): _add, ("mul", "a"): _mul, ("mul", "b"): _mul,
    ("div", "a"): Check("div_vjp", "numerator gradients grad_a for random pairs of broadcast shapes",
                        hint="for $y = a/b$: $\\bar a = \\bar y / b$ and $\\bar b = -\\bar y\\, a/b^2$ (mind that minus "
                             "sign), each summed back to its input's shape with unbroadcast"),
    ("div", "b"): Check("div_vjp", "divisor gradients grad_b for random pairs of broadcast shapes",
                        hint="the derivative of $a/b$ with respect to $b$ is $-a/b^2$: mind its minus sign; then "
                             "unbroadcast the product with grad to b's shape"),
}
_rng = grading_rng("test_binary_vjps")
for _k, (_sa, _sb) in enumerate([((3, 4), (3, 4)), ((2, 1, 3), (4, 1)), ((5,), (2, 3, 5)), ((), (2, 2)), ((1, 3), (2, 1))]):
    _a, _b = _rng.normal(size=_sa), _rng.uniform(0.5, 2.0, size=_sb) * _rng.choice([-1, 1], size=_sb)
    for _name, _vjp in [("add", lambda g, a, b: add_vjp(g, _np.shape(a), _np.shape(b))), ("mul", mul_vjp), ("div", div_vjp)]:
        _g = _rng.normal(size=_np.broadcast_shapes(_sa, _sb))
        _ga, _gb = _vjp(_g, _a, _b)
        report(f"{_name}_vjp_{_k}_a", _ga, rtol=1e-10, atol=1e-12, check=_checks[_name, "a"],
               example=f"a of shape {_sa}, b of shape {_sb}")
        report(f"{_name}_vjp_{_k}_b", _gb, rtol=1e-10, atol=1e-12, check=_checks[_name, "b"],
               example=f"a of shape {_sa}, b of shape {_sb}")
### END HIDDEN TESTS

# %% [markdown]
# Unary element-wise operations need no `unbroadcast`: input and output have one shape.
# `exp_vjp` receives the *output* $e^a$ (saved by the forward pass, so it is not
# recomputed), `log_vjp` and `relu_vjp` the input. As in PyTorch, take the derivative
# of ReLU at exactly 0 to be 0.

# %% [solution id=unary_vjps]
def exp_vjp(grad, out):
    """VJP of exp, given out = exp(a). Returns grad_a."""
    ### BEGIN SOLUTION
    return grad * out
    ### END SOLUTION


def log_vjp(grad, a):
    """VJP of log at a (a > 0). Returns grad_a."""
    ### BEGIN SOLUTION
    return grad / a
    ### END SOLUTION


def relu_vjp(grad, a):
    """VJP of relu(a) = max(a, 0), with derivative 0 at a == 0. Returns grad_a."""
    ### BEGIN SOLUTION
    return grad * (a > 0)
    ### END SOLUTION

# %% [tests id=test_unary_vjps points=3]
x_small = np.array([-1.0, 0.0, 2.0])
g_small = np.array([1.0, 2.0, 3.0])
with checking("exp_vjp"):
    expect_close("exp_vjp(grad=[1,2,3], out=exp([-1,0,2]))", exp_vjp(g_small, np.exp(x_small)),
                 g_small * np.exp(x_small))
with checking("log_vjp"):
    expect_close("log_vjp(grad=[1,2,3], a=[1,2,4])", log_vjp(g_small, np.array([1.0, 2.0, 4.0])), [1.0, 1.0, 0.75])
with checking("relu_vjp"):
    expect_close("relu_vjp(grad=[1,2,3], a=[-1,0,2])", relu_vjp(g_small, x_small), [0.0, 0.0, 3.0])
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit_autograder.kernel.channel import Check, report, grading_rng

_checks = {
    "exp": Check("exp_vjp", "random arrays of shapes (7,), (3, 4) and (2, 3, 2)",
                 hint="multiply grad element by element by the local derivative: for exp that is exp itself, "
                      "saved by the forward pass as out (for log $1/a$, for relu 1 where $a > 0$, else 0)"),
    "log": Check("log_vjp", "random positive arrays of shapes (7,), (3, 4) and (2, 3, 2)",
                 hint="the derivative of $\\log a$ is $1/a$, applied to grad element by element"),
    "relu": Check("relu_vjp", "random arrays of shapes (7,), (3, 4) and (2, 3, 2), some entries exactly 0",
                  hint="relu's derivative is 1 where $a > 0$ and 0 elsewhere, also at exactly $a = 0$"),
}
_rng = grading_rng("test_unary_vjps")
for _k, _shape in enumerate([(7,), (3, 4), (2, 3, 2)]):
    _x = _rng.normal(size=_shape)
    _g = _rng.normal(size=_shape)
    _x[..., 0] = 0.0  # relu's derivative at exactly 0 is 0
    for _name, _mine, _domain in [
        ("exp", lambda g, x: exp_vjp(g, _np.exp(x)), lambda x: x),
        ("log", log_vjp, lambda x: _np.abs(x) + 0.1),
        ("relu", relu_vjp, lambda x: x),
    ]:
        report(f"{_name}_vjp_{_k}", _mine(_g, _domain(_x)), rtol=1e-10, atol=1e-12, check=_checks[_name])
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3. Reductions: sum and mean
#
# `y = a.sum(axis, keepdims)` adds entries along some axes. Each input entry contributes
# with weight 1 to exactly one output entry, so its gradient is the gradient of that
# output entry: **broadcast the output gradient back** over the reduced axes. When
# `keepdims=False` the reduced axes are gone from `grad`; put them back as size-1 axes
# first (`np.expand_dims`), then `np.broadcast_to(..., shape)`. `axis` may be `None`
# (all axes), an int or a tuple of ints, and negative like in NumPy.
#
# `mean` is `sum` divided by the number of entries that were averaged, and so is its VJP.

# %% [solution id=reduction_vjps]
def reduced_axes(shape, axis):
    """The reduced axes as a sorted tuple of non-negative ints (None means all axes)."""
    ### BEGIN SOLUTION
    if axis is None:
        return tuple(range(len(shape)))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % len(shape) for a in axes))
    ### END SOLUTION


def sum_vjp(grad, shape, axis=None, keepdims=False):
    """VJP of a.sum(axis, keepdims) for an input a of the given shape. Returns grad_a."""
    ### BEGIN SOLUTION
    grad = np.asarray(grad)
    if not keepdims:
        grad = np.expand_dims(grad, reduced_axes(shape, axis))
    return np.broadcast_to(grad, shape).copy()
    ### END SOLUTION


def mean_vjp(grad, shape, axis=None, keepdims=False):
    """VJP of a.mean(axis, keepdims) for an input a of the given shape. Returns grad_a."""
    ### BEGIN SOLUTION
    count = int(np.prod([shape[a] for a in reduced_axes(shape, axis)]))
    return sum_vjp(grad, shape, axis, keepdims) / count
    ### END SOLUTION

# %% [tests id=test_reduction_vjps points=4]
with checking("sum_vjp"):
    expect_close("sum_vjp(grad=[1, 2], shape=(2, 3), axis=1)", sum_vjp(np.array([1.0, 2.0]), (2, 3), axis=1),
                 [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    expect_close("sum_vjp(grad=[[1], [2]], shape=(2, 3), axis=1, keepdims=True)",
                 sum_vjp(np.array([[1.0], [2.0]]), (2, 3), axis=1, keepdims=True), [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    expect_close("sum_vjp(grad=5, shape=(2, 2), axis=None)", sum_vjp(np.array(5.0), (2, 2)), [[5.0, 5.0], [5.0, 5.0]])
with checking("mean_vjp"):
    expect_close("mean_vjp(grad=[3, 6, 9], shape=(3, 3), axis=0)", mean_vjp(np.array([3.0, 6.0, 9.0]), (3, 3), axis=0),
                 [[1.0, 2.0, 3.0]] * 3)
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit_autograder.kernel.channel import Check, report, grading_rng

_checks = {
    "sum": Check("sum_vjp", "random input shapes, axes (None, an int, a tuple, negative) and keepdims",
                 hint="broadcast grad back over the reduced axes; with keepdims=False put those axes back as size 1 "
                      "first (np.expand_dims); axis may be None, an int or a tuple, and negative as in NumPy"),
    "mean": Check("mean_vjp", "random input shapes, axes (None, an int, a tuple, negative) and keepdims",
                  hint="sum's VJP broadcasts grad back over the reduced axes; mean's is the same divided by the "
                       "number of averaged entries (the product of the reduced axes' sizes)"),
}
_rng = grading_rng("test_reduction_vjps")
_cases = [((4,), None, False), ((3, 4), 0, False), ((3, 4), -1, True), ((2, 3, 4), (0, 2), False),
          ((2, 3, 4), (-1, -2), True), ((2, 1, 3), None, True), ((5, 2), 1, False)]
for _k, (_shape, _axis, _keep) in enumerate(_cases):
    _out_shape = _np.sum(_np.zeros(_shape), axis=_axis, keepdims=_keep).shape
    for _name, _mine in [("sum", sum_vjp), ("mean", mean_vjp)]:
        _g = _rng.normal(size=_out_shape)
        report(f"{_name}_vjp_{_k}", _mine(_g, _shape, _axis, _keep), rtol=1e-10, atol=1e-12, check=_checks[_name],
               example=f"input shape {_shape}, axis={_axis}, keepdims={_keep}")
### END HIDDEN TESTS

# %% [markdown]
# ## Part 4. Matrix multiplication
#
# For $C = AB$ with $A$ of shape $(n, k)$ and $B$ of shape $(k, m)$, each $C_{ij} = \sum_p A_{ip}B_{pj}$,
# so $\partial L/\partial A_{ip} = \sum_j \bar C_{ij} B_{pj}$: that is
#
# $$\bar A = \bar C\, B^\top \quad (n\times m \cdot m\times k = n\times k), \qquad \bar B = A^\top \bar C \quad (k\times n\cdot n\times m = k\times m).$$
#
# A useful memory aid: these are the only products of $\bar C$ with $A$ or $B$ whose shapes fit.
#
# NumPy's `@` also works on **stacks** of matrices: `(..., n, k) @ (..., k, m)` multiplies
# the last two axes and broadcasts the leading "batch" axes. The formulas are the same
# with the transpose of the last two axes (`np.swapaxes(x, -1, -2)`); then `unbroadcast`
# sums over the batch axes an input was shared across. A **1-D** operand is a vector:
# on the left it acts as a row `(1, k)`, on the right as a column `(k, 1)`, and that axis
# is removed from the result. Handle it by promoting it to 2-D, inserting the missing
# axis into `grad` as well, and reshaping the answer back to the vector's shape.

# %% [solution id=matmul_vjp]
def matmul_vjp(grad, a, b):
    """VJP of a @ b with NumPy's rules (1-D vectors, batched and broadcast stacks).

    grad has the shape of a @ b. Returns (grad_a, grad_b) with the shapes of a and b.
    """
    ### BEGIN SOLUTION
    a, b, grad = np.asarray(a), np.asarray(b), np.asarray(grad)
    if a.ndim == 1 and b.ndim == 1:  # a dot product: a scalar output
        return grad * b, grad * a
    a2 = a[np.newaxis, :] if a.ndim == 1 else a  # a row vector
    b2 = b[:, np.newaxis] if b.ndim == 1 else b  # a column vector
    if a.ndim == 1:
        grad = np.expand_dims(grad, -2)
    if b.ndim == 1:
        grad = np.expand_dims(grad, -1)
    grad_a = grad @ np.swapaxes(b2, -1, -2)
    grad_b = np.swapaxes(a2, -1, -2) @ grad
    return unbroadcast(grad_a, a2.shape).reshape(a.shape), unbroadcast(grad_b, b2.shape).reshape(b.shape)
    ### END SOLUTION

# %% [tests id=test_matmul_vjp points=5]
A_small = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # (3, 2)
B_small = np.array([[1.0, 0.0, -1.0, 2.0], [0.0, 1.0, 1.0, 0.0]])  # (2, 4)
with checking("matmul_vjp"):
    ga, gb = matmul_vjp(np.ones((3, 4)), A_small, B_small)
expect_close("matmul_vjp grad_a = ones(3, 4) @ B.T", ga, [[2.0, 2.0]] * 3)
expect_close("matmul_vjp grad_b = A.T @ ones(3, 4)", gb, [[9.0] * 4, [12.0] * 4])
with checking("matmul_vjp"):
    ga, gb = matmul_vjp(np.ones(4), np.array([1.0, 2.0]), B_small)  # a vector on the left
expect_close("matmul_vjp grad of the vector a in a (2,) @ B (2, 4)", ga, [2.0, 2.0])
expect_close("matmul_vjp grad of B in a (2,) @ B (2, 4)", gb, [[1.0] * 4, [2.0] * 4])
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit_autograder.kernel.channel import Check, report, grading_rng

_matrices = Check("matmul_vjp", "gradients (grad_a and grad_b) of products of two random matrices",
                  hint="for $C = AB$: $\\bar A = \\bar C B^\\top$ and $\\bar B = A^\\top \\bar C$, transposed even where "
                       "square shapes would fit without it")
_vectors = Check("matmul_vjp", "gradients (grad_a and grad_b) of products with a 1-D vector operand",
                 hint="a 1-D operand acts as a row (1, k) on the left and a column (k, 1) on the right: promote it "
                      "to 2-D, insert the missing axis into grad too, and reshape the answer to the vector's shape")
_stacks = Check("matmul_vjp", "gradients (grad_a and grad_b) of products of stacks of matrices with batch axes",
                hint="for stacks, transpose only the last two axes, then unbroadcast over the batch axes an operand "
                     "was shared across")
_rng = grading_rng("test_matmul_vjp")
_shapes = [((3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((5,), (5,)), ((2, 3, 4), (4, 5)),
           ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))]
_kinds = [_matrices, _vectors, _vectors, _vectors, _stacks, _stacks, _stacks, _vectors, _vectors]
for _k, ((_sa, _sb), _check) in enumerate(zip(_shapes, _kinds)):
    _a, _b = _rng.normal(size=_sa), _rng.normal(size=_sb)
    _g = _rng.normal(size=_np.shape(_a @ _b))
    _ga, _gb = matmul_vjp(_g, _a, _b)
    report(f"matmul_vjp_{_k}_a", _ga, rtol=1e-9, atol=1e-12, check=_check, example=f"a of shape {_sa}, b of shape {_sb}")
    report(f"matmul_vjp_{_k}_b", _gb, rtol=1e-9, atol=1e-12, check=_check, example=f"a of shape {_sa}, b of shape {_sb}")
# Square matrices: the shapes fit with or without the transpose, only the numbers tell.
for _k, ((_sa, _sb), _check) in enumerate([(((3, 3), (3, 3)), _matrices), (((2, 4, 4), (4, 4)), _stacks)]):
    _a, _b = _rng.normal(size=_sa), _rng.normal(size=_sb)
    _g = _rng.normal(size=_np.shape(_a @ _b))
    _ga, _gb = matmul_vjp(_g, _a, _b)
    report(f"matmul_vjp_square_{_k}_a", _ga, rtol=1e-9, atol=1e-12, check=_check,
           example=f"a of shape {_sa}, b of shape {_sb}")
    report(f"matmul_vjp_square_{_k}_b", _gb, rtol=1e-9, atol=1e-12, check=_check,
           example=f"a of shape {_sa}, b of shape {_sb}")
### END HIDDEN TESTS

# %% [markdown]
# ## Part 5. A `Tensor` and its backward pass
#
# The class below is given: each operation computes its result with NumPy and records
# a node with its `parents` and a `vjp` function (built from *your* VJPs) that maps the
# output's gradient to one gradient per parent. Read it: it is short.
#
# You write the backward pass, `backward(root)`, the array version of `Value.backward`:
#
# 1. put every node that `root` depends on in topological order (iteratively, as in
#    Assignment 1; follow `node.parents`);
# 2. keep a dictionary of pending gradients, keyed by `id(node)`, starting with
#    `root` mapped to an array of ones of `root`'s shape;
# 3. walk the order backwards; for a node with a `vjp`, call it on the node's gradient
#    and **add** each result into its parent's pending gradient;
# 4. for a leaf (no `vjp`) that `requires_grad`, add its gradient into `leaf.grad`
#    (which starts as `None`: gradients accumulate across calls, as in PyTorch).
#
# Interior nodes keep no `.grad`: only leaves do, like PyTorch and `gradkit`.

# %% [locked id=tensor_class]
class Tensor:
    """A float64 array that records the operations applied to it, for reverse mode.

    data: the np.ndarray; grad: dL/d(this) for a leaf that requires_grad (None until
    backward); parents: the Tensors it was computed from; vjp: a function mapping
    dL/d(this) to a tuple of dL/d(parent), one per parent (None for a leaf).
    """

    # With this, `ndarray * Tensor` lets Python call Tensor.__rmul__ instead of numpy
    # treating the Tensor as a scalar object and returning an array of Tensors.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False):
        self.data = np.array(data, dtype=np.float64)
        self.grad = None
        self.requires_grad = requires_grad
        self.parents = ()
        self.vjp = None
        self.op = ""

    @staticmethod
    def from_op(data, parents, vjp, op):
        """The output of an operation: remembers its parents and how to pass gradients back."""
        out = Tensor(data)
        out.parents, out.vjp, out.op = tuple(parents), vjp, op
        out.requires_grad = any(p.requires_grad for p in parents)
        return out

    @staticmethod
    def lift(x):
        """A number or array as a constant Tensor; a Tensor is returned unchanged."""
        return x if isinstance(x, Tensor) else Tensor(x)

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)

    def __repr__(self):
        return f"Tensor({self.data!r}, op={self.op!r})" if self.op else f"Tensor({self.data!r})"

    def item(self):
        return self.data.item()

    # Element-wise arithmetic with broadcasting.
    def __add__(self, other):
        other = Tensor.lift(other)
        return Tensor.from_op(self.data + other.data, (self, other),
                              lambda g: add_vjp(g, self.shape, other.shape), "add")

    def __mul__(self, other):
        other = Tensor.lift(other)
        return Tensor.from_op(self.data * other.data, (self, other), lambda g: mul_vjp(g, self.data, other.data), "mul")

    def __truediv__(self, other):
        other = Tensor.lift(other)
        return Tensor.from_op(self.data / other.data, (self, other), lambda g: div_vjp(g, self.data, other.data), "div")

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-Tensor.lift(other))

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, other):
        return Tensor.lift(other) - self

    def __rtruediv__(self, other):
        return Tensor.lift(other) / self

    def __matmul__(self, other):
        other = Tensor.lift(other)
        return Tensor.from_op(self.data @ other.data, (self, other),
                              lambda g: matmul_vjp(g, self.data, other.data), "matmul")

    def __rmatmul__(self, other):
        return Tensor.lift(other) @ self

    # Element-wise functions: one parent, so the vjp returns a 1-tuple.
    def exp(self):
        out = np.exp(self.data)
        return Tensor.from_op(out, (self,), lambda g: (exp_vjp(g, out),), "exp")

    def log(self):
        return Tensor.from_op(np.log(self.data), (self,), lambda g: (log_vjp(g, self.data),), "log")

    def relu(self):
        return Tensor.from_op(np.maximum(self.data, 0.0), (self,), lambda g: (relu_vjp(g, self.data),), "relu")

    # Reductions.
    def sum(self, axis=None, keepdims=False):
        return Tensor.from_op(self.data.sum(axis=axis, keepdims=keepdims), (self,),
                              lambda g: (sum_vjp(g, self.shape, axis, keepdims),), "sum")

    def mean(self, axis=None, keepdims=False):
        return Tensor.from_op(self.data.mean(axis=axis, keepdims=keepdims), (self,),
                              lambda g: (mean_vjp(g, self.shape, axis, keepdims),), "mean")

    def backward(self):
        """Fill .grad of every leaf that requires_grad with d(self)/d(leaf)."""
        backward(self)

# %% [solution id=tensor_backward]
def backward(root):
    """Reverse-mode sweep from root: add d(root)/d(leaf) into leaf.grad for leaves with requires_grad.

    root: a Tensor (usually a scalar loss; for any other shape the seed is ones).
    Returns None.
    """
    ### BEGIN SOLUTION
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((parent, False) for parent in node.parents if id(parent) not in visited)
    pending = {id(root): np.ones(root.shape)}
    for node in reversed(order):
        grad = pending.pop(id(node), None)
        if grad is None or not node.requires_grad:
            continue
        if node.vjp is None:
            node.grad = grad.copy() if node.grad is None else node.grad + grad
            continue
        for parent, parent_grad in zip(node.parents, node.vjp(grad)):
            if parent.requires_grad:
                previous = pending.get(id(parent))
                pending[id(parent)] = parent_grad if previous is None else previous + parent_grad
    ### END SOLUTION

# %% [tests id=test_tensor_backward points=6]
with checking("backward"):
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    w = Tensor([0.5, -1.0], requires_grad=True)
    loss = ((x * w).sum(axis=1) * (x * w).sum(axis=1)).mean()  # the mean of squared row sums
    loss.backward()
rows = x.data @ w.data  # [-1.5, -2.5]
expect_close("d loss / d x for loss = mean((x w).sum(1) ** 2)", x.grad, rows[:, None] * w.data[None, :])
expect_close("d loss / d w", w.grad, (rows[:, None] * x.data).sum(axis=0))
with checking("backward"):
    v = Tensor([2.0], requires_grad=True)
    (v * v + v).sum().backward()  # v is used three times
    expect_close("grad of v*v + v at v = 2 (2v + 1 = 5)", v.grad, [5.0])
    (v * 3.0).sum().backward()  # a second backward adds to v.grad
    expect_close("v.grad after a second backward (gradients accumulate: 5 + 3)", v.grad, [8.0])
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_expressions = Check("backward", "results (the output and its four leaves' gradients) of random expressions "
                                 "with broadcasting, matmul, reductions, exp, log and relu",
                     hint="if your VJPs pass their own checks, look at the sweep: reverse topological order, each "
                          "vjp result added (+=) into its parent's pending gradient, and .grad filled only at leaves")

def _expression(x, w, b, c):
    # broadcasting, matmul, reductions, exp/log/relu, and x used twice
    h = (x @ w + b).relu()
    s = (h * c).sum(axis=1, keepdims=True) / (h.mean(axis=0) + 1.5).sum()
    return ((s.exp() + 1.0).log() - h.mean() * 0.5 + (x - 2.0).sum(axis=0).mean()).sum()

_rng = grading_rng("test_tensor_backward")
for _k, (_n, _d, _h) in enumerate([(1, 1, 1), (4, 3, 5), (6, 2, 3)]):
    _arrays = [_rng.normal(size=(_n, _d)), _rng.normal(size=(_d, _h)), _rng.normal(size=(_h,)), _rng.normal(size=(1, _h))]
    _mine = [Tensor(a, requires_grad=True) for a in _arrays]
    _out = _expression(*_mine)
    _out.backward()
    _example = f"x {_arrays[0].shape}, w {_arrays[1].shape}, b {_arrays[2].shape}, c {_arrays[3].shape}"
    report(f"tensor_backward_{_k}_out", _out.data, rtol=1e-9, atol=1e-12, check=_expressions, example=_example)
    for _name, _m in zip("xwbc", _mine):
        report(f"tensor_backward_{_k}_{_name}", _m.grad, rtol=1e-9, atol=1e-12, check=_expressions, example=_example)
# A long chain: no recursion limit.
_z = Tensor(_rng.normal(size=3), requires_grad=True)
_node = _z
for _ in range(5000):
    _node = _node * 1.0
_node.sum().backward()
report("tensor_backward_long_chain", _z.grad,
       check=Check("backward", "gradients through a chain of 5,000 operations",
                   hint="find the topological order iteratively, with an explicit stack: "
                        "this chain is far deeper than Python's recursion limit"))
### END HIDDEN TESTS

# %% [markdown]
# A quick look at what you built: the gradient of a tiny two-layer computation with
# respect to its weight matrix, next to the same gradient from finite differences.

# %% [code]
rng = np.random.default_rng(0)
X_demo, W_demo = rng.normal(size=(5, 3)), rng.normal(size=(3, 2))


def demo_loss(W_array):
    W = Tensor(W_array, requires_grad=True)
    loss = (Tensor(X_demo) @ W).relu().mean()
    return loss, W


with checking("backward"):
    loss, W = demo_loss(W_demo)
    loss.backward()
numeric = np.zeros_like(W_demo)
for index in np.ndindex(W_demo.shape):
    step = np.zeros_like(W_demo)
    step[index] = 1e-6
    numeric[index] = (demo_loss(W_demo + step)[0].item() - demo_loss(W_demo - step)[0].item()) / 2e-6
print("backprop dL/dW:\n", np.round(W.grad, 6))
print("finite differences:\n", np.round(numeric, 6))

# %% [markdown]
# ## Part 6. Numerically stable losses
#
# ### Softmax cross-entropy
#
# A classifier outputs one score (logit) $z_c$ per class. Softmax turns them into
# probabilities $p_c = e^{z_c} / \sum_j e^{z_j}$, and the loss of an example with label $y$ is
# $-\log p_y = \log\sum_j e^{z_j} - z_y$.
#
# Written literally this breaks: $e^{1000}$ is `inf` in float64, and `inf/inf` is `nan`. The
# fix uses an identity: for any constant $m$, $\log\sum_j e^{z_j} = m + \log\sum_j e^{z_j - m}$.
# With $m = \max_j z_j$ every exponent is $\le 0$, so nothing overflows, and the largest
# term is $e^0 = 1$, so the sum is at least 1 and its log is finite. Because the loss does
# not depend on $m$ at all, $m$ can be treated as a **constant** (a plain array, no
# gradient), which keeps the graph simple.
#
# Write `softmax_cross_entropy(logits, labels)` with your `Tensor` operations: `logits` is
# a Tensor of shape `(N, C)`, `labels` a NumPy int array of shape `(N,)`. Return the
# **mean** loss over the examples as a scalar Tensor. Pick each example's $z_y$ with a
# one-hot mask (`np.eye(C)[labels]`) multiplied in and summed over the classes.

# %% [solution id=softmax_cross_entropy]
def softmax_cross_entropy(logits, labels):
    """Mean of -log softmax(logits)[i, labels[i]] over the rows, without overflow.

    logits: Tensor (N, C); labels: int array (N,). Returns a scalar Tensor.
    """
    ### BEGIN SOLUTION
    shift = logits.data.max(axis=1, keepdims=True)  # a constant: the loss does not depend on it
    shifted = logits - shift
    log_sum_exp = shifted.exp().sum(axis=1, keepdims=True).log()
    mask = np.eye(logits.shape[1])[labels]
    return ((log_sum_exp - shifted) * mask).sum(axis=1).mean()
    ### END SOLUTION

# %% [tests id=test_softmax_cross_entropy points=4]
with checking("softmax_cross_entropy"):
    logits = Tensor([[0.0, 0.0], [1000.0, 0.0]], requires_grad=True)
    loss = softmax_cross_entropy(logits, np.array([0, 1]))
    loss.backward()
# Row 1: two equal scores, loss log 2. Row 2: the wrong class wins by 1000, loss 1000.
expect_close("softmax_cross_entropy([[0, 0], [1000, 0]], labels [0, 1])", loss.item(), (math.log(2) + 1000.0) / 2)
# Gradient: (softmax - one_hot) / N = ([0.5, 0.5] - [1, 0]) / 2 and ([1, 0] - [0, 1]) / 2
expect_close("its gradient (softmax - one_hot) / N", logits.grad, [[-0.25, 0.25], [0.5, -0.5]])
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_moderate = Check("softmax_cross_entropy", "losses and gradients for random logits of moderate size",
                  hint="the loss of a row is $\\log\\sum_j e^{z_j} - z_y$ ($z_y$ picked by a one-hot mask), averaged "
                       "over the rows; subtract each row's maximum before exponentiating, or large logits overflow")
_large = Check("softmax_cross_entropy", "losses and gradients for random logits in the hundreds",
               hint="$e^{z}$ overflows to inf for z above about 709: subtract each row's maximum (a constant, no "
                    "gradient) before exponentiating, which leaves the loss unchanged")
_rng = grading_rng("test_softmax_cross_entropy")
for _k, (_n, _c, _scale) in enumerate([(1, 2, 1.0), (8, 5, 3.0), (16, 10, 800.0)]):
    _check = _large if _scale > 100 else _moderate
    _example = f"N = {_n} rows, C = {_c} classes, logits of size about {_scale:g}"
    _z = _scale * _rng.normal(size=(_n, _c))
    _y = _rng.integers(0, _c, size=_n)
    _mine = Tensor(_z, requires_grad=True)
    _loss = softmax_cross_entropy(_mine, _y)
    _loss.backward()
    report(f"cross_entropy_{_k}_value", _loss.item(), rtol=1e-9, check=_check, example=_example)
    report(f"cross_entropy_{_k}_grad", _mine.grad, rtol=1e-8, atol=1e-12, check=_check, example=_example)
### END HIDDEN TESTS

# %% [markdown]
# ### Multiclass hinge loss
#
# The lecture's other loss (the multiclass SVM loss drawn as a graph: scores, hinge loss,
# plus regularisation) asks the correct class to beat every other class by a margin:
#
# $$L_i = \sum_{j\ne y_i}\max(0,\; s_j - s_{y_i} + \Delta), \qquad L = \frac1N\sum_i L_i,$$
#
# with $\Delta = 1$ by default. There is no exponential, so no overflow; the $j = y_i$
# term would add exactly $\Delta$, so mask it out. Write it with your `Tensor`
# operations (`relu` is $\max(0,\cdot)$); the correct-class score of each row is again a
# masked sum, kept as a column (`keepdims=True`) so it broadcasts against the row.

# %% [solution id=hinge_loss]
def multiclass_hinge_loss(scores, labels, margin=1.0):
    """Mean over rows of sum_{j != y} max(0, s_j - s_y + margin).

    scores: Tensor (N, C); labels: int array (N,); margin: float. Returns a scalar Tensor.
    """
    ### BEGIN SOLUTION
    mask = np.eye(scores.shape[1])[labels]
    correct = (scores * mask).sum(axis=1, keepdims=True)
    violations = (scores - correct + margin).relu() * (1.0 - mask)
    return violations.sum(axis=1).mean()
    ### END SOLUTION

# %% [tests id=test_hinge_loss points=3]
with checking("multiclass_hinge_loss"):
    scores = Tensor([[3.0, 1.0, 2.5]], requires_grad=True)
    loss = multiclass_hinge_loss(scores, np.array([0]))
    loss.backward()
# class 1: max(0, 1 - 3 + 1) = 0; class 2: max(0, 2.5 - 3 + 1) = 0.5
expect_close("multiclass_hinge_loss([[3, 1, 2.5]], label 0)", loss.item(), 0.5)
expect_close("its gradient: -1 for the label, +1 for the violating class 2", scores.grad, [[-1.0, 0.0, 1.0]])
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_values = Check("multiclass_hinge_loss", "losses for random scores, labels and margins",
                hint="each row sums $\\max(0, s_j - s_{y} + \\Delta)$ over the classes $j \\ne y$ (mask out the correct "
                     "class), and the loss is the mean over the rows")
_grads = Check("multiclass_hinge_loss", "gradients with respect to the scores, for random scores, labels and margins",
               hint="build the loss from your Tensor operations only: the correct-class score as a masked sum kept "
                    "as a column (keepdims=True), and relu for $\\max(0, \\cdot)$")
_rng = grading_rng("test_hinge_loss")
for _k, (_n, _c, _margin) in enumerate([(1, 3, 1.0), (10, 4, 1.0), (7, 10, 0.3)]):
    _s = _rng.normal(size=(_n, _c))
    _y = _rng.integers(0, _c, size=_n)
    _mine = Tensor(_s, requires_grad=True)
    _loss = multiclass_hinge_loss(_mine, _y, _margin)
    _loss.backward()
    _example = f"N = {_n} rows, C = {_c} classes, margin {_margin:g}"
    report(f"hinge_{_k}_value", _loss.item(), rtol=1e-10, check=_values, example=_example)
    report(f"hinge_{_k}_grad", _mine.grad, rtol=1e-10, atol=1e-12, check=_grads, example=_example)
### END HIDDEN TESTS

# %% [markdown]
# ## Part 7. Checking your Tensor against the library
#
# Your VJPs each passed their own tests, but a real model strings dozens together. A
# **gradient check against the library** runs a whole computation three ways:
#
# * with your `Tensor` and `backward` (analytic),
# * with the course library's `gradkit.Tensor` (another analytic implementation, the oracle),
# * by finite differences of *your* forward pass (`gradkit.autodiff.numerical_gradient`),
#
# and reports how far your gradient is from each. Two analytic implementations that agree
# with each other but not with finite differences share a mistake in the *computation*
# (for example a value that was detached from the graph), not in a VJP.
#
# Write `check_against_library(build, *arrays)`: `build` takes Tensors (of either class:
# it only uses operations both have) and returns a scalar Tensor; `arrays` are float64
# NumPy arrays. Return `(library_error, numerical_error)`: the largest absolute difference,
# over all inputs and entries, between your gradients and `gradkit`'s, and between your
# gradients and the numerical ones (central differences, `eps=1e-6`). Here you *should*
# use `gradkit`: it is the oracle.

# %% [solution id=check_against_library]
import gradkit
from gradkit.autodiff import numerical_gradient


def check_against_library(build, *arrays):
    """Compare your Tensor's gradients of build(*arrays) with gradkit's and with finite differences.

    build: Tensors -> scalar Tensor; arrays: float64 arrays.
    Returns (library_error, numerical_error), two floats.
    """
    ### BEGIN SOLUTION
    mine = [Tensor(a, requires_grad=True) for a in arrays]
    build(*mine).backward()
    library = [gradkit.Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    build(*library).backward()
    numeric = numerical_gradient(lambda *xs: build(*(Tensor(x) for x in xs)).item(), *arrays, eps=1e-6)
    library_error = max(float(np.max(np.abs(m.grad - l.grad), initial=0.0)) for m, l in zip(mine, library))
    numerical_error = max(float(np.max(np.abs(m.grad - n), initial=0.0)) for m, n in zip(mine, numeric))
    return library_error, numerical_error
    ### END SOLUTION

# %% [tests id=test_check_against_library points=3]
with checking("check_against_library"):
    errors = check_against_library(lambda p, q: (p @ q).relu().mean(), np.array([[1.0, -1.0]]), np.array([[0.5], [0.25]]))
if not (len(errors) == 2 and errors[0] < 1e-9 and errors[1] < 1e-6):
    raise AssertionError(f"check_against_library on a correct computation: expected two tiny errors, got {errors}")
with checking("check_against_library"):
    # type(p)(...) makes a constant: the cube is cut out of the graph, so backprop misses it.
    errors = check_against_library(lambda p: (p * p).sum() + type(p)(p.data ** 3).sum(), np.array([1.0, 2.0]))
expect_close("library_error for a detached term (both libraries miss it the same way)", errors[0], 0.0, atol=1e-9)
expect_close("numerical_error for a detached term: max of 3 p**2 at p = [1, 2]", errors[1], 12.0, rtol=1e-5)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, Rule, report, grading_rng

_agree = Check("check_against_library", "errors for computations that your Tensor, the library and finite "
                                        "differences all get right",
               hint="all three agree up to round-off here; a larger error points at one of your VJPs, or at the "
                    "measure: the largest absolute difference over all inputs and entries")
_differ = Check("check_against_library", "library errors for a computation where the library computes another function",
                hint="library_error is the largest absolute difference between your gradients and gradkit.Tensor's "
                     "over every input and entry, not a mean and not a relative error")
_detached = Check("check_against_library", "numerical errors for computations with a term detached from the graph",
                  hint="take central differences (eps=1e-6) of your own forward pass: they see a detached term "
                       "that backprop misses")
_rng = grading_rng("test_check_against_library")
_builds = [
    lambda p, q: ((p @ q).exp() + 1.0).log().mean(),
    lambda p, q: (p * q - p / (q * q + 1.0)).sum(axis=0).relu().sum(),
    lambda p, q: (p.sum(axis=1, keepdims=True) * q.mean(axis=0)).sum() + type(p)(p.data * 2.0).sum(),
    # the library computes another function here (the notebook's Tensor is defined in __main__):
    # its gradients differ from yours by |q| and |p|
    lambda p, q: (p * q * (2.0 if type(p).__module__ == "__main__" else 3.0)).sum(),
]
for _k, _build in enumerate(_builds):
    _p = _rng.normal(size=(3, 3))
    _q = _rng.normal(size=(3, 3))
    _lib_err, _num_err = check_against_library(_build, _p, _q)
    if _k == 3:   # a real disagreement with the library: its size, as the reference measures it
        report(f"check_against_library_{_k}_library_error", _lib_err, rtol=1e-9, check=_differ)
    else:         # two correct implementations: round-off only
        report(f"check_against_library_{_k}_library_error", _lib_err, rule=Rule.bounds(0.0, 1e-9), check=_agree)
    if _k == 2:   # the detached term: finite differences see its slope 2, backprop does not
        report(f"check_against_library_{_k}_numerical_error", _num_err, rtol=1e-5, check=_detached)
    else:
        report(f"check_against_library_{_k}_numerical_error", _num_err, rule=Rule.bounds(0.0, 1e-5), check=_agree)
_p = _rng.normal(size=4)
_, _num_err = check_against_library(lambda p: type(p)(p.data * 5.0).sum() + p.sum(), _p)
report("check_against_library_detached", _num_err, rtol=1e-5, check=_detached)
### END HIDDEN TESTS

# %% [code]
# Your whole toolkit against the library, on a table of computations that broadcast.
rng = np.random.default_rng(1)
table = {
    "x + b      (4,3)+(3,)": (lambda x, b: (x + b).relu().sum(), [(4, 3), (3,)]),
    "x * c      (4,3)*(4,1)": (lambda x, c: (x * c).exp().mean(), [(4, 3), (4, 1)]),
    "x / d      (2,3)/(1,3)": (lambda x, d: (x / (d * d + 1.0)).sum(), [(2, 3), (1, 3)]),
    "x @ W      (5,4)@(4,2)": (lambda x, w: (x @ w).relu().mean(), [(5, 4), (4, 2)]),
    "batched    (2,3,4)@(4,)": (lambda x, v: ((x @ v).exp() + 1.0).log().sum(), [(2, 3, 4), (4,)]),
    "sum/mean   axes": (lambda x: (x.sum(axis=0).mean() * x.mean(axis=(0, 1))).sum(), [(3, 2, 2)]),
    "cross-entropy": (lambda z: softmax_cross_entropy(z, np.array([0, 2, 1])), [(3, 4)]),
    "hinge": (lambda s: multiclass_hinge_loss(s, np.array([1, 0, 3])), [(3, 4)]),
}
with checking("check_against_library"):
    print(f"{'computation':26} {'vs gradkit':>12} {'vs numerical':>13}")
    for name, (build, shapes) in table.items():
        library_error, numerical_error = check_against_library(build, *[rng.normal(size=s) for s in shapes])
        print(f"{name:26} {library_error:12.1e} {numerical_error:13.1e}")

# %% [markdown]
# ## Part 8. Binary logistic regression on handwritten digits
#
# Time to train something. The course's digits are $8\times8$ grey images (64 pixels in
# $[0, 1]$). We take two classes that are easy to confuse, **3** and **5**, and learn
# $p(\text{5}\mid x) = \sigma(x\cdot w + b)$ by gradient descent on the mean binary
# cross-entropy, with your `Tensor` doing the differentiation.
#
# **A stable binary cross-entropy.** From Assignment 1, the loss of one example is
# $\log(1+e^{z}) - yz$. With your operations (no `abs`, no `maximum`) use
# $\log(1+e^{z}) = \max(z, 0) + \log(1 + e^{-|z|})$: the exponent is never positive, so nothing
# overflows. Write $\max(z, 0) = \mathrm{relu}(z)$ and $-|z| = z - 2\,\mathrm{relu}(z)$.
#
# Why that form of $|z|$? Both pieces have a kink at $z = 0$, where `relu` reports the
# derivative 0. The sum $\log(1+e^z)$ is smooth, with slope $\tfrac12$ at 0; the kinks only
# cancel if they come from the *same* `relu`. With $|z| = \mathrm{relu}(z) + \mathrm{relu}(-z)$
# the gradient at exactly $z = 0$ comes out as $0$ instead of $\tfrac12$, and $z = 0$ is
# exactly where training starts ($w = 0$, $b = 0$).

# %% [locked id=digits_data]
from gradkit.data import load_digits

X_train_all, y_train_all = load_digits(split="train")
X_test_all, y_test_all = load_digits(split="test")


def three_or_five(X, y):
    """Keep the 3s and 5s; label 5 as 1 and 3 as 0; float64 features."""
    keep = (y == 3) | (y == 5)
    return X[keep].astype(np.float64), (y[keep] == 5).astype(np.float64)


def accuracy(w, b, X, y):
    """The fraction of examples where the predicted class (z > 0 means 5) is right."""
    return float(np.mean(((X @ w + b) > 0) == (y == 1)))


X_train, y_train = three_or_five(X_train_all, y_train_all)
X_test, y_test = three_or_five(X_test_all, y_test_all)
print(f"train: {len(y_train)} images ({int(y_train.sum())} fives), test: {len(y_test)} images")
fig, axes = plt.subplots(1, 8, figsize=(8, 1.3))
for ax, image, label in zip(axes, X_train, y_train):
    ax.imshow(image.reshape(8, 8), cmap="gray_r")
    ax.set_title("5" if label else "3")
    ax.axis("off")
plt.show()

# %% [solution id=binary_cross_entropy]
def binary_cross_entropy_with_logits(z, y):
    """Mean over examples of log(1 + exp(z)) - y z, computed without overflow.

    z: Tensor (N,) of logits; y: array (N,) of 0/1 labels. Returns a scalar Tensor.
    """
    ### BEGIN SOLUTION
    positive_part = z.relu()
    minus_abs_z = z - 2.0 * positive_part  # -|z| from the same relu, so the kinks cancel
    return (positive_part + (minus_abs_z.exp() + 1.0).log() - z * y).mean()
    ### END SOLUTION

# %% [tests id=test_binary_cross_entropy points=3]
with checking("binary_cross_entropy_with_logits"):
    z = Tensor([0.0, 1000.0, -1000.0], requires_grad=True)
    loss = binary_cross_entropy_with_logits(z, np.array([1.0, 1.0, 1.0]))
    loss.backward()
# per example: log 2, ~0 (confidently right), ~1000 (confidently wrong)
expect_close("binary_cross_entropy_with_logits(z=[0, 1000, -1000], y=1)", loss.item(), (math.log(2) + 1000.0) / 3)
expect_close("its gradient (sigmoid(z) - y) / N", z.grad, [-0.5 / 3, 0.0, -1.0 / 3])
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_moderate = Check("binary_cross_entropy_with_logits", "losses and gradients for random logits of moderate size",
                  hint="the mean over examples of $\\log(1+e^{z}) - yz$, with no exponent above 0 (or large logits "
                       "overflow); take $\\max(z, 0)$ and $-|z|$ from the same relu, so the kinks at $z = 0$ cancel")
_large = Check("binary_cross_entropy_with_logits", "losses and gradients for random logits in the hundreds",
               hint="$e^{z}$ overflows for large z: write $\\log(1+e^{z}) = \\max(z, 0) + \\log(1 + e^{-|z|})$, "
                    "whose exponent is never positive")
_rng = grading_rng("test_binary_cross_entropy")
for _k, (_n, _scale) in enumerate([(1, 1.0), (20, 3.0), (30, 500.0)]):
    _check = _large if _scale > 100 else _moderate
    _example = f"N = {_n} examples, logits of size about {_scale:g}"
    _z = _scale * _rng.normal(size=_n)
    _y = _rng.integers(0, 2, size=_n).astype(float)
    _mine = Tensor(_z, requires_grad=True)
    _loss = binary_cross_entropy_with_logits(_mine, _y)
    _loss.backward()
    report(f"bce_{_k}_value", _loss.item(), rtol=1e-9, check=_check, example=_example)
    report(f"bce_{_k}_grad", _mine.grad, rtol=1e-8, atol=1e-12, check=_check, example=_example)
### END HIDDEN TESTS

# %% [markdown]
# Now the training loop. Write `train_logistic_regression(X, y, lr, epochs)`: start from
# `w = 0` (shape `(D,)`) and `b = 0` (shape `()`), both Tensors with `requires_grad=True`.
# Each epoch is one **full-batch gradient-descent** step: compute the logits `X @ w + b`,
# the loss, call `backward()`, move each parameter by `-lr * grad`, and reset the grads
# to `None` (they accumulate otherwise!). Record the loss of every epoch. Return
# `(w, b, losses)` as NumPy arrays / a float / a list of floats. The grader measures the
# accuracy of the trained model on the test 3s and 5s with a little pixel noise added,
# drawn fresh in every grading run; the model must be right on at least 95% of them.

# %% [solution id=train_logistic_regression]
def train_logistic_regression(X, y, lr=0.5, epochs=300):
    """Full-batch gradient descent on the mean binary cross-entropy.

    X: (N, D) float array; y: (N,) 0/1 array. Returns (w, b, losses):
    w a (D,) array, b a float, losses a list of the loss before each step.
    """
    ### BEGIN SOLUTION
    w = Tensor(np.zeros(X.shape[1]), requires_grad=True)
    b = Tensor(0.0, requires_grad=True)
    inputs = Tensor(X)
    losses = []
    for _ in range(epochs):
        loss = binary_cross_entropy_with_logits(inputs @ w + b, y)
        loss.backward()
        losses.append(loss.item())
        for param in (w, b):
            param.data -= lr * param.grad
            param.grad = None
    return w.data.copy(), float(b.data), losses
    ### END SOLUTION

# %% [code]
with checking("train_logistic_regression"):
    w_fit, b_fit, losses = train_logistic_regression(X_train, y_train, lr=0.5, epochs=300)
train_accuracy, test_accuracy = accuracy(w_fit, b_fit, X_train, y_train), accuracy(w_fit, b_fit, X_test, y_test)
print(f"final loss {losses[-1]:.4f}; train accuracy {train_accuracy:.1%}; test accuracy {test_accuracy:.1%}")

fig, (ax_loss, ax_w) = plt.subplots(1, 2, figsize=(10, 3.6))
ax_loss.plot(losses)
ax_loss.set_xlabel("epoch (one full-batch step)")
ax_loss.set_ylabel("mean binary cross-entropy")
ax_loss.set_yscale("log")
ax_loss.set_title("training loss")
limit = np.abs(w_fit).max()
image = ax_w.imshow(w_fit.reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit)
ax_w.set_title("weights: red votes 5, blue votes 3")
ax_w.axis("off")
fig.colorbar(image, ax=ax_w)
plt.show()

# %% [tests id=test_train_logistic_regression points=4]
with checking("train_logistic_regression"):
    w_small, b_small, losses_small = train_logistic_regression(X_train[:40], y_train[:40], lr=0.5, epochs=5)
expect_equal("number of recorded losses for epochs=5", len(losses_small), 5)
expect_close("the first loss, with w = 0 and b = 0, is log 2", losses_small[0], math.log(2))
if not losses_small[-1] < losses_small[0]:
    raise AssertionError(f"the loss should fall during training, got {losses_small}")
with checking("train_logistic_regression"):
    w_check, b_check, _ = train_logistic_regression(X_train, y_train, lr=0.5, epochs=300)
check_accuracy = accuracy(w_check, b_check, X_test, y_test)
if not check_accuracy >= 0.95:
    raise AssertionError(f"expected at least 95% test accuracy on 3 vs 5 (lr=0.5, 300 epochs), got {check_accuracy:.1%}")
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit_autograder.kernel.channel import Check, Rule, report, grading_rng

from gradkit.data import load_digits as _load_digits

_training = ("one full-batch step per epoch from w = 0, b = 0: record the loss, move each parameter by -lr times "
             "its gradient, and reset the grads to None before the next epoch (they accumulate)")
_steps = Check("train_logistic_regression", "results of 4 gradient-descent steps on 50 training images "
                                            "(the losses, w and b)", hint=_training)
_accuracy = Check("train_logistic_regression", "noisy test images of 3s and 5s, classified by the model trained with "
                                               "lr=0.5 for 300 epochs (at least 95% must be right)",
                  hint="a model this weak usually means the loss did not fall: check the gradient-descent step "
                       "and that the grads are reset to None after every epoch")

_rng = grading_rng("test_train_logistic_regression")
_X_all, _y_all = _load_digits(split="train")   # the data again: the notebook's arrays could have been changed
_keep = (_y_all == 3) | (_y_all == 5)
_X, _y = _X_all[_keep].astype(_np.float64), (_y_all[_keep] == 5).astype(_np.float64)
_rows = _rng.choice(len(_y), size=50, replace=False)
_w, _b, _losses = train_logistic_regression(_X[_rows], _y[_rows], lr=0.3, epochs=4)
report("train_losses", _losses, rtol=1e-8, check=_steps)
report("train_w", _w, rtol=1e-7, atol=1e-10, check=_steps)
report("train_b", _b, rtol=1e-7, atol=1e-10, check=_steps)
_w, _b, _ = train_logistic_regression(_X, _y, lr=0.5, epochs=300)
# A test set fresh to this grading run: the 3s and 5s of the test split with a little pixel noise.
_X_all, _y_all = _load_digits(split="test")
_keep = (_y_all == 3) | (_y_all == 5)
_X_test = _X_all[_keep].astype(_np.float64)
_X_test = _np.clip(_X_test + 0.1 * _rng.normal(size=_X_test.shape), 0.0, 1.0)
_y_test = (_y_all[_keep] == 5).astype(_np.float64)
# The labels only serve the accuracy rule; they share the training hint.
report("test_labels", _y_test, check=Check("train_logistic_regression", "labels of the noisy test images", hint=_training))
report("test_predictions", (_X_test @ _np.asarray(_w, dtype=_np.float64) + float(_b)) > 0,
       rule=Rule.accuracy(labels="test_labels", at_least=0.95), check=_accuracy)
### END HIDDEN TESTS

# %% [markdown]
# Which 3s and 5s fool the model? Below are the test images it gets wrong, with the
# probability it gave to "5". Many of them would make a person hesitate too.

# %% [code]
with checking("train_logistic_regression"):
    probabilities = 1.0 / (1.0 + np.exp(-(X_test @ w_fit + b_fit)))
wrong = np.flatnonzero((probabilities > 0.5) != (y_test == 1))
if len(wrong):
    fig, axes = plt.subplots(1, len(wrong[:8]), figsize=(1.4 * len(wrong[:8]), 1.6), squeeze=False)
    for ax, index in zip(axes[0], wrong[:8]):
        ax.imshow(X_test[index].reshape(8, 8), cmap="gray_r")
        ax.set_title(f"true {'5' if y_test[index] else '3'}\np(5)={probabilities[index]:.2f}", fontsize=8)
        ax.axis("off")
    plt.show()
else:
    print("no test image is misclassified")

# %% [markdown]
# **Summary.** An array-valued autodiff engine is a few VJPs plus the same backward
# sweep as for scalars; broadcasting only adds a sum. Losses must be written with
# numerical stability in mind, and a gradient check against an independent
# implementation catches what per-operation tests cannot. In Assignment 3 you will
# build layers, optimisers and a multi-layer network on top of the library's `Tensor`.
