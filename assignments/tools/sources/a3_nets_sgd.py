"""Source of assignments/a3_nets_sgd/nets_sgd.ipynb (built by assignments/tools/build_notebooks.py).

Assignment 3, "Neural networks and SGD". Lectures 003 (least squares, polynomial
models and capacity, gradient descent and SGD with mini-batches, activation
functions, a network as a parameterised function), 004 (learning rate, batch size,
epochs, over- and under-fitting, accuracy and throughput) and 001 (mini-batch
training, activation functions).
"""

# %% [markdown]
# # Assignment 3: Neural networks and SGD
#
# You can now differentiate anything. This assignment is about what to *do* with the
# gradient: fit models by following it downhill. We start with the oldest fitting
# problem, least squares, solved three ways; look at how a model's capacity decides
# between under- and over-fitting; then build a small neural-network toolkit (modules,
# a linear layer, activations, an SGD optimiser with momentum), study how the learning
# rate and the batch size change training, and train a multi-layer perceptron that
# reads handwritten digits with at least 95% accuracy, measuring its throughput.
#
# From here on the automatic differentiation is the course library's `gradkit.Tensor`
# (what you built in Assignment 2, in a faster form). The layers, the activations, the
# module base class, the optimiser and the training loop are yours: do not take them from
# `gradkit.nn`, `gradkit.optim` or `torch` (while grading, the library's versions of what
# you write raise an error when used). The grader reads your solution cells: besides NumPy they may use
# exactly what the set-up cell imports (`Tensor`, `Function` for the arctan, the data sets,
# and `cross_entropy` for the training loop); a test whose code uses anything else scores 0,
# and the feedback names what was used.
#
# **How this notebook works** (as before): fill in the cells marked `# YOUR CODE HERE`,
# run the visible tests under each, and restart-and-run-all then *Validate* before you
# submit. Hidden tests run your code on fresh inputs and the grader compares the results
# with those of the reference solution.
#
# **Points** (one line per graded test cell):
#
# {{points_table}}

# %% [locked id=setup]
# Set-up: run this cell first. It imports what the notebook uses and defines the
# small helpers that the visible tests call. You do not need to change it.
# {{include _helpers.py}}
import time

# What your cells may use from the library: exactly these.
from gradkit import Tensor
from gradkit.autodiff.functions import Function
from gradkit.data import linear_regression, load_digits, polynomial_regression, spirals
from gradkit.nn.functional import cross_entropy

plt.rcParams["figure.figsize"] = (6.4, 4.0)

# %% [markdown]
# ## Part 1. Least squares, three ways
#
# The lecture's statistics review: fit a line $y = m x + b$ to data $\{(x_i, y_i)\}_{i=1}^N$ by
# minimising the squared error $S(m, b) = \sum_i \big(y_i - (m x_i + b)\big)^2$. We write it for
# $D$ inputs at once: append a column of ones to $X$ (so the bias is the last weight) to get
# $A = [X\;\mathbf 1]$ of shape $(N, D+1)$, and minimise $S(\theta) = \|A\theta - y\|^2$ over
# $\theta\in\mathbb R^{D+1}$. We report the **mean** squared error $S/N$, which does not grow
# with $N$.
#
# Three ways to find the minimum, from exact to scalable:
#
# 1. **Normal equations.** At the minimum every partial derivative is zero,
#    $\nabla S = 2A^\top(A\theta - y) = 0$, a *linear* system: $A^\top A\,\theta = A^\top y$.
#    Solve it directly. Exact, but it needs all the data at once and a $(D+1)^2$ matrix.
# 2. **Gradient descent.** Start at $\theta = 0$ and repeat $\theta \leftarrow \theta - \eta\,\nabla L$,
#    with $L = S/N$ and learning rate $\eta$. Each step touches all $N$ examples.
# 3. **Stochastic gradient descent.** Each step uses the gradient of a small random
#    **mini-batch** $B$ of examples, $\nabla L_B = \frac{2}{|B|}A_B^\top(A_B\theta - y_B)$, an unbiased
#    but noisy estimate of $\nabla L$. One pass over all examples is an **epoch**.
#
# First, the mini-batches. Write `minibatches(n, batch_size, rng)`: shuffle the indices
# $0..n-1$ with `rng.permutation(n)` (one call, so that your batches are reproducible),
# then cut the shuffled order into consecutive batches of `batch_size`. The **last**
# batch holds what is left over (it may be smaller): every example is used exactly once
# per epoch.

# %% [solution id=minibatches]
def minibatches(n, batch_size, rng):
    """Index arrays of the mini-batches of one epoch over n examples.

    n, batch_size: ints >= 1; rng: a np.random.Generator, called once as rng.permutation(n).
    Returns a list of int arrays that together hold each of 0..n-1 exactly once.
    """
    ### BEGIN SOLUTION
    order = rng.permutation(n)
    return [order[start:start + batch_size] for start in range(0, n, batch_size)]
    ### END SOLUTION

# %% [tests id=test_minibatches points=3]
with checking("minibatches"):
    batches = minibatches(10, 4, np.random.default_rng(0))
expect_equal("batch sizes for n=10, batch_size=4", [len(b) for b in batches], [4, 4, 2])
expect_equal("all indices once", sorted(int(i) for b in batches for i in b), list(range(10)))
expect_equal("the order is rng.permutation(10)", [int(i) for b in batches for i in b],
             [int(i) for i in np.random.default_rng(0).permutation(10)])
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit_autograder.kernel.channel import Check, report, grading_rng

_sizes = Check("minibatches", "epochs of random n and batch_size (the sizes of their batches)",
               hint="every example is used exactly once per epoch: consecutive batches of batch_size, and a "
                    "last batch that holds what is left over (it may be smaller)")
_order = Check("minibatches", "epochs of random n and batch_size (their indices, batch after batch)",
               hint="shuffle once with rng.permutation(n), then cut that order into consecutive batches: "
                    "read batch after batch, the indices are the permutation itself")
_rng = grading_rng("test_minibatches")
for _k, (_n, _b) in enumerate([(1, 1), (7, 7), (8, 3), (100, 32), (64, 16), (5, 10)]):
    _got = minibatches(_n, _b, _np.random.default_rng(int(_rng.integers(2**31))))
    report(f"minibatches_{_k}_sizes", [len(batch) for batch in _got], check=_sizes,
           example=f"n = {_n}, batch_size = {_b}")
    report(f"minibatches_{_k}_order", [int(i) for batch in _got for i in batch], check=_order,
           example=f"n = {_n}, batch_size = {_b}")
### END HIDDEN TESTS

# %% [markdown]
# Now the three solvers. `X` is `(N, D)`, `y` is `(N,)`; each returns `theta` of shape
# `(D + 1,)` with the bias last. Use NumPy (the gradient of a quadratic is easy to
# write by hand: it is given above). Start the iterative ones at `theta = 0`; record
# the mean squared error on the **whole** data set before every step (GD) or at the
# start of every epoch (SGD), for the loss curves.

# %% [solution id=least_squares]
def with_bias_column(X):
    """A = [X, 1]: the inputs with a column of ones appended, shape (N, D + 1)."""
    return np.hstack([np.asarray(X, dtype=np.float64), np.ones((len(X), 1))])


def mse(theta, X, y):
    """Mean squared error of the linear model theta on (X, y)."""
    residual = with_bias_column(X) @ theta - y
    return float(np.mean(residual**2))


def fit_normal_equations(X, y):
    """Solve A^T A theta = A^T y. Returns theta, shape (D + 1,)."""
    ### BEGIN SOLUTION
    A = with_bias_column(X)
    return np.linalg.solve(A.T @ A, A.T @ np.asarray(y, dtype=np.float64))
    ### END SOLUTION


def fit_gradient_descent(X, y, lr, steps):
    """Full-batch gradient descent on the mean squared error from theta = 0.

    Returns (theta, losses): losses[k] is the MSE before step k (len(losses) == steps).
    """
    ### BEGIN SOLUTION
    A, y = with_bias_column(X), np.asarray(y, dtype=np.float64)
    theta = np.zeros(A.shape[1])
    losses = []
    for _ in range(steps):
        residual = A @ theta - y
        losses.append(float(np.mean(residual**2)))
        theta = theta - lr * 2.0 / len(y) * (A.T @ residual)
    return theta, losses
    ### END SOLUTION


def fit_sgd(X, y, lr, epochs, batch_size, seed=0):
    """Mini-batch SGD on the mean squared error from theta = 0.

    Each epoch takes its batches from minibatches(N, batch_size, rng), with ONE
    rng = np.random.default_rng(seed) made before the first epoch.
    Returns (theta, losses): losses[e] is the MSE on all data at the start of epoch e.
    """
    ### BEGIN SOLUTION
    A, y = with_bias_column(X), np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    theta = np.zeros(A.shape[1])
    losses = []
    for _ in range(epochs):
        losses.append(float(np.mean((A @ theta - y) ** 2)))
        for batch in minibatches(len(y), batch_size, rng):
            residual = A[batch] @ theta - y[batch]
            theta = theta - lr * 2.0 / len(batch) * (A[batch].T @ residual)
    return theta, losses
    ### END SOLUTION

# %% [tests id=test_normal_equations points=3]
X_line = np.array([[0.0], [1.0], [2.0], [3.0]])
y_line = np.array([1.0, 3.0, 5.0, 7.0])  # exactly y = 2x + 1
with checking("fit_normal_equations"):
    expect_close("fit_normal_equations on points of y = 2x + 1", fit_normal_equations(X_line, y_line), [2.0, 1.0])
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_normal = Check("fit_normal_equations", "random least-squares problems",
                hint="append the column of ones (with_bias_column, so the bias is the last entry of theta) "
                     "and solve the linear system $A^\\top A\\,\\theta = A^\\top y$")
_rng = grading_rng("test_normal_equations")
for _k, (_n, _d) in enumerate([(5, 1), (50, 3), (200, 8)]):
    _X = _rng.normal(size=(_n, _d))
    _y = _X @ _rng.normal(size=_d) + 0.7 + 0.1 * _rng.normal(size=_n)
    report(f"normal_equations_{_k}", fit_normal_equations(_X, _y), rtol=1e-7, atol=1e-9, check=_normal,
           example=f"X of shape ({_n}, {_d})")
### END HIDDEN TESTS

# %% [tests id=test_gradient_descent points=3]
with checking("fit_gradient_descent"):
    theta, losses = fit_gradient_descent(X_line, y_line, lr=0.1, steps=2)
# step 1 from theta = 0: gradient 2/4 * A^T (0 - y) = -[17, 8], so theta = [1.7, 0.8]
expect_close("losses of 2 steps: MSE at theta = 0, then at [1.7, 0.8]", losses, [21.0, np.mean((X_line[:, 0] * 1.7 + 0.8 - y_line) ** 2)])
with checking("fit_gradient_descent"):
    theta, _ = fit_gradient_descent(X_line, y_line, lr=0.05, steps=3000)
expect_close("fit_gradient_descent after 3000 steps (close to y = 2x + 1)", theta, [2.0, 1.0], rtol=1e-4, atol=1e-4)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_gd_theta = Check("fit_gradient_descent", "entries of theta after 25 steps on a random problem",
                  hint="start at theta = 0 and take each step against the gradient of the mean squared "
                       "error, $\\nabla L = \\frac{2}{N}A^\\top(A\\theta - y)$, times the learning rate")
_gd_losses = Check("fit_gradient_descent", "recorded losses of 25 steps on a random problem",
                   hint="record the mean squared error on all the data before every step (the first one at "
                        "theta = 0): one loss per step")
_rng = grading_rng("test_gradient_descent")
_X = _rng.normal(size=(40, 3))
_y = _X @ _rng.normal(size=3) - 0.4 + 0.1 * _rng.normal(size=40)
_theta, _losses = fit_gradient_descent(_X, _y, lr=0.05, steps=25)
report("gradient_descent_theta", _theta, rtol=1e-8, atol=1e-10, check=_gd_theta)
report("gradient_descent_losses", _losses, rtol=1e-8, check=_gd_losses)
### END HIDDEN TESTS

# %% [tests id=test_sgd_least_squares points=3]
with checking("fit_sgd"):
    theta, losses = fit_sgd(X_line, y_line, lr=0.02, epochs=400, batch_size=2, seed=0)
expect_equal("number of recorded losses for 400 epochs", len(losses), 400)
expect_close("fit_sgd on y = 2x + 1 (no noise: SGD converges too)", theta, [2.0, 1.0], rtol=1e-3, atol=1e-3)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_sgd_theta = Check("fit_sgd", "runs of 6 epochs on a random problem (theta at the end)",
                   hint="one generator made from seed before the first epoch gives every epoch its batches "
                        "(minibatches); step once per batch along the mini-batch gradient "
                        "$\\frac{2}{|B|}A_B^\\top(A_B\\theta - y_B)$, from theta = 0")
_sgd_losses = Check("fit_sgd", "runs of 6 epochs on a random problem (the recorded losses)",
                    hint="record the mean squared error on all the data at the start of every epoch, before "
                         "its steps: one loss per epoch")
_rng = grading_rng("test_sgd_least_squares")
_X = _rng.normal(size=(37, 2))
_y = _X @ _rng.normal(size=2) + 1.1 + 0.05 * _rng.normal(size=37)
for _b in [1, 8, 37]:
    _theta, _losses = fit_sgd(_X, _y, lr=0.02, epochs=6, batch_size=_b, seed=int(_rng.integers(2**31)))
    report(f"sgd_theta_batch_{_b}", _theta, rtol=1e-8, atol=1e-10, check=_sgd_theta,
           example=f"37 examples, batch_size = {_b}")
    report(f"sgd_losses_batch_{_b}", _losses, rtol=1e-8, check=_sgd_losses,
           example=f"37 examples, batch_size = {_b}")
### END HIDDEN TESTS

# %% [code]
line_data = linear_regression(n=200, dim=1, noise=0.5, seed=3, bias=1.5)
X_lin, y_lin = line_data.X.astype(np.float64), line_data.y.astype(np.float64)
with checking("the least-squares solvers"):
    theta_exact = fit_normal_equations(X_lin, y_lin)
    theta_gd, losses_gd = fit_gradient_descent(X_lin, y_lin, lr=0.1, steps=60)
    theta_sgd, losses_sgd = fit_sgd(X_lin, y_lin, lr=0.02, epochs=60, batch_size=8, seed=0)
best = mse(theta_exact, X_lin, y_lin)
print(f"true line      m = {line_data.weights[0]:.3f}, b = {line_data.bias:.3f}")
for name, theta in [("normal eqs", theta_exact), ("grad descent", theta_gd), ("SGD (batch 8)", theta_sgd)]:
    print(f"{name:14} m = {theta[0]:.3f}, b = {theta[1]:.3f}, MSE = {mse(theta, X_lin, y_lin):.4f}")

fig, (ax_fit, ax_loss) = plt.subplots(1, 2, figsize=(11, 3.8))
ax_fit.scatter(X_lin[:, 0], y_lin, s=8, alpha=0.5, label="data")
grid = np.linspace(X_lin.min(), X_lin.max(), 2)[:, None]
for (name, theta), style in zip([("normal equations", theta_exact), ("gradient descent", theta_gd), ("SGD", theta_sgd)],
                                ["-", "--", ":"]):
    ax_fit.plot(grid[:, 0], with_bias_column(grid) @ theta, style, linewidth=2, label=name)
ax_fit.legend()
ax_fit.set_title("three fits of one line")
ax_loss.semilogy(np.array(losses_gd) - best + 1e-12, label="gradient descent (per step, all 200 examples)")
ax_loss.semilogy(np.array(losses_sgd) - best + 1e-12, label="SGD (per epoch = 25 steps of 8 examples)")
ax_loss.set_xlabel("step (GD) or epoch (SGD)")
ax_loss.set_ylabel("MSE - best MSE")
ax_loss.legend(fontsize=8)
ax_loss.set_title("distance to the optimum")
plt.show()

# %% [markdown]
# Gradient descent converges steadily to the exact answer. SGD gets close much faster
# per pass over the data (25 updates per epoch instead of one), then jitters around the
# optimum: its gradients are noisy, and the noise does not vanish at the minimum unless
# the learning rate shrinks.
#
# ## Part 2. Model capacity: polynomial degree, under- and over-fitting
#
# The lecture's next step replaces the line with a parameterised family, such as
# polynomials $y = \sum_{k=0}^{n} a_k x^k$. The degree $n$ is the model's **capacity**
# ("degrees of freedom"). It is still least squares, on the *features* $1, x, x^2, \dots, x^n$.
#
# Too little capacity and the model cannot follow the data (**under-fitting**: high error on
# the training set and on new data). Too much and it follows the noise of the few training
# points (**over-fitting**: tiny training error, large error on new data). We see both by
# fitting 15 noisy samples of a cubic with every degree from 0 to 12 and measuring the error
# on 200 fresh samples.
#
# Write `polynomial_features(x, degree)` returning the `(N, degree + 1)` matrix with columns
# $x^0, x^1, \dots, x^{\text{degree}}$, and `fit_polynomial(x, y, degree)` returning the coefficients
# (lowest power first) that minimise the squared error. For high degrees $A^\top A$ is badly
# conditioned, so solve the least-squares problem with `np.linalg.lstsq` instead of the
# normal equations.

# %% [solution id=polynomial_fit]
def polynomial_features(x, degree):
    """Columns x**0, x**1, ..., x**degree of the 1-D array x: shape (len(x), degree + 1)."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] ** np.arange(degree + 1)
    ### END SOLUTION


def fit_polynomial(x, y, degree):
    """Least-squares polynomial coefficients, lowest power first: shape (degree + 1,)."""
    ### BEGIN SOLUTION
    coefficients, *_ = np.linalg.lstsq(polynomial_features(x, degree), np.asarray(y, dtype=np.float64), rcond=None)
    return coefficients
    ### END SOLUTION


def polynomial_mse(coefficients, x, y):
    """Mean squared error of the polynomial with these coefficients on (x, y)."""
    return float(np.mean((polynomial_features(x, len(coefficients) - 1) @ coefficients - y) ** 2))

# %% [tests id=test_polynomial_fit points=3]
with checking("polynomial_features"):
    expect_close("polynomial_features([2, -1], 3)", polynomial_features(np.array([2.0, -1.0]), 3),
                 [[1.0, 2.0, 4.0, 8.0], [1.0, -1.0, 1.0, -1.0]])
x_poly = np.array([-1.0, 0.0, 1.0, 2.0])
with checking("fit_polynomial"):
    expect_close("fit_polynomial to y = 1 - x + 2x^2 (degree 2)", fit_polynomial(x_poly, 1 - x_poly + 2 * x_poly**2, 2),
                 [1.0, -1.0, 2.0], atol=1e-9)
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit_autograder.kernel.channel import Check, report, grading_rng

_features = Check("polynomial_features", "random inputs x and degrees",
                  hint="degree + 1 columns, the powers $x^0, x^1, \\dots, x^{\\text{degree}}$ in that order: the "
                       "first is the constant column of ones")
_coefficients = Check("fit_polynomial", "fits to random noisy samples of sin(3x) (their coefficients)",
                      hint="least squares on polynomial_features(x, degree), lowest power first; for high "
                           "degrees solve with a least-squares solver (lstsq) rather than the normal equations")
_training_error = Check("fit_polynomial", "fits to random noisy samples of sin(3x) (their training error)",
                        hint="the least-squares fit has the smallest mean squared error on its training points "
                             "among all polynomials of that degree")
_rng = grading_rng("test_polynomial_fit")
for _k, (_n, _deg) in enumerate([(3, 0), (12, 2), (30, 5), (9, 8)]):
    _x = _rng.uniform(-1, 1, size=_n)
    _y = _np.sin(3 * _x) + 0.1 * _rng.normal(size=_n)
    _example = f"{_n} points, degree {_deg}"
    report(f"polynomial_features_{_k}", polynomial_features(_x, _deg), rtol=1e-12, check=_features,
           example=_example)
    _coef = fit_polynomial(_x, _y, _deg)
    report(f"fit_polynomial_{_k}", _coef, rtol=1e-6, atol=1e-8, check=_coefficients, example=_example)
    report(f"fit_polynomial_{_k}_train_mse", polynomial_mse(_coef, _x, _y), rtol=1e-6, atol=1e-12,
           check=_training_error, example=_example)
### END HIDDEN TESTS

# %% [code]
samples = polynomial_regression(n=215, degree=3, noise=0.15, seed=7)
x_train_poly, y_train_poly = samples.x[:15].astype(float), samples.y[:15].astype(float)
x_test_poly, y_test_poly = samples.x[15:].astype(float), samples.y[15:].astype(float)
degrees = list(range(13))
with checking("fit_polynomial"):
    fits = {d: fit_polynomial(x_train_poly, y_train_poly, d) for d in degrees}
train_errors = [polynomial_mse(fits[d], x_train_poly, y_train_poly) for d in degrees]
test_errors = [polynomial_mse(fits[d], x_test_poly, y_test_poly) for d in degrees]

fig, (ax_curve, ax_fits) = plt.subplots(1, 2, figsize=(11, 3.8))
ax_curve.semilogy(degrees, train_errors, "o-", label="training error (15 points)")
ax_curve.semilogy(degrees, test_errors, "s-", label="test error (200 new points)")
ax_curve.axvline(3, color="0.6", linestyle=":", label="true degree")
ax_curve.set_xlabel("polynomial degree (capacity)")
ax_curve.set_ylabel("mean squared error")
ax_curve.set_title("under-fitting (left) and over-fitting (right)")
ax_curve.legend(fontsize=8)
grid = np.linspace(-1, 1, 300)
ax_fits.scatter(x_train_poly, y_train_poly, color="k", zorder=3, label="training points")
for d, label in [(1, "degree 1: under-fits"), (3, "degree 3: about right"), (12, "degree 12: over-fits")]:
    ax_fits.plot(grid, polynomial_features(grid, d) @ fits[d], label=label)
ax_fits.set_ylim(min(y_test_poly) - 1, max(y_test_poly) + 1)
ax_fits.legend(fontsize=8)
plt.show()

# %% [markdown]
# From the curves, pick the degree that generalises best: set `best_degree` to the degree
# with the **smallest test error** (compute it from `test_errors`, do not type a number).

# %% [solution id=best_degree]
### BEGIN SOLUTION
best_degree = int(np.argmin(test_errors))
### END SOLUTION
print("best degree:", best_degree)

# %% [tests id=test_best_degree points=1]
with checking("best_degree"):
    answer = best_degree
if not isinstance(answer, (int, np.integer)) or not 0 <= answer <= 12:
    raise AssertionError(f"best_degree: expected an int between 0 and 12, got {answer!r}")
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report

report("best_degree", best_degree, check=Check(
    "best_degree", "chosen degrees",
    hint="the degree whose fit has the smallest error on the 200 test points (test_errors), computed with "
         "argmin; the training error keeps falling as the degree grows, so it cannot choose"))
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3. Modules, a linear layer and activations
#
# A neural network is the lecture's "parameterised function": linear maps with a
# non-linear function applied element by element in between,
# $Z = \sigma(\alpha_0 + \alpha X)$, $T = \beta_0 + \beta Z$, $f(X) = g(T)$. To build such
# functions from parts, every framework has a **module**: an object that holds parameters
# (and other modules) and has a `forward` method. You write a tiny version of PyTorch's
# `nn.Module`.
#
# * `Module.parameters()` returns every parameter of the module and of the modules inside
#   it: look through the attributes (`vars(self)`) in order; a `Tensor` with
#   `requires_grad` is a parameter; a `Module` contributes its own `parameters()`; a list
#   or tuple is searched item by item. Return each parameter once.
# * `Module.__call__(x)` calls `self.forward(x)`; `zero_grad()` sets every parameter's
#   `.grad` to `None`.
# * `Linear(in_features, out_features, rng, init)` computes $y = x W^\top + b$ with `weight` of
#   shape `(out, in)` (PyTorch's layout) and `bias` of shape `(out,)`, both float32 Tensors
#   with `requires_grad=True`. The bias starts at 0. The weight is drawn uniformly from
#   $[-a, a]$ by **one** call `rng.uniform(-a, a, size=(out, in))`, with
#   $a = \sqrt{6/\text{in}}$ for `init="he"` (suited to ReLU) and $a = \sqrt{6/(\text{in}+\text{out})}$ for
#   `init="xavier"` (suited to tanh and sigmoid). Both keep the variance of the signal about
#   constant from layer to layer, so deep stacks neither blow up nor fade out.
# * `Sequential(*modules)` applies its modules in order.

# %% [solution id=modules]
class Module:
    """Base class: holds parameters and sub-modules; subclasses define forward(x)."""

    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def __call__(self, x):
        ### BEGIN SOLUTION
        return self.forward(x)
        ### END SOLUTION

    def parameters(self):
        """Every parameter Tensor of this module and its sub-modules, each once, in attribute order."""
        ### BEGIN SOLUTION
        found, seen = [], set()

        def visit(value):
            if isinstance(value, Tensor):
                if value.requires_grad and id(value) not in seen:
                    seen.add(id(value))
                    found.append(value)
            elif isinstance(value, Module):
                for param in value.parameters():
                    visit(param)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    visit(item)

        for value in vars(self).values():
            visit(value)
        return found
        ### END SOLUTION

    def zero_grad(self):
        ### BEGIN SOLUTION
        for param in self.parameters():
            param.grad = None
        ### END SOLUTION


class Linear(Module):
    """y = x @ weight.T + bias, weight (out, in) drawn by He or Xavier uniform init."""

    def __init__(self, in_features, out_features, rng, init="he"):
        ### BEGIN SOLUTION
        if init == "he":
            bound = math.sqrt(6.0 / in_features)
        elif init == "xavier":
            bound = math.sqrt(6.0 / (in_features + out_features))
        else:
            raise ValueError(f"Linear: init must be 'he' or 'xavier', got {init!r}")
        weight = rng.uniform(-bound, bound, size=(out_features, in_features))
        self.weight = Tensor(weight.astype(np.float32), requires_grad=True)
        self.bias = Tensor(np.zeros(out_features, dtype=np.float32), requires_grad=True)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return x @ self.weight.T + self.bias
        ### END SOLUTION


class Sequential(Module):
    """Applies its modules one after the other."""

    def __init__(self, *modules):
        self.modules = list(modules)

    def forward(self, x):
        ### BEGIN SOLUTION
        for module in self.modules:
            x = module(x)
        return x
        ### END SOLUTION

# %% [tests id=test_modules points=5]
with checking("Linear"):
    layer = Linear(3, 2, np.random.default_rng(0), init="he")
expect_equal("Linear(3, 2).weight.shape", tuple(layer.weight.shape), (2, 3))
expect_equal("Linear(3, 2).bias.shape", tuple(layer.bias.shape), (2,))
bound = math.sqrt(6 / 3)
expect_close("Linear(3, 2, init='he') weight = rng.uniform(-sqrt(6/3), sqrt(6/3), size=(2, 3))", layer.weight.data,
             np.random.default_rng(0).uniform(-bound, bound, size=(2, 3)), rtol=1e-6)
with checking("Linear.forward"):
    out = layer(Tensor(np.ones((4, 3), dtype=np.float32)))
expect_close("Linear forward on ones(4, 3): each row is the row sums of weight", out.data,
             np.tile(layer.weight.data.sum(axis=1), (4, 1)), rtol=1e-6)
with checking("Module.parameters"):
    net = Sequential(Linear(3, 4, np.random.default_rng(1)), Sequential(Linear(4, 2, np.random.default_rng(2))))
    shapes = [tuple(p.shape) for p in net.parameters()]
expect_equal("parameter shapes of Sequential(Linear(3, 4), Sequential(Linear(4, 2)))", shapes, [(4, 3), (4,), (2, 4), (2,)])
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit import Tensor as _Tensor
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_init = Check("Linear.__init__", "layers of random sizes (their initial weights)",
              hint="one uniform draw from $[-a, a]$, $a = \\sqrt{6/\\text{in}}$ for He and "
                   "$\\sqrt{6/(\\text{in}+\\text{out})}$ for Xavier")
_forward = Check("Linear.forward", "layers of random sizes on random batches (their outputs)",
                 hint="$y = x W^\\top + b$, weight (out, in); if the initial weights differ, fix those first")
_backward = Check("Linear.forward", "gradients (of the weight or of the input) through layers of random sizes",
                  hint="Tensor operations only, so that backward reaches weight, bias and input")
_rng = grading_rng("test_modules")
for _k, (_in, _out, _how) in enumerate([(1, 1, "he"), (5, 3, "he"), (7, 4, "xavier"), (64, 10, "xavier")]):
    _layer = Linear(_in, _out, _np.random.default_rng(int(_rng.integers(2**31))), init=_how)
    _example = f"Linear({_in}, {_out}, rng, init={_how!r})"
    report(f"linear_init_{_k}", _layer.weight.data, rtol=1e-6, check=_init, example=_example)
    _x = _rng.normal(size=(6, _in)).astype(_np.float32)
    _xt = _Tensor(_x, requires_grad=True)
    _y = _layer(_xt)
    (_y * _y).sum().backward()
    report(f"linear_forward_{_k}", _y.data, rtol=1e-4, atol=1e-5, check=_forward, example=_example)
    report(f"linear_grad_w_{_k}", _layer.weight.grad, rtol=1e-4, atol=1e-4, check=_backward, example=_example)
    report(f"linear_grad_x_{_k}", _xt.grad, rtol=1e-4, atol=1e-4, check=_backward, example=_example)
_gen = _np.random.default_rng(int(_rng.integers(2**31)))
_shared = Linear(2, 2, _gen)
_net = Sequential(_shared, [Linear(2, 3, _gen), _shared], Sequential(), Sequential(Linear(3, 1, _gen)))
report("parameters_shapes", [n for p in _net.parameters() for n in (p.size, *p.shape)], check=Check(
    "Module.parameters", "sizes and shapes of the parameters found in a nested network",
    hint="look through the attributes in order: a Tensor with requires_grad is a parameter, a Module gives "
         "its own parameters(), a list or tuple is searched item by item; a shared layer counts once"),
    example="Sequential(shared, [Linear(2, 3), shared], Sequential(), Sequential(Linear(3, 1)))")
# zero_grad after a backward pass: what is left of each gradient (None counts as cleared, as zeros do)
_net = Sequential(Linear(3, 4, _gen), Sequential(Linear(4, 2, _gen)))
_out = _net(_Tensor(_rng.normal(size=(5, 3)).astype(_np.float32)))
(_out * _out).sum().backward()
_net.zero_grad()
report("zero_grad_left", [0.0 if p.grad is None else float(_np.abs(_np.asarray(p.grad, dtype=float)).sum())
                          for p in _net.parameters()], atol=1e-12, check=Check(
    "Module.zero_grad", "parameters of a nested network after a backward pass (what is left of their gradients)",
    hint="clear the gradient of every parameter that parameters() finds, those of the sub-modules included"))
### END HIDDEN TESTS

# %% [markdown]
# ### Activation functions
#
# Without a non-linearity between them, two linear layers collapse into one. The lecture
# lists the usual choices; write each as a `Module` built from `Tensor` operations that
# you differentiated in Assignment 2 (`exp`, `log`, `relu`, arithmetic, `sum`, `max`):
# **not** with the library's ready-made `x.sigmoid()`, `x.tanh()` or `x.softmax()`.
#
# * `ReLU`: $\max(x, 0)$.
# * `Sigmoid`: $\sigma(x) = 1/(1+e^{-x})$. For very negative $x$, $e^{-x}$ overflows to `inf`; compute
#   $e^{-|x|}$ instead and use $\sigma(x) = 1/(1+e^{-x})$ for $x \ge 0$ and $e^{x}/(1+e^{x})$ for $x<0$:
#   with a constant 0/1 mask $m = [x \ge 0]$ (a NumPy array) both cases are
#   $\sigma = \dfrac{m + (1 - m)\,e^{-|x|}}{1 + e^{-|x|}}$, where $-|x| = x - 2\,\mathrm{relu}(x)$.
# * `Tanh`: $\tanh x = 2\sigma(2x) - 1$.
# * `Softmax(axis)`: $e^{x_i - m}/\sum_j e^{x_j - m}$ along `axis`, with $m$ the (constant) maximum
#   along that axis, as in Assignment 2.
# * `Arctan`: the lecture's third activation, $\arctan x$, whose derivative is $1/(1+x^2)$. It is
#   **not** an operation of `Tensor`, so you add it to the library: subclass `Function`
#   (`from gradkit.autodiff.functions import Function`, already imported) with a static
#   `forward(ctx, x)` that computes on the NumPy array `x` and saves what backward needs
#   with `ctx.save_for_backward(...)`, and a static `backward(ctx, grad)` that reads
#   `ctx.saved_arrays` and returns a **tuple** with one gradient per input. Then
#   `ArctanFunction.apply(tensor)` runs it on a Tensor and records it in the graph.

# %% [solution id=activations]
class ReLU(Module):
    def forward(self, x):
        ### BEGIN SOLUTION
        return x.relu()
        ### END SOLUTION


class Sigmoid(Module):
    def forward(self, x):
        ### BEGIN SOLUTION
        positive = (x.data >= 0).astype(x.data.dtype)  # a constant mask
        decay = (x - 2.0 * x.relu()).exp()  # exp(-|x|), never overflows
        return (decay * (1.0 - positive) + positive) / (decay + 1.0)
        ### END SOLUTION


class Tanh(Module):
    def forward(self, x):
        ### BEGIN SOLUTION
        return Sigmoid()(x * 2.0) * 2.0 - 1.0
        ### END SOLUTION


class Softmax(Module):
    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        ### BEGIN SOLUTION
        shifted = x - x.data.max(axis=self.axis, keepdims=True)
        exps = shifted.exp()
        return exps / exps.sum(axis=self.axis, keepdims=True)
        ### END SOLUTION


class ArctanFunction(Function):
    """arctan as a new differentiable operation of gradkit.Tensor."""

    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        return np.arctan(x)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        ### BEGIN SOLUTION
        (x,) = ctx.saved_arrays
        return (grad / (1.0 + x * x),)
        ### END SOLUTION


class Arctan(Module):
    def forward(self, x):
        ### BEGIN SOLUTION
        return ArctanFunction.apply(x)
        ### END SOLUTION

# %% [tests id=test_activations points=5]
x_values = np.array([-800.0, -1.0, 0.0, 2.0, 800.0])
expected = {
    "ReLU": [0.0, 0.0, 0.0, 2.0, 800.0],
    "Sigmoid": [0.0, 1 / (1 + math.e), 0.5, 1 / (1 + math.exp(-2)), 1.0],
    "Tanh": [-1.0, math.tanh(-1.0), 0.0, math.tanh(2.0), 1.0],
    "Arctan": list(np.arctan(x_values)),
}
for name, module in [("ReLU", ReLU()), ("Sigmoid", Sigmoid()), ("Tanh", Tanh()), ("Arctan", Arctan())]:
    with checking(name):
        got = module(Tensor(x_values)).data
    expect_close(f"{name} at {list(x_values)}", got, expected[name], rtol=1e-6, atol=1e-12)
with checking("Softmax"):
    got = Softmax(axis=1)(Tensor(np.array([[0.0, 0.0], [1000.0, 0.0]]))).data
expect_close("Softmax(axis=1) of [[0, 0], [1000, 0]]", got, [[0.5, 0.5], [1.0, 0.0]])
with checking("Arctan"):
    t = Tensor(np.array([0.0, 1.0, 2.0]), requires_grad=True)
    Arctan()(t).sum().backward()
expect_close("ArctanFunction.backward: d arctan(x) / dx at [0, 1, 2] is 1 / (1 + x^2)", t.grad, [1.0, 0.5, 0.2])
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit import Tensor as _Tensor
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_activation_hints = {
    "relu": ("ReLU", "$\\max(x, 0)$ element by element, with the Tensor's relu so that backward passes the "
                     "gradient where x > 0"),
    "sigmoid": ("Sigmoid", "$\\sigma(x) = 1/(1+e^{-x})$ built from exp, relu and arithmetic (not the Tensor's "
                           "ready-made sigmoid()), with $e^{-|x|}$ and a constant 0/1 mask so that no exp "
                           "overflows"),
    "tanh": ("Tanh", "$\\tanh x = 2\\sigma(2x) - 1$ on your Sigmoid (not the Tensor's ready-made tanh())"),
    "softmax0": ("Softmax", "$e^{x_i - m}/\\sum_j e^{x_j - m}$ along the given axis (keep its dimension), with "
                            "m the constant maximum along that same axis"),
}
_activation_hints["softmax1"] = _activation_hints["softmax0"]
_activation_checks = {
    _name: (Check(_module, "outputs on a random 5x5 batch with entries up to |x| = 300", hint=_hint),
            Check(_module, "gradients from backward on a random 5x5 batch with entries up to |x| = 300",
                  hint=_hint))
    for _name, (_module, _hint) in _activation_hints.items()}
_activation_checks["arctan"] = (
    Check("Arctan", "outputs on a random 5x5 batch with entries up to |x| = 300",
          hint="ArctanFunction.forward computes arctan of the NumPy array (and saves x for backward); "
               "Arctan.forward runs ArctanFunction.apply on the Tensor"),
    Check("ArctanFunction.backward", "gradients from backward on a random 5x5 batch with entries up to |x| = 300",
          hint="backward returns a tuple with one gradient per input: the incoming gradient times the "
               "derivative of arctan, 1 / (1 + x^2) (mind its sign), at the x saved by forward"))
_rng = grading_rng("test_activations")
_x = _np.concatenate([_rng.normal(scale=3.0, size=(4, 5)), _np.array([[-300.0, -30.0, 0.5, 30.0, 300.0]])])
_g = _rng.normal(size=_x.shape)


_ready_made_calls = []


def _ready_made(name):
    def refuse(self, *args, **kwargs):
        _ready_made_calls.append(name)
        raise AssertionError(f"Tensor.{name}() is the library's ready-made activation; build yours from exp, "
                             "log, relu and arithmetic")
    return refuse


# While the activations run, the library's ready-made ones are out of reach (own work, not the library's):
# a module that calls one reports nothing, and the calls are counted.
_library_methods = {_n: vars(_Tensor)[_n] for _n in ("sigmoid", "tanh", "softmax", "log_softmax") if _n in vars(_Tensor)}
for _n in _library_methods:
    setattr(_Tensor, _n, _ready_made(_n))
try:
    for _name, _module in [("relu", ReLU()), ("sigmoid", Sigmoid()), ("tanh", Tanh()), ("arctan", Arctan()),
                           ("softmax0", Softmax(axis=0)), ("softmax1", Softmax(axis=1))]:
        _calls_before = len(_ready_made_calls)
        try:
            _mine = _Tensor(_x, requires_grad=True)
            _out = _module(_mine)
            (_out * _Tensor(_g)).sum().backward()
        except AssertionError:
            if len(_ready_made_calls) == _calls_before:
                raise
            continue
        _example = f"Softmax(axis={_name[-1]})" if _name.startswith("softmax") else None
        report(f"{_name}_forward", _out.data, rtol=1e-9, atol=1e-12, check=_activation_checks[_name][0],
               example=_example)
        report(f"{_name}_backward", _mine.grad, rtol=1e-7, atol=1e-10, check=_activation_checks[_name][1],
               example=_example)
finally:
    for _n, _method in _library_methods.items():
        setattr(_Tensor, _n, _method)
report("library_ready_made_activation_calls", len(_ready_made_calls), check=Check(
    "Sigmoid, Tanh and Softmax", "counts of calls to the Tensor's ready-made activations",
    hint="build your activations from exp, log, relu and arithmetic: the Tensor's ready-made sigmoid(), "
         "tanh() and softmax() are the library's work, not yours"))
### END HIDDEN TESTS

# %% [code]
# The activations and their derivatives, both computed by your modules and backward.
grid = np.linspace(-5, 5, 201)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
with checking("the activation modules"):
    for name, module in [("ReLU", ReLU()), ("sigmoid", Sigmoid()), ("tanh", Tanh()), ("arctan", Arctan())]:
        t = Tensor(grid, requires_grad=True)
        out = module(t)
        out.sum().backward()
        axes[0].plot(grid, out.data, label=name)
        axes[1].plot(grid, t.grad, label=name)
axes[0].set_title("activation")
axes[1].set_title("derivative (from backward)")
for ax in axes:
    ax.axhline(0, color="0.8", linewidth=0.8)
    ax.legend()
    ax.set_xlabel("x")
plt.show()

# %% [markdown]
# The sigmoid's derivative is at most $\frac14$ and vanishes for large $|x|$, so a deep stack of
# sigmoids multiplies many small numbers on the way back (the *vanishing gradient*);
# ReLU's derivative is exactly 1 wherever the unit is active, one reason it is the default.
#
# ## Part 4. Mini-batch SGD with momentum
#
# Plain SGD steps along the current mini-batch gradient, $p \leftarrow p - \eta\, g$. With noisy
# gradients and long, narrow valleys in the loss, it zig-zags. **Momentum** keeps a running
# velocity, the exponentially weighted sum of past gradients, and steps along it:
#
# $$v \leftarrow \mu v + g, \qquad p \leftarrow p - \eta\, v,$$
#
# (PyTorch's form, with $v = g$ on the first step). Directions that agree from step to step
# add up; oscillating ones cancel.
#
# Write the optimiser `SGD(params, lr, momentum=0.0)` with `step()`, which updates every
# parameter that has a gradient **in place** (`p.data -= ...`, so the model sees the new
# values), and `zero_grad()`. Keep one velocity array per parameter.

# %% [solution id=sgd_optimizer]
class SGD:
    """Mini-batch SGD with (heavy-ball) momentum, the update of torch.optim.SGD."""

    def __init__(self, params, lr, momentum=0.0):
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        ### BEGIN SOLUTION
        self.velocities = [None] * len(self.params)
        ### END SOLUTION

    def step(self):
        """p <- p - lr * v with v <- momentum * v + grad (v = grad at first)."""
        ### BEGIN SOLUTION
        for k, param in enumerate(self.params):
            if param.grad is None:
                continue
            grad = param.grad
            if self.momentum:
                if self.velocities[k] is None:
                    self.velocities[k] = np.array(grad, copy=True)
                else:
                    self.velocities[k] = self.momentum * self.velocities[k] + grad
                grad = self.velocities[k]
            param.data -= self.lr * grad
        ### END SOLUTION

    def zero_grad(self):
        ### BEGIN SOLUTION
        for param in self.params:
            param.grad = None
        ### END SOLUTION

# %% [tests id=test_sgd_optimizer points=5]
with checking("SGD"):
    p = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    optimizer = SGD([p], lr=0.1, momentum=0.9)
    history = []
    for _ in range(3):
        p.grad = np.array([1.0, 1.0])  # a constant gradient
        optimizer.step()
        history.append(p.data.copy())
    optimizer.zero_grad()
# velocities 1, 1.9, 2.71: the steps grow while the gradient keeps its direction
expect_close("parameter after 3 momentum steps with a constant gradient [1, 1]", history,
             [[0.9, -2.1], [0.71, -2.29], [0.439, -2.561]])
expect_equal("p.grad after zero_grad()", p.grad, None)
### BEGIN HIDDEN TESTS
from gradkit import Tensor as _Tensor
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_sgd_step = Check("SGD.step", "parameter tensors after 6 steps (momentum 0, 0.9 or 0.5)",
                  hint="update p.data in place for each parameter with a gradient; momentum keeps one velocity per "
                       "parameter between steps, $v \\leftarrow \\mu v + g$ ($v = g$ at first), then "
                       "$p \\leftarrow p - \\eta\\, v$: only the old velocity is scaled by the momentum")
_rng = grading_rng("test_sgd_optimizer")
for _k, (_lr, _mu) in enumerate([(0.1, 0.0), (0.05, 0.9), (0.3, 0.5)]):
    _A = _rng.normal(size=(5, 3))
    _target = _rng.normal(size=(5, 2))
    _w = _Tensor(_rng.normal(size=(3, 2)), requires_grad=True)
    _b = _Tensor(_rng.normal(size=(2,)), requires_grad=True)
    _opt = SGD([_w, _b], lr=_lr, momentum=_mu)
    for _step in range(6):
        _opt.zero_grad()
        (((_Tensor(_A) @ _w + _b) - _target) ** 2).mean().backward()
        _opt.step()
    _example = f"SGD([w, b], lr={_lr}, momentum={_mu})"
    report(f"sgd_{_k}_w", _w.data, rtol=1e-9, atol=1e-12, check=_sgd_step, example=_example)
    report(f"sgd_{_k}_b", _b.data, rtol=1e-9, atol=1e-12, check=_sgd_step, example=_example)
### END HIDDEN TESTS

# %% [markdown]
# Next, one epoch of training. Write `train_epoch(model, optimizer, X, y, batch_size, rng)`:
# for each mini-batch from `minibatches(len(X), batch_size, rng)`, compute the logits
# `model(Tensor(X[batch]))`, the loss `cross_entropy(logits, y[batch])` (the library's
# softmax cross-entropy, which you wrote in Assignment 2), clear the gradients, backpropagate
# and step. Return the **mean of the batch losses**. `accuracy(model, X, y)` is given.

# %% [solution id=train_epoch]
def accuracy(model, X, y):
    """The fraction of rows of X whose largest logit is at the true class y."""
    return float(np.mean(np.argmax(model(Tensor(X)).data, axis=1) == y))


def train_epoch(model, optimizer, X, y, batch_size, rng):
    """One pass of mini-batch SGD over (X, y). Returns the mean of the batch losses."""
    ### BEGIN SOLUTION
    losses = []
    for batch in minibatches(len(X), batch_size, rng):
        loss = cross_entropy(model(Tensor(X[batch])), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))
    ### END SOLUTION

# %% [tests id=test_train_epoch points=3]
with checking("train_epoch"):
    toy_X = np.array([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]], dtype=np.float32)
    toy_y = np.array([0, 1, 0, 1])
    toy_model = Sequential(Linear(2, 2, np.random.default_rng(0)))
    toy_optimizer = SGD(toy_model.parameters(), lr=0.5)
    first = train_epoch(toy_model, toy_optimizer, toy_X, toy_y, batch_size=2, rng=np.random.default_rng(0))
    later = [train_epoch(toy_model, toy_optimizer, toy_X, toy_y, 2, np.random.default_rng(e)) for e in range(1, 30)]
if not later[-1] < first:
    raise AssertionError(f"train_epoch: the mean loss should fall over 30 epochs, got {first:.4f} then {later[-1]:.4f}")
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit_autograder.kernel.channel import report, grading_rng

_rng = grading_rng("test_train_epoch")
_X = _rng.normal(size=(23, 4)).astype(_np.float32)
_y = _rng.integers(0, 3, size=23)
_gen = _np.random.default_rng(int(_rng.integers(2**31)))
_model = Sequential(Linear(4, 5, _gen), ReLU(), Linear(5, 3, _gen))
_mean_loss = train_epoch(_model, SGD(_model.parameters(), lr=0.2, momentum=0.5), _X, _y, 5,
                         _np.random.default_rng(int(_rng.integers(2**31))))
report("train_epoch_mean_loss", _mean_loss, rtol=1e-5, check=Check(
    "train_epoch", "mean losses of an epoch of a small random network",
    hint="return the mean of the batch losses, one cross_entropy value per mini-batch of minibatches(len(X), "
         "batch_size, rng)"), example="23 examples, batch_size = 5")
report("train_epoch_weights", _model.parameters()[2].data, rtol=1e-4, atol=1e-5, check=Check(
    "train_epoch", "weights of a small random network after one epoch",
    hint="for each mini-batch in order: logits of model(Tensor(X[batch])), the cross-entropy loss, then clear "
         "the gradients, back-propagate and take one optimizer step"), example="23 examples, batch_size = 5")
### END HIDDEN TESTS

# %% [markdown]
# ### Momentum on the spirals, and what a network's decision boundary looks like
#
# Three interleaved spiral arms cannot be separated by straight lines. Below, a linear model
# and a two-hidden-layer MLP are trained with your modules and optimiser (full batch, so
# the only difference between the runs is momentum). The right plot colours the plane by
# the class each model predicts: the **decision boundary**.

# %% [code]
X_spiral, y_spiral = spirals(n=300, classes=3, noise=0.1, seed=0)


def spiral_mlp(seed):
    rng = np.random.default_rng(seed)
    return Sequential(Linear(2, 64, rng), ReLU(), Linear(64, 64, rng), ReLU(), Linear(64, 3, rng))


runs = {}
with checking("Linear, ReLU, SGD and train_epoch"):
    for name, model, momentum in [("linear model", Sequential(Linear(2, 3, np.random.default_rng(0))), 0.9),
                                  ("MLP, no momentum", spiral_mlp(0), 0.0),
                                  ("MLP, momentum 0.9", spiral_mlp(0), 0.9)]:
        optimizer = SGD(model.parameters(), lr=0.1, momentum=momentum)
        losses = [train_epoch(model, optimizer, X_spiral, y_spiral, 300, np.random.default_rng(e)) for e in range(300)]
        runs[name] = (model, losses)
        print(f"{name:18} final loss {losses[-1]:.3f}, training accuracy {accuracy(model, X_spiral, y_spiral):.0%}")

fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
for name, (model, losses) in runs.items():
    axes[0].plot(losses, label=name)
axes[0].set_xlabel("epoch (one full-batch step)")
axes[0].set_ylabel("cross-entropy")
axes[0].legend(fontsize=8)
axes[0].set_title("training loss")
xx, yy = np.meshgrid(np.linspace(-1.1, 1.1, 200), np.linspace(-1.1, 1.1, 200))
plane = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
for ax, name in zip(axes[1:], ["linear model", "MLP, momentum 0.9"]):
    regions = np.argmax(runs[name][0](Tensor(plane)).data, axis=1).reshape(xx.shape)
    class_colours = ["C0", "C1", "C2"]
    ax.contourf(xx, yy, regions, alpha=0.3, levels=[-0.5, 0.5, 1.5, 2.5], colors=class_colours)
    ax.scatter(X_spiral[:, 0], X_spiral[:, 1], c=[class_colours[k] for k in y_spiral], s=8)
    ax.set_title(f"decision regions: {name}")
    ax.set_aspect("equal")
plt.show()

# %% [markdown]
# ## Part 5. The learning rate and the batch size
#
# Now the real data: the $8\times8$ digits, all ten classes (1437 training and 360 test images).
# Two hyper-parameters matter most.
#
# **Learning rate.** Too small and training crawls; too large and each step overshoots, the
# loss grows and finally becomes `nan`. The sweep below trains the same network for three
# epochs at each rate. Look for the broad valley: the best rate is usually a bit below the
# largest one that still trains.
#
# **Batch size.** One epoch is always one pass over the data. Small batches give many
# cheap, noisy steps per epoch; large batches give few, accurate and (per sample) cheaper
# steps, because the matrix products get bigger and the per-step overhead is shared. The
# second sweep trains with batch sizes from 4 to 1024 at one learning rate (0.1) and plots
# the loss against epochs and against wall-clock time: per epoch, small batches win; per
# second, the answer depends on the hardware. (With very large batches the learning rate
# must grow too, the *linear scaling rule* that Assignment 5 uses for distributed training.)

# %% [locked id=digits_data]
X_digits, y_digits = load_digits(split="train")
X_digits_test, y_digits_test = load_digits(split="test")
print(f"digits: {len(y_digits)} training and {len(y_digits_test)} test images of 64 pixels")

# %% [code]
def digits_mlp(seed, hidden=64):
    rng = np.random.default_rng(seed)
    return Sequential(Linear(64, hidden, rng), ReLU(), Linear(hidden, 10, rng))


learning_rates = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
final_losses = []
with checking("train_epoch"), np.errstate(all="ignore"):  # the largest rate is meant to blow up
    for lr in learning_rates:
        model = digits_mlp(0)
        optimizer = SGD(model.parameters(), lr=lr)
        losses = [train_epoch(model, optimizer, X_digits, y_digits, 32, np.random.default_rng(e)) for e in range(3)]
        final_losses.append(losses[-1])

batch_sizes = [4, 16, 64, 256, 1024]
batch_runs = {}
with checking("train_epoch"):
    for batch_size in batch_sizes:
        model = digits_mlp(0)
        optimizer = SGD(model.parameters(), lr=0.1)
        losses, clock = [], [0.0]
        start = time.perf_counter()
        for epoch in range(6):
            losses.append(train_epoch(model, optimizer, X_digits, y_digits, batch_size, np.random.default_rng(epoch)))
            clock.append(time.perf_counter() - start)
        batch_runs[batch_size] = (losses, clock[1:])

fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
# A diverged run (nan or huge loss) is drawn at the top of the axis.
shown = np.where(np.isfinite(final_losses), np.minimum(final_losses, 2.45), 2.45)
axes[0].semilogx(learning_rates, shown, "o-")
axes[0].set_ylim(0, 2.5)
axes[0].set_xlabel("learning rate")
axes[0].set_ylabel("mean loss in epoch 3")
axes[0].set_title("learning-rate sweep (batch 32, plain SGD)")
for batch_size, (losses, clock) in batch_runs.items():
    axes[1].plot(range(1, 7), losses, "o-", label=f"batch {batch_size}")
    axes[2].plot(clock, losses, "o-", label=f"batch {batch_size}")
axes[1].set_xlabel("epoch")
axes[2].set_xlabel("seconds")
for ax in axes[1:]:
    ax.set_yscale("log")
    ax.set_ylabel("mean training loss")
    ax.legend(fontsize=8)
axes[1].set_title("batch-size sweep: per epoch")
axes[2].set_title("batch-size sweep: per second")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Part 6. An MLP that reads digits
#
# Put it together. Write `train_digits_mlp(seed)`: build an MLP for the 64-pixel inputs and
# 10 classes (for example 64 → 128 → 10 with ReLU and He initialisation, every layer drawn
# from one `rng = np.random.default_rng(seed)`), train it with your `SGD` (momentum helps)
# and `train_epoch` on the training set, and return the model and the list of epoch losses.
# It must reach **at least 95% accuracy on the test set**, and the whole function must run in
# under a minute on a laptop (a few seconds is typical). Choose the learning rate, batch
# size and number of epochs with what the sweeps showed.
#
# How it is graded: the grader trains your network with a seed of its own and tests it on the
# test images with a little pixel noise added, drawn fresh in every grading run (a trained
# network hardly notices; it must be right on at least 93% of them); the epoch losses must
# fall; and the predictions must come from the network's parameters: return your `Module`,
# whose `parameters()` are the ones your `SGD` trained.

# %% [solution id=digits_mlp]
def train_digits_mlp(seed=0):
    """Train an MLP on load_digits('train'). Returns (model, epoch_losses)."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    model = Sequential(Linear(64, 128, rng), ReLU(), Linear(128, 10, rng))
    optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = [train_epoch(model, optimizer, X_digits, y_digits, 32, rng) for _ in range(15)]
    return model, losses
    ### END SOLUTION

# %% [code]
start = time.perf_counter()
with checking("train_digits_mlp"):
    digits_model, digits_losses = train_digits_mlp(seed=0)
print(f"trained in {time.perf_counter() - start:.1f} s")
print(f"train accuracy {accuracy(digits_model, X_digits, y_digits):.1%}, "
      f"test accuracy {accuracy(digits_model, X_digits_test, y_digits_test):.1%}")

predicted = np.argmax(digits_model(Tensor(X_digits_test)).data, axis=1)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_digits_test, predicted), 1)
fig, (ax_loss, ax_conf) = plt.subplots(1, 2, figsize=(10, 3.8))
ax_loss.plot(range(1, len(digits_losses) + 1), digits_losses, "o-")
ax_loss.set_yscale("log")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("mean training loss")
ax_loss.set_title("MLP on the digits")
ax_conf.imshow(confusion, cmap="Blues")
for (i, j), count in np.ndenumerate(confusion):
    if count:
        ax_conf.text(j, i, count, ha="center", va="center", fontsize=7, color="w" if i == j else "k")
ax_conf.set_xlabel("predicted")
ax_conf.set_ylabel("true")
ax_conf.set_xticks(range(10))
ax_conf.set_yticks(range(10))
ax_conf.set_title("test confusion matrix")
plt.show()

# %% [tests id=test_digits_mlp points=6]
with checking("train_digits_mlp"):
    started = time.perf_counter()
    model_check, losses_check = train_digits_mlp(seed=1)
    seconds_check = time.perf_counter() - started
test_accuracy = accuracy(model_check, X_digits_test, y_digits_test)
print(f"seed 1: test accuracy {test_accuracy:.1%} in {seconds_check:.1f} s")
if not test_accuracy >= 0.95:
    raise AssertionError(f"train_digits_mlp(seed=1): expected at least 95% test accuracy, got {test_accuracy:.1%}")
if not seconds_check < 60:
    raise AssertionError(f"train_digits_mlp took {seconds_check:.0f} s; it must finish within a minute")
### BEGIN HIDDEN TESTS
import numpy as _np

from gradkit import Tensor as _Tensor
from gradkit.data import load_digits as _load_digits
from gradkit_autograder.kernel.channel import Check, Rule, report, grading_rng

_accuracy = Check("train_digits_mlp", "test images with fresh pixel noise",
                  hint="train an MLP (say 64-128-10, ReLU, He init) with your SGD with momentum and train_epoch "
                       "until it reaches 95% test accuracy: a trained network generalises to images it has not "
                       "seen, such as these with a little pixel noise")
_rng = grading_rng("test_digits_mlp")
_model, _losses = train_digits_mlp(seed=int(_rng.integers(2**31)))
# A test set fresh to this grading run: the test images with pixel noise drawn here, so no table of
# known images can answer it, while a trained network hardly notices the noise.
_X_test, _y_test = _load_digits(split="test")
_X_test = _np.clip(_X_test + 0.1 * _rng.normal(size=_X_test.shape), 0.0, 1.0).astype(_np.float32)
report("digits_labels", _y_test, check=Check("train_digits_mlp", "labels of the noisy test images",
                                             hint=_accuracy.hint))
report("digits_predictions", _np.argmax(_np.asarray(_model(_Tensor(_X_test)).data), axis=1),
       rule=Rule.accuracy(labels="digits_labels", at_least=0.93), check=_accuracy,
       example="the 360 test images with pixel noise of standard deviation 0.1")
report("digits_losses_first_last", [_losses[0], _losses[-1]], rule=Rule.decreases(),
       example="the first and the last epoch loss", check=Check(
    "train_digits_mlp", "epoch losses (the first and the last)",
    hint="return the list of the epoch losses, the mean training loss of each epoch as train_epoch gives it; "
         "it falls while the network learns"))
# The predictions come from the trained parameters: with every parameter set to zero a network
# gives every image the same logits. (A model that looks its answers up does not notice.)
for _p in _model.parameters():
    _p.data[...] = 0
_logits = _np.asarray(_model(_Tensor(_X_test)).data, dtype=float)
report("digits_zeroed_logits_spread", _np.abs(_logits - _logits[:1]).max(axis=1), rule=Rule.bounds(0.0, 1e-6),
       check=Check("train_digits_mlp", "test images, with every parameter of the returned model set to 0",
                   hint="the predictions must come from the network's parameters: return your Module, whose "
                        "parameters() your SGD trained, not a model that looks answers up in the data"),
       example="the largest logit change from one image to the next, with every parameter set to 0")
### END HIDDEN TESTS

# %% [markdown]
# ## Part 7. Throughput
#
# Accuracy says how good a model is; **throughput** says how fast you get there: the number
# of training samples processed per second (for images, "images/second" is the usual unit).
# It is what distributed training (Assignment 5) tries to multiply.
#
# Write `measure_throughput(step, batch_size, steps, warmup=2)`: call `step()` `warmup` times
# without timing (the first calls pay for memory allocation and caches), then time `steps`
# calls with `time.perf_counter()` and return the samples per second,
# `batch_size * steps / seconds`.

# %% [solution id=throughput]
def measure_throughput(step, batch_size, steps, warmup=2):
    """Samples per second of a training step that processes batch_size samples per call."""
    ### BEGIN SOLUTION
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch_size * steps / (time.perf_counter() - start)
    ### END SOLUTION

# %% [tests id=test_throughput points=2]
calls = []
with checking("measure_throughput"):
    rate = measure_throughput(lambda: (calls.append(1), time.sleep(0.01)), batch_size=50, steps=5, warmup=2)
expect_equal("number of step() calls for steps=5, warmup=2", len(calls), 7)
if not 2500 <= rate <= 5200:
    raise AssertionError(f"a step of 50 samples that takes about 0.01 s runs at about 5000 samples/s; got {rate:.0f}")
### BEGIN HIDDEN TESTS
import time as _time

from gradkit_autograder.kernel.channel import Check, Rule, report

_calls = []
_rate = measure_throughput(lambda: (_calls.append(1), _time.sleep(0.02)), batch_size=8, steps=4, warmup=1)
_example = "a step of 8 samples that takes 0.02 s, steps=4, warmup=1"
report("throughput_calls", len(_calls), example=_example, check=Check(
    "measure_throughput", "counts of step() calls",
    hint="call step() warmup times without timing, then steps more times under the clock"))
# 32 samples in 4 x 0.02 s: at most 400/s
report("throughput_rate", _rate, rule=Rule.bounds(150.0, 410.0),
       example="samples per second of " + _example, check=Check(
    "measure_throughput", "measured rates",
    hint="time only the `steps` calls after the warm-up, with time.perf_counter(), and return samples per "
         "second: batch_size * steps / seconds"))
### END HIDDEN TESTS

# %% [code]
sizes = [1, 8, 32, 128, 512]
rates = []
with checking("measure_throughput and train_epoch"):
    for batch_size in sizes:
        model = digits_mlp(0, hidden=128)
        optimizer = SGD(model.parameters(), lr=0.01)
        batch = np.arange(batch_size) % len(X_digits)

        def one_step():
            loss = cross_entropy(model(Tensor(X_digits[batch])), y_digits[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        rates.append(measure_throughput(one_step, batch_size, steps=max(5, 2048 // batch_size)))
for batch_size, rate in zip(sizes, rates):
    print(f"batch {batch_size:4d}: {rate:10,.0f} samples/s")
fig, ax = plt.subplots()
ax.loglog(sizes, rates, "o-")
ax.set_xlabel("batch size")
ax.set_ylabel("training samples / second")
ax.set_title("throughput of one training step (MLP 64-128-10)")
plt.show()

# %% [markdown]
# Throughput grows almost linearly with the batch size while the fixed cost of each step
# (Python, launching each operation) dominates, then levels off once the arithmetic does.
# That is the trade-off of Part 5 in numbers: larger batches use the hardware better, but
# take fewer steps per epoch. Assignment 4 moves this MLP to PyTorch (and a GPU, where one
# exists), and Assignment 5 spreads the batch over several workers.
