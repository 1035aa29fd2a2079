"""Source of assignments/a1_gradients/a1_gradients.ipynb (built by assignments/tools/build_notebooks.py).

Assignment 1, "Gradients three ways": numerical, forward mode, reverse mode.
Lectures 002 (analytic gradients, computational graphs, forward vs reverse mode),
000 (numerical differentiation, dual numbers, the sigmoid-neuron backprop example)
and 001 (gradient descent needs gradients).
"""

# %% [markdown]
# # Assignment 1: Gradients three ways
#
# Training a network means following the slope of a loss downhill, so everything in
# this course starts with a gradient. There are three ways to get one:
#
# 1. **numerically**, by nudging each input a little (finite differences): slow and
#    approximate, but easy to write, so it is the tool that *checks* the others;
# 2. **by hand**, deriving the formula (analytic gradients), here for logistic
#    regression; fast and exact, but error-prone, so we check it numerically;
# 3. **automatically**, by running the chain rule over the computational graph of
#    the program, either forwards (dual numbers) or backwards (reverse mode, which
#    is backpropagation).
#
# You will write each of them from scratch in plain Python and NumPy, reproduce the
# worked examples from the lectures, and end by counting how many passes each mode
# needs for a whole Jacobian.
#
# **How this notebook works.** Cells marked `# YOUR CODE HERE` are yours: replace the
# `raise NotImplementedError()` line with your code. The cell right after each one
# holds *visible tests*: run it, and if something is wrong it tells you what it
# expected and what came back, on a small input. When you submit, *hidden tests*
# run as well: they run your code on fresh random inputs and the grader compares the
# results with those of the reference solution. Write each piece yourself: the
# `gradkit` modules that implement what this notebook asks for (numerical gradients,
# dual numbers, `Value`, Jacobians) raise an error when used while grading, and a cell
# that uses them scores zero. Before submitting, restart the kernel and run all cells
# (*Kernel → Restart Kernel and Run All Cells*), then press *Validate*.
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
# ## Part 1. Numerical gradients: finite differences
#
# The derivative is the limit of a slope, $f'(x) = \lim_{h\to 0} \frac{f(x+h)-f(x)}{h}$.
# A computer cannot take the limit, but it can pick a small $h$:
#
# * the **forward difference** $\frac{f(x+h)-f(x)}{h}$, the slope of the secant through
#   $(x, f(x))$ and $(x+h, f(x+h))$;
# * the **central difference** $\frac{f(x+h)-f(x-h)}{2h}$, the slope of the secant
#   through two points on either side of $x$.
#
# Taylor's series says how far off each one is. From
# $f(x\pm h) = f(x) \pm h f'(x) + \frac{h^2}{2} f''(x) \pm \frac{h^3}{6} f'''(x) + \dots$
# the forward difference is $f'(x) + \frac{h}{2}f''(x) + \dots$ (an error of order $h$)
# while in the central difference the $h^2$ terms cancel, leaving $f'(x) + \frac{h^2}{6}f'''(x)$
# (order $h^2$). This is the **truncation error**: it shrinks as $h$ shrinks.
#
# Write both. `f` is a Python function of one float that returns a float.

# %% [solution id=forward_difference]
def forward_difference(f, x, h):
    """Estimate f'(x) by the forward difference (f(x + h) - f(x)) / h.

    f: a function float -> float; x: a float; h: the step, a float > 0.
    Returns a float.
    """
    ### BEGIN SOLUTION
    return (f(x + h) - f(x)) / h
    ### END SOLUTION

# %% [tests id=test_forward_difference points=2]
with checking("forward_difference"):
    got = forward_difference(lambda x: x**2, 3.0, 0.5)
# (3.5**2 - 3**2) / 0.5 = 6.5: the true slope 6 plus the truncation error h * f''/2 = 0.5.
expect_close("forward_difference(x**2, x=3.0, h=0.5)", got, 6.5)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_check = Check("forward_difference", "random cubic-plus-sine functions f at random points x and steps h",
               hint="the forward difference is the slope of the secant through $(x, f(x))$ and $(x+h, f(x+h))$: "
                    "which two points do you evaluate f at, and what do you divide by?")
_rng = grading_rng("test_forward_difference")
_estimates = []
for _ in range(20):
    _a, _b, _c = _rng.normal(size=3)
    _f = lambda t: _a * t**3 + _b * math.sin(t) + _c
    _x, _h = float(_rng.uniform(-2, 2)), float(10 ** _rng.uniform(-6, -1))
    _estimates.append(forward_difference(_f, _x, _h))
report("forward_difference_random", _estimates, rtol=1e-6, atol=1e-8, check=_check)
### END HIDDEN TESTS

# %% [solution id=central_difference]
def central_difference(f, x, h):
    """Estimate f'(x) by the central difference (f(x + h) - f(x - h)) / (2 h).

    f: a function float -> float; x: a float; h: the step, a float > 0.
    Returns a float.
    """
    ### BEGIN SOLUTION
    return (f(x + h) - f(x - h)) / (2 * h)
    ### END SOLUTION

# %% [tests id=test_central_difference points=2]
with checking("central_difference"):
    got = central_difference(lambda x: x**2, 3.0, 0.5)
# (3.5**2 - 2.5**2) / 1.0 = 6.0: for a parabola the central difference is exact.
expect_close("central_difference(x**2, x=3.0, h=0.5)", got, 6.0)
with checking("central_difference"):
    got = central_difference(lambda x: x**3, 1.0, 0.1)
# (1.1**3 - 0.9**3) / 0.2 = 3.01: the true slope 3 plus h**2 * f'''/6 = 0.01.
expect_close("central_difference(x**3, x=1.0, h=0.1)", got, 3.01)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_check = Check("central_difference", "random cubic-plus-sine functions f at random points x and steps h",
               hint="the central difference is the slope of the secant through $x-h$ and $x+h$: "
                    "those two points are 2h apart, so that is the run to divide by")
_rng = grading_rng("test_central_difference")
_estimates = []
for _ in range(20):
    _a, _b, _c = _rng.normal(size=3)
    _f = lambda t: _a * t**3 + _b * math.sin(t) + _c
    _x, _h = float(_rng.uniform(-2, 2)), float(10 ** _rng.uniform(-6, -1))
    _estimates.append(central_difference(_f, _x, _h))
report("central_difference_random", _estimates, rtol=1e-6, atol=1e-8, check=_check)
### END HIDDEN TESTS

# %% [markdown]
# ### Error against step size: truncation versus rounding
#
# If smaller $h$ is always better, why not take $h = 10^{-15}$? Because the computer
# stores $f(x+h)$ and $f(x)$ with a relative **rounding error** of about
# $\varepsilon \approx 2.2\times10^{-16}$ (machine epsilon of float64). When $h$ is tiny the
# two values agree in almost all their digits; subtracting them cancels those digits
# and leaves an absolute error of about $\varepsilon |f(x)|$, which the division by $h$
# blows up to $\varepsilon |f(x)| / h$.
#
# So the total error is roughly $\frac{h}{2}|f''| + \frac{\varepsilon|f|}{h}$ for the forward
# difference and $\frac{h^2}{6}|f'''| + \frac{\varepsilon|f|}{h}$ for the central one. The plot
# below measures it for $f(x) = \sin x$ at $x = 1$, whose derivative $\cos 1$ we know
# exactly. On log-log axes a power law is a straight line: slope $+1$ (forward) and
# $+2$ (central) on the right, where truncation dominates, and slope $-1$ on the left,
# where rounding does.

# %% [code]
x0 = 1.0
exact_slope = math.cos(x0)
steps = np.logspace(-16, 0, 129)
with checking("forward_difference and central_difference"):
    forward_errors = np.array([abs(forward_difference(math.sin, x0, h) - exact_slope) for h in steps])
    central_errors = np.array([abs(central_difference(math.sin, x0, h) - exact_slope) for h in steps])

# Zero errors (an exact hit by luck) cannot be drawn on a log axis: floor them.
tiny = 1e-18
fig, ax = plt.subplots()
ax.loglog(steps, np.maximum(forward_errors, tiny), ".-", label="forward difference")
ax.loglog(steps, np.maximum(central_errors, tiny), ".-", label="central difference")
eps = np.finfo(float).eps
ax.loglog(steps, eps / steps, "k:", label=r"rounding $\varepsilon/h$")
ax.loglog(steps, steps / 2 * math.sin(x0), "C0--", alpha=0.6, label=r"truncation $h|f''|/2$")
ax.loglog(steps, steps**2 / 6 * math.cos(x0), "C1--", alpha=0.6, label=r"truncation $h^2|f'''|/6$")
ax.set_ylim(1e-13, 10)
ax.set_xlabel("step size h")
ax.set_ylabel("|estimate - exact derivative|")
ax.set_title("Finite-difference error for sin'(1)")
ax.legend(fontsize=8)
plt.show()
print(f"best h, forward difference: {steps[np.argmin(forward_errors)]:.1e} (error {forward_errors.min():.1e})")
print(f"best h, central difference: {steps[np.argmin(central_errors)]:.1e} (error {central_errors.min():.1e})")

# %% [markdown]
# The best step balances the two errors. Ignoring the constants ($|f|$, $|f''|$, $|f'''|$,
# the 2 and the 6, all of order one here), set the truncation term equal to the
# rounding term $\varepsilon/h$ and solve for $h$:
# forward, $h = \varepsilon/h$; central, $h^2 = \varepsilon/h$.
#
# Write `optimal_step(method)` returning that $h$ for `method="forward"` or `"central"`
# (use `eps = np.finfo(float).eps`), and raising a `ValueError` that names the method
# for any other name. Compare with the minima in your plot: a central difference
# with $h\approx10^{-6}$ (the value the lecture recommends) is about a thousand times more
# accurate than the best forward difference.

# %% [solution id=optimal_step]
def optimal_step(method):
    """The step h that balances truncation and rounding error (constants ignored).

    method: "forward" or "central". Returns a float; raises ValueError otherwise.
    """
    ### BEGIN SOLUTION
    eps = np.finfo(float).eps
    if method == "forward":
        return math.sqrt(eps)
    if method == "central":
        return eps ** (1.0 / 3.0)
    raise ValueError(f"optimal_step: method must be 'forward' or 'central', got {method!r}")
    ### END SOLUTION

# %% [tests id=test_optimal_step points=2]
with checking("optimal_step"):
    h_forward, h_central = optimal_step("forward"), optimal_step("central")
expect_close("optimal_step('forward')", h_forward, 1.4901161193847656e-08, rtol=1e-3)  # sqrt(2.2e-16)
expect_close("optimal_step('central')", h_central, 6.055454452393343e-06, rtol=1e-3)  # cube root of 2.2e-16
try:
    optimal_step("backward")
except ValueError:
    pass
else:
    raise AssertionError("optimal_step('backward') should raise ValueError")
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report

report("optimal_step", [optimal_step("forward"), optimal_step("central")], rtol=1e-9,
       check=Check("optimal_step", "steps h for the methods 'forward' and 'central'",
                   hint="set the truncation term ($h$ for forward, $h^2$ for central) equal to the rounding term "
                        "$\\varepsilon/h$ and solve for $h$, with $\\varepsilon$ the machine epsilon of float64"))
try:
    optimal_step("sideways")
    _raised = 0.0
except ValueError:
    _raised = 1.0
report("optimal_step_rejects_unknown_method", _raised,
       check=Check("optimal_step", "calls with an unknown method name",
                   hint="any method other than 'forward' or 'central' must raise a ValueError that names it"))
### END HIDDEN TESTS

# %% [markdown]
# ### The gradient of a function of many inputs
#
# For $f:\mathbb{R}^n\to\mathbb{R}$ the gradient has one entry per input, so the numerical
# gradient nudges one entry at a time, exactly like the lecture's example that nudges
# the first weight of `W` by 0.0001 and watches the loss change. With central
# differences that costs $2n$ evaluations of $f$: fine for checking, hopeless for
# training a network with millions of weights.
#
# Write `numerical_gradient(f, x, h)`: `x` is a float NumPy array of **any shape**, `f`
# returns a float, and the result has the shape of `x`. Use central differences. Do
# not change the caller's `x` (work on a copy).

# %% [solution id=numerical_gradient]
def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of a scalar function f at the array x.

    f: a function array -> float; x: a float array of any shape; h: the step.
    Returns a float array of x's shape; x itself is left unchanged.
    """
    ### BEGIN SOLUTION
    x = np.array(x, dtype=float)  # a copy we may nudge
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        f_plus = f(x)
        x[index] = original - h
        f_minus = f(x)
        x[index] = original
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad
    ### END SOLUTION

# %% [tests id=test_numerical_gradient points=3]
x_small = np.array([1.0, -2.0, 0.5])
with checking("numerical_gradient"):
    got = numerical_gradient(lambda v: np.sum(v**2), x_small)
expect_close("numerical_gradient of sum(x**2) at [1, -2, 0.5]", got, [2.0, -4.0, 1.0], rtol=1e-6)
expect_close("x after numerical_gradient (it must not change)", x_small, [1.0, -2.0, 0.5])
with checking("numerical_gradient"):
    got = numerical_gradient(lambda m: m[0, 1] * m[1, 0], np.array([[1.0, 2.0], [3.0, 4.0]]))
expect_close("numerical_gradient of m[0,1]*m[1,0] for a 2x2 m", got, [[0.0, 3.0], [2.0, 0.0]], atol=1e-6)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_gradient = Check("numerical_gradient", "random functions of arrays of shapes (1,), (4,), (3, 2) and (2, 3, 2)",
                  hint="nudge one entry at a time by $+h$ and $-h$ (central differences), visit every index of an "
                       "array of any shape, and return an array of x's shape")
_unchanged = Check("numerical_gradient", "caller's arrays x after the call",
                   hint="the caller's x must be left unchanged: work on a copy, or put each nudged entry back")
_rng = grading_rng("test_numerical_gradient")
for _k, _shape in enumerate([(1,), (4,), (3, 2), (2, 3, 2)]):
    _x = _rng.normal(size=_shape)
    _w = _rng.normal(size=_shape)
    _f = lambda v: float(np.sum(np.sin(v) * _w) + np.sum(v) ** 2)
    _got = numerical_gradient(_f, _x, 1e-6)
    report(f"numerical_gradient_{_k}", _got, rtol=1e-6, atol=1e-8, check=_gradient,
           example=f"x of shape {_shape}")
    report(f"numerical_gradient_x_after_{_k}", _x, rtol=0, atol=0,  # the caller's x must be unchanged
           check=_unchanged, example=f"x of shape {_shape}")
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2. Analytic gradients: logistic regression
#
# Logistic regression predicts the probability that an example $x\in\mathbb{R}^D$ has
# label $y = 1$ as $p = \sigma(z)$ with $z = w\cdot x + b$ and $\sigma(z) = 1/(1+e^{-z})$.
# For $N$ examples (the rows of $X$) the loss is the mean negative log-likelihood
#
# $$L(w, b) = -\frac1N\sum_i \big[y_i\log p_i + (1-y_i)\log(1-p_i)\big].$$
#
# Two facts make this easy to differentiate: $\sigma'(z) = \sigma(z)(1-\sigma(z))$, and with it
# the whole per-example loss has $\partial L_i/\partial z_i = p_i - y_i$ (work it out!). The
# chain rule through $z_i = w\cdot x_i + b$ then gives
#
# $$\frac{\partial L}{\partial w} = \frac1N X^\top(p - y), \qquad \frac{\partial L}{\partial b} = \frac1N\sum_i (p_i - y_i).$$
#
# **Computing the loss safely.** $\log\sigma(z)$ is $-\infty$ in floating point once
# $\sigma(z)$ rounds to 0 (for $z < -745$). Rewrite the per-example loss in terms of $z$:
# $-y\log\sigma(z) - (1-y)\log(1-\sigma(z)) = \log(1+e^{z}) - y z$, and compute
# $\log(1+e^{z})$ with `np.logaddexp(0, z)`, which never overflows.

# %% [locked id=sigmoid_helper]
def sigmoid(z):
    """The logistic function 1 / (1 + exp(-z)), element-wise, without overflow warnings."""
    z = np.asarray(z, dtype=float)
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

# %% [markdown]
# Write the loss and its gradient. Shapes: `X` is `(N, D)`, `y` is `(N,)` with entries
# 0 or 1, `w` is `(D,)`, `b` is a float. Use NumPy on whole arrays, no Python loop over
# examples.

# %% [solution id=logistic_loss]
def logistic_loss(w, b, X, y):
    """Mean logistic-regression loss (negative log-likelihood), finite for any w and b.

    w: (D,), b: float, X: (N, D), y: (N,) of 0/1. Returns a float.
    """
    ### BEGIN SOLUTION
    z = X @ w + b
    return float(np.mean(np.logaddexp(0.0, z) - y * z))
    ### END SOLUTION

# %% [tests id=test_logistic_loss points=3]
X_tiny = np.array([[1.0, 2.0], [3.0, -1.0]])
y_tiny = np.array([1.0, 0.0])
with checking("logistic_loss"):
    got = logistic_loss(np.zeros(2), 0.0, X_tiny, y_tiny)
# With w = 0 and b = 0 every p is 1/2, so the loss is log 2 = 0.6931...
expect_close("logistic_loss with w=0, b=0", got, math.log(2))
with checking("logistic_loss"):
    got = logistic_loss(np.array([1000.0, 0.0]), 0.0, X_tiny, y_tiny)
# z = [1000, 3000], y = [1, 0]: the first example costs ~0, the second ~3000.
expect_close("logistic_loss with huge z (must be finite)", got, 1500.0, rtol=1e-9)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_check = Check("logistic_loss", "random data sets, weights and biases (one with huge logits z)",
               hint="the loss is the mean over the examples, and it must stay finite for huge $|z|$: "
                    "rewrite it in terms of $z$ and compute $\\log(1+e^{z})$ with np.logaddexp (see 'Computing the loss safely')")
_rng = grading_rng("test_logistic_loss")
for _n, _d, _scale in [(1, 1, 1.0), (7, 3, 1.0), (20, 5, 300.0)]:
    _X, _w = _rng.normal(size=(_n, _d)), _scale * _rng.normal(size=_d)
    _b, _y = float(_rng.normal()), _rng.integers(0, 2, size=_n).astype(float)
    report(f"logistic_loss_{_n}x{_d}", logistic_loss(_w, _b, _X, _y), rtol=1e-9, check=_check,
           example=f"N = {_n} examples, D = {_d} features" + (", weights of size about 300" if _scale > 1 else ""))
### END HIDDEN TESTS

# %% [solution id=logistic_gradients]
def logistic_gradients(w, b, X, y):
    """Gradient of logistic_loss with respect to w and b, from the formulas above.

    w: (D,), b: float, X: (N, D), y: (N,) of 0/1.
    Returns (dw, db): dw of shape (D,) and db a float.
    """
    ### BEGIN SOLUTION
    residual = sigmoid(X @ w + b) - y  # dL_i/dz_i = p_i - y_i
    n = X.shape[0]
    return X.T @ residual / n, float(residual.sum() / n)
    ### END SOLUTION

# %% [tests id=test_logistic_gradients points=4]
with checking("logistic_gradients"):
    dw, db = logistic_gradients(np.zeros(2), 0.0, X_tiny, y_tiny)
# p - y = [0.5 - 1, 0.5 - 0] = [-0.5, 0.5]; X^T (p - y) / 2 = [1.0, -1.5] / 2
expect_close("dw with w=0, b=0", dw, [0.5, -0.75])
expect_close("db with w=0, b=0", db, 0.0)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_check = Check("logistic_gradients", "gradients (dw and db) on random data sets",
               hint="the loss is a mean over the N examples, so both gradients are averaged over them too (divide by "
                    "N); by the chain rule through $z_i = w\\cdot x_i + b$ example i contributes $(p_i - y_i)\\,x_i$ "
                    "to dw and $p_i - y_i$ to db")
_rng = grading_rng("test_logistic_gradients")
for _n, _d in [(1, 1), (9, 4), (30, 6)]:
    _X, _w0 = _rng.normal(size=(_n, _d)), _rng.normal(size=_d)
    _b0, _y = float(_rng.normal()), _rng.integers(0, 2, size=_n).astype(float)
    _dw, _db = logistic_gradients(_w0, _b0, _X, _y)
    report(f"logistic_dw_{_n}x{_d}", _dw, rtol=1e-8, atol=1e-12, check=_check,
           example=f"N = {_n} examples, D = {_d} features")
    report(f"logistic_db_{_n}x{_d}", _db, rtol=1e-8, atol=1e-12, check=_check,
           example=f"N = {_n} examples, D = {_d} features")
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3. A gradient check that finds a planted bug
#
# Analytic gradients are fast and exact, and easy to get wrong. The standard habit is
# a **gradient check**: compare the analytic gradient with the numerical one at a random
# point. The lecture's summary: *numerical gradient: slow, approximate, easy to write;
# analytic gradient: fast, exact, error-prone; in practice, derive the analytic
# gradient and check it numerically.*
#
# Comparing needs a yardstick. An absolute difference of $10^{-6}$ is large for a
# gradient of size $10^{-5}$ and tiny for one of size $10^{3}$, so measure each entry
# relative to its size, but never divide by less than 1 (entries near zero are then
# compared absolutely):
#
# $$\text{error}_j = \frac{|a_j - n_j|}{\max(1, |a_j|, |n_j|)},$$
#
# where $a$ is the analytic and $n$ the numerical gradient. With central differences
# and $h = 10^{-6}$ a correct gradient gives errors around $10^{-9}$; a bug gives
# errors near 1.
#
# Write `gradient_check(f, grad_f, x, h)` that returns the largest error and the index
# (a tuple, as `np.unravel_index` gives) where it occurs. Use your `numerical_gradient`.

# %% [solution id=gradient_check]
def gradient_check(f, grad_f, x, h=1e-6):
    """Compare grad_f(x) with the central-difference gradient of f at x.

    f: array -> float; grad_f: array -> array of x's shape; x: a float array.
    Returns (max_error, worst_index): the largest |a - n| / max(1, |a|, |n|)
    over the entries, and the index tuple of that entry.
    """
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=float)
    analytic = np.asarray(grad_f(x.copy()), dtype=float)
    numeric = numerical_gradient(f, x, h)
    if analytic.shape != x.shape:
        raise ValueError(f"gradient_check: grad_f returned shape {analytic.shape}, expected {x.shape}")
    errors = np.abs(analytic - numeric) / np.maximum(1.0, np.maximum(np.abs(analytic), np.abs(numeric)))
    worst = np.unravel_index(np.argmax(errors), errors.shape)
    return float(errors[worst]), tuple(int(i) for i in worst)
    ### END SOLUTION

# %% [tests id=test_gradient_check points=4]
def square_sum(v):
    return float(np.sum(v**2))

with checking("gradient_check"):
    error, where = gradient_check(square_sum, lambda v: 2 * v, np.array([1.0, 2.0, 3.0]))
if not error < 1e-6:
    raise AssertionError(f"gradient_check on a correct gradient: expected an error below 1e-6, got {error}")
with checking("gradient_check"):
    error, where = gradient_check(square_sum, lambda v: 2 * v * np.array([1.0, 1.0, 0.5]), np.array([1.0, 2.0, 3.0]))
# The wrong gradient is [2, 4, 3] instead of [2, 4, 6]: error |3 - 6| / 6 = 0.5 at entry 2.
expect_close("gradient_check error for a gradient halved at entry 2", error, 0.5, rtol=1e-5)
expect_equal("gradient_check worst index", tuple(where), (2,))
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_correct = Check("gradient_check", "correct gradients of random functions (the error must be below 1e-6)",
                 hint="a correct gradient gives a tiny error: compare with your central-difference numerical_gradient "
                      "and never divide by less than 1")
_buggy = Check("gradient_check", "gradients with a sign error planted in one entry (largest error and its index)",
               hint="the error of entry j is $|a_j - n_j| / \\max(1, |a_j|, |n_j|)$ with n from your numerical_gradient; "
                    "return the largest one and its index tuple, as np.unravel_index gives it for any shape")
_rng = grading_rng("test_gradient_check")
for _shape in [(5,), (3, 4)]:
    _A = _rng.normal(size=_shape)
    _f = lambda v: float(np.sum(_A * np.sin(v)))
    _g = lambda v: _A * np.cos(v)
    _x = _rng.normal(size=_shape)
    _err, _ = gradient_check(_f, _g, _x)
    report(f"gradient_check_correct_{len(_shape)}d", float(_err < 1e-6), check=_correct,
           example=f"x of shape {_shape}")
    _bad = tuple(int(i) for i in np.unravel_index(_rng.integers(_A.size), _shape))
    _mask = np.ones(_shape)
    _mask[_bad] = -1.0  # a sign error in one entry
    _A[_bad] = 3.0  # make that entry's gradient clearly non-zero
    _x[_bad] = 0.1
    _err, _where = gradient_check(_f, lambda v: _g(v) * _mask, _x)
    report(f"gradient_check_bug_{len(_shape)}d", [_err, *_where], rtol=1e-4, check=_buggy,
           example=f"x of shape {_shape}")
### END HIDDEN TESTS

# %% [markdown]
# ### Find the planted bug
#
# Below is logistic regression with an L2 penalty $\frac{\lambda}{2}\|w\|^2$ on the weights
# (*not* on the bias), with $w$ and $b$ packed into one vector `theta = [w..., b]`. Its
# gradient function has a bug planted in it. Run your gradient check on it, then set
# `planted_bug_index` to the index (an `int`) of the entry of `theta` whose gradient is
# wrong. Read the code afterwards: can you see the bug?

# %% [locked id=planted_bug_code]
penalty = 0.5
rng = np.random.default_rng(0)
X_check = rng.normal(size=(40, 5))
y_check = (X_check[:, 0] - X_check[:, 2] > 0).astype(float)


def penalised_loss(theta):
    """Logistic loss plus penalty/2 * |w|^2, for theta = [w, b]."""
    z = X_check @ theta[:-1] + theta[-1]
    return float(np.mean(np.logaddexp(0.0, z) - y_check * z)) + 0.5 * penalty * np.sum(theta[:-1] ** 2)


def penalised_gradient(theta):
    """The gradient of penalised_loss (with a planted bug)."""
    residual = sigmoid(X_check @ theta[:-1] + theta[-1]) - y_check
    grad = np.append(X_check.T @ residual, residual.sum()) / len(y_check)
    return grad + penalty * theta

# %% [solution id=planted_bug]
theta_check = np.random.default_rng(1).normal(size=6)
with checking("gradient_check"):
    error, where = gradient_check(penalised_loss, penalised_gradient, theta_check)
print(f"largest error {error:.3g} at index {where}")
### BEGIN SOLUTION
planted_bug_index = int(where[0])
### END SOLUTION

# %% [tests id=test_planted_bug points=2]
with checking("planted_bug_index"):
    answer = planted_bug_index
if not isinstance(answer, (int, np.integer)) or not 0 <= answer < 6:
    raise AssertionError(f"planted_bug_index: expected an int from 0 to 5 (an index into theta), got {answer!r}")
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report

report("planted_bug_index", planted_bug_index,
       check=Check("planted_bug_index", "answers for the index of theta whose gradient is wrong",
                   hint="run your gradient_check on penalised_loss and penalised_gradient and take the index "
                        "where the error is largest; then read the gradient code to see why that entry is wrong"))
### END HIDDEN TESTS

# %% [markdown]
# ## Part 4. The computational graph of $f(x_1, x_2) = x_1 x_2 + \sin x_1$
#
# A program that computes a number is a **directed acyclic graph** (DAG): one node per
# input or operation, an edge from each value to every operation that uses it. For
# the lecture's example we name the intermediate values
#
# $$a = x_1 x_2, \qquad b = \sin x_1, \qquad f = a + b,$$
#
# and store the graph as a dictionary from each node to the nodes it is computed from.
# Note that $x_1$ feeds two operations: the graph is not a tree.
#
# To evaluate the graph, a node can run only after all its inputs: that is a
# **topological order**, and it is the schedule that every autodiff system follows
# (forward for values, reversed for gradients). There are usually several valid orders;
# to make the answer unique, among the nodes that are ready at any moment always take
# the one with the smallest name first.
#
# Write `topological_order(graph)` with Kahn's algorithm: count, for each node, its
# inputs not yet placed; keep the ready nodes (count zero) in a heap (`heapq`); pop the
# smallest, place it, and decrement the counts of the nodes that use it. If nodes are
# left over, they lie on a cycle: raise a `ValueError` that names them. Raise a
# `ValueError` too if a node lists an input that is not a key of the dictionary.

# %% [locked id=example_graph]
example_graph = {
    "x1": (),
    "x2": (),
    "a": ("x1", "x2"),  # a = x1 * x2
    "b": ("x1",),  # b = sin(x1)
    "f": ("a", "b"),  # f = a + b
}

# %% [solution id=topological_order]
import heapq


def topological_order(graph):
    """All nodes of a DAG, each after its inputs; ties go to the smallest name.

    graph: dict mapping node name (str) -> tuple of input node names.
    Returns a list of node names. Raises ValueError on a cycle or an unknown input.
    """
    ### BEGIN SOLUTION
    users = {node: [] for node in graph}
    waiting = {}
    for node, inputs in graph.items():
        for source in inputs:
            if source not in graph:
                raise ValueError(f"topological_order: node {node!r} uses {source!r}, which is not in the graph")
            users[source].append(node)
        waiting[node] = len(inputs)
    ready = [node for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for user in users[node]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(order) < len(graph):
        stuck = sorted(node for node in graph if waiting[node] > 0)
        raise ValueError(f"topological_order: the graph has a cycle through {stuck}")
    return order
    ### END SOLUTION

# %% [tests id=test_topological_order points=4]
with checking("topological_order"):
    got = topological_order(example_graph)
expect_equal("topological_order(example_graph)", list(got), ["x1", "b", "x2", "a", "f"])
try:
    topological_order({"p": ("q",), "q": ("p",), "r": ()})
except ValueError as err:
    print("a cycle is reported:", err)
else:
    raise AssertionError("topological_order on a graph with the cycle p -> q -> p should raise ValueError")
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_orders = Check("topological_order", "random DAGs of 1, 6 and 25 nodes",
                hint="Kahn's algorithm: keep the ready nodes in a heap and always take the smallest ready name "
                     "next, so that ties are broken the same way every time")
_invalid = Check("topological_order", "invalid graphs (one with a cycle, one with an unknown input)",
                 hint="nodes left over at the end lie on a cycle, and an input that is not a key of the "
                      "dictionary is an error too: raise a ValueError in both cases")
_rng = grading_rng("test_topological_order")
for _n in (1, 6, 25):
    _names = [f"n{int(i):03d}" for i in _rng.permutation(_n)]
    _graph = {}
    for _k, _name in enumerate(_names):
        _count = int(_rng.integers(0, min(_k, 3) + 1))
        _graph[_name] = tuple(str(s) for s in _rng.choice(_names[:_k], size=_count, replace=False)) if _count else ()
    _got = list(topological_order(dict(_graph)))
    # Each node as its rank in sorted order (-1 for a name that is not in the graph).
    report(f"topological_order_{_n}", [sorted(_graph).index(v) if v in _graph else -1 for v in _got],
           check=_orders, example=f"a random DAG of {_n} node{'s' if _n > 1 else ''} named like 'n007'")
for _k, _bad in enumerate(({"a": ("b",), "b": ("c",), "c": ("a",)}, {"a": ("zz",)})):
    try:
        topological_order(_bad)
        _raised = 0.0
    except ValueError:
        _raised = 1.0
    report(f"topological_order_rejects_{_k}", _raised, check=_invalid,  # a cycle, then an unknown input
           example=str(_bad))
### END HIDDEN TESTS

# %% [markdown]
# Running the graph in that order is the **forward pass**. Next to each value we can also
# carry its derivative with respect to $x_1$ (the *tangent*, forward mode: inputs first),
# or, after the forward pass, walk the order backwards carrying $\partial f/\partial(\text{node})$
# (the *adjoint*, reverse mode: output first). Each operation needs only its local
# derivatives; the chain rule does the rest. The cell below runs all three sweeps on
# the example at $x_1 = 2$, $x_2 = 3$ and draws the graph with the library's plotting
# helper: check that $\partial f/\partial x_1 = x_2 + \cos x_1$ and $\partial f/\partial x_2 = x_1$.

# %% [code]
# For each operation: its value, and its partial derivatives with respect to its inputs.
local_rules = {
    "a": (lambda v: v["x1"] * v["x2"], lambda v: {"x1": v["x2"], "x2": v["x1"]}),
    "b": (lambda v: math.sin(v["x1"]), lambda v: {"x1": math.cos(v["x1"])}),
    "f": (lambda v: v["a"] + v["b"], lambda v: {"a": 1.0, "b": 1.0}),
}
values = {"x1": 2.0, "x2": 3.0}
tangents = {"x1": 1.0, "x2": 0.0}  # seed: differentiate with respect to x1
with checking("topological_order"):
    order = topological_order(example_graph)
for node in order:  # forward pass and forward-mode sweep together
    if node in local_rules:
        compute, partials = local_rules[node]
        values[node] = compute(values)
        tangents[node] = sum(d * tangents[src] for src, d in partials(values).items())
adjoints = {node: 0.0 for node in order}
adjoints["f"] = 1.0  # seed: df/df = 1
for node in reversed(order):  # reverse-mode sweep
    if node in local_rules:
        for src, d in local_rules[node][1](values).items():
            adjoints[src] += d * adjoints[node]
print(f"{'node':>5} {'value':>9} {'d/dx1 (forward)':>16} {'df/dnode (reverse)':>19}")
for node in order:
    print(f"{node:>5} {values[node]:9.4f} {tangents[node]:16.4f} {adjoints[node]:19.4f}")
print(f"check: x2 + cos(x1) = {3.0 + math.cos(2.0):.4f}, x1 = 2.0000")

# %% [code]
# The same graph drawn by the library's plotting helper (inputs on the left). The helper
# only reads each node's data, grad, op, label and children, so plain nodes made from
# the sweep above will do: each box shows the node's value and df/dnode.
import gradkit


class GraphNode:
    """Just what draw_graph reads: a label, data, grad, op and the input nodes."""

    def __init__(self, label, data, grad, op, children):
        self.label, self.data, self.grad, self.op, self.children = label, data, grad, op, tuple(children)


operation_names = {"a": "*", "b": "sin", "f": "+"}
graph_nodes = {}
with checking("topological_order"):  # the sweep above needs it
    for node in order:  # inputs come first, so every input node exists already
        graph_nodes[node] = GraphNode(node, values[node], adjoints[node], operation_names.get(node, ""),
                                      [graph_nodes[src] for src in example_graph[node]])
    display(gradkit.autodiff.draw_graph(graph_nodes["f"]))

# %% [markdown]
# ## Part 5. Forward mode with dual numbers
#
# A **dual number** is $a + b\epsilon$ with the rule $\epsilon^2 = 0$. Plug $x + \epsilon$ into
# Taylor's series: $f(x+\epsilon) = f(x) + f'(x)\epsilon + \frac{f''(x)}{2}\epsilon^2 + \dots = f(x) + f'(x)\epsilon$.
# So evaluating $f$ on dual numbers gives the value *and* the derivative in one pass.
# The lecture's example: $(x+\epsilon)^2 + 1 = x^2 + 2x\epsilon + \epsilon^2 + 1 = (x^2+1) + 2x\,\epsilon$,
# and $2x$ is indeed the derivative of $x^2+1$.
#
# The rules follow from $\epsilon^2=0$: $(a+b\epsilon) + (c+d\epsilon) = (a+c) + (b+d)\epsilon$ and
# $(a+b\epsilon)(c+d\epsilon) = ac + (ad+bc)\epsilon$ (the product rule!); for any smooth $g$,
# $g(a+b\epsilon) = g(a) + g'(a)\,b\,\epsilon$ (the chain rule).
#
# Complete the class `Dual` (scalars only): `value` is $a$, `tangent` is $b$. Every
# operation must accept a plain number on either side (`2 * d`, `d + 1`, `1 / d`),
# treating it as a constant (tangent 0). `**` takes a plain-number exponent. Then write
# `derivative(f, x)`, which returns $f'(x)$ from one evaluation of `f` on a dual number.

# %% [solution id=dual_class]
class Dual:
    """A dual number value + tangent * eps with eps**2 == 0; both parts are floats."""

    def __init__(self, value, tangent=0.0):
        self.value = float(value)
        self.tangent = float(tangent)

    def __repr__(self):
        return f"Dual({self.value!r}, {self.tangent!r})"

    @staticmethod
    def lift(other):
        """A plain number as a constant dual number; a Dual is returned unchanged."""
        ### BEGIN SOLUTION
        return other if isinstance(other, Dual) else Dual(other, 0.0)
        ### END SOLUTION

    def __add__(self, other):
        ### BEGIN SOLUTION
        other = Dual.lift(other)
        return Dual(self.value + other.value, self.tangent + other.tangent)
        ### END SOLUTION

    def __radd__(self, other):
        ### BEGIN SOLUTION
        return self + other
        ### END SOLUTION

    def __neg__(self):
        ### BEGIN SOLUTION
        return Dual(-self.value, -self.tangent)
        ### END SOLUTION

    def __sub__(self, other):
        ### BEGIN SOLUTION
        return self + (-Dual.lift(other))
        ### END SOLUTION

    def __rsub__(self, other):
        ### BEGIN SOLUTION
        return Dual.lift(other) + (-self)
        ### END SOLUTION

    def __mul__(self, other):
        ### BEGIN SOLUTION
        other = Dual.lift(other)
        return Dual(self.value * other.value, self.value * other.tangent + self.tangent * other.value)
        ### END SOLUTION

    def __rmul__(self, other):
        ### BEGIN SOLUTION
        return self * other
        ### END SOLUTION

    def __truediv__(self, other):
        ### BEGIN SOLUTION
        other = Dual.lift(other)
        quotient = self.value / other.value
        return Dual(quotient, (self.tangent - quotient * other.tangent) / other.value)
        ### END SOLUTION

    def __rtruediv__(self, other):
        ### BEGIN SOLUTION
        return Dual.lift(other) / self
        ### END SOLUTION

    def __pow__(self, exponent):
        """self ** exponent for a plain-number exponent."""
        ### BEGIN SOLUTION
        return Dual(self.value**exponent, exponent * self.value ** (exponent - 1) * self.tangent)
        ### END SOLUTION

    def exp(self):
        ### BEGIN SOLUTION
        e = math.exp(self.value)
        return Dual(e, e * self.tangent)
        ### END SOLUTION

    def log(self):
        ### BEGIN SOLUTION
        return Dual(math.log(self.value), self.tangent / self.value)
        ### END SOLUTION

    def sin(self):
        ### BEGIN SOLUTION
        return Dual(math.sin(self.value), math.cos(self.value) * self.tangent)
        ### END SOLUTION

    def cos(self):
        ### BEGIN SOLUTION
        return Dual(math.cos(self.value), -math.sin(self.value) * self.tangent)
        ### END SOLUTION

# %% [tests id=test_dual_class points=6]
with checking("Dual"):
    d = Dual(3.0, 1.0)
    expr = d * d + 1
expect_close("(x*x + 1) at x = 3 + eps: value", expr.value, 10.0)
expect_close("(x*x + 1) at x = 3 + eps: tangent (2x = 6)", expr.tangent, 6.0)
with checking("Dual"):
    checks = [
        ("2 - d", 2 - d, (-1.0, -1.0)),
        ("1 / d", 1 / d, (1 / 3, -1 / 9)),
        ("d / 2", d / 2, (1.5, 0.5)),
        ("d ** 3", d**3, (27.0, 27.0)),
        ("d.exp()", d.exp(), (math.exp(3), math.exp(3))),
        ("d.log()", d.log(), (math.log(3), 1 / 3)),
        ("d.sin()", d.sin(), (math.sin(3), math.cos(3))),
        ("d.cos()", d.cos(), (math.cos(3), -math.sin(3))),
    ]
for text, result, (value, tangent) in checks:
    if not isinstance(result, Dual):
        raise AssertionError(f"{text} with d = Dual(3, 1): expected a Dual, got {result!r}")
    expect_close(f"{text} with d = Dual(3, 1): (value, tangent)", (result.value, result.tangent), (value, tangent))
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

def _random_program(rng, n_inputs, n_steps):
    """A random straight-line program: (op, i, j, c) over a growing list of values."""
    ops = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sin", "cos", "rconst", "lconst"]
    return [(str(rng.choice(ops)), int(rng.integers(0, n_inputs + k)), int(rng.integers(0, n_inputs + k)),
             float(rng.uniform(-2, 2))) for k in range(n_steps)]

def _run_program(program, inputs):
    vals = list(inputs)
    for op, i, j, c in program:
        a, b = vals[i], vals[j]
        vals.append({
            "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
            "div": lambda: a / (b * b + 1.0), "neg": lambda: -a, "pow": lambda: (a * a + 0.5) ** c,
            "exp": lambda: a.sin().exp(), "log": lambda: (a * a + 1.0).log(), "sin": lambda: a.sin(),
            "cos": lambda: a.cos(), "rconst": lambda: c * a + (c - a) - c / (a * a + 2.0),
            "lconst": lambda: a * c + (a - c) + 1.0 / (a * a + 2.0),
        }[op]())
    return vals[-1]

# Random programs mixing every operation, reported first: their words stand for the whole test.
_programs = Check("Dual", "random programs mixing all operations of Dual",
                  hint="each operation has its own rule for the tangent: sum, product rule, quotient rule, power rule "
                       "or chain rule; a plain number is a constant")
_rng = grading_rng("test_dual_class")
_all_dual = True
for _trial in range(30):
    _prog = _random_program(_rng, 3, int(_rng.integers(1, 12)))
    _x = _rng.uniform(-1.5, 1.5, size=3)
    _seed = int(_rng.integers(0, 3))
    _mine = _run_program(_prog, [Dual(v, 1.0 if k == _seed else 0.0) for k, v in enumerate(_x)])
    _all_dual = _all_dual and isinstance(_mine, Dual)
    report(f"dual_program_{_trial}", [_mine.value, _mine.tangent], rtol=1e-9, atol=1e-12, check=_programs)
report("dual_programs_return_Dual", float(_all_dual),
       check=Check("Dual", "results of random programs that must be Dual numbers",
                   hint="every operation, also with a plain number on the left (2 * d, 1 - d, 1 / d), must return a Dual"))

# One family of operations at a time, so that a wrong rule is named.
_families = [
    ("sum", Check("Dual.__add__, __sub__, __neg__", "random sums and differences of dual numbers",
                  hint="tangents add and subtract like values: $(a+b\\epsilon) \\pm (c+d\\epsilon) = (a \\pm c) + (b \\pm d)\\epsilon$; "
                       "a plain number on either side is a constant with tangent 0"),
     [("u + v", lambda u, v, c: u + v), ("u - v", lambda u, v, c: u - v), ("-u", lambda u, v, c: -u),
      ("c + u", lambda u, v, c: c + u), ("u - c", lambda u, v, c: u - c), ("c - u", lambda u, v, c: c - u)]),
    ("product", Check("Dual.__mul__", "random products of dual numbers",
                      hint="the product rule: $(a+b\\epsilon)(c+d\\epsilon) = ac + (ad+bc)\\epsilon$; "
                           "a plain number on either side is a constant with tangent 0"),
     [("u * v", lambda u, v, c: u * v), ("c * u", lambda u, v, c: c * u), ("u * c", lambda u, v, c: u * c)]),
    ("quotient", Check("Dual.__truediv__", "random quotients of dual numbers",
                       hint="the quotient rule: $(u/v)' = (u'v - uv')/v^2$; mind the sign of the second term, "
                            "and a plain number on either side is a constant with tangent 0"),
     [("u / v", lambda u, v, c: u / v), ("u / c", lambda u, v, c: u / c), ("c / u", lambda u, v, c: c / u)]),
    ("power", Check("Dual.__pow__", "random powers u ** c of dual numbers with a plain-number exponent c",
                    hint="the power rule with the chain rule: the tangent of $u^c$ is $c\\,u^{c-1}$ times u's tangent"),
     [("u ** c", lambda u, v, c: u ** c)]),
    ("function", Check("Dual.exp, log, sin, cos", "random dual numbers u passed to exp, log, sin and cos",
                       hint="the chain rule: $g(a+b\\epsilon) = g(a) + g'(a)\\,b\\,\\epsilon$, "
                            "with $g'$ equal to $e^a$, $1/a$, $\\cos a$ and $-\\sin a$ in turn"),
     [("u.exp()", lambda u, v, c: u.exp()), ("u.log()", lambda u, v, c: u.log()),
      ("u.sin()", lambda u, v, c: u.sin()), ("u.cos()", lambda u, v, c: u.cos())]),
]
_rng = grading_rng("test_dual_class_rules")
for _family, _check, _forms in _families:
    for _k in range(max(6, 2 * len(_forms))):
        _text, _form = _forms[_k % len(_forms)]
        _uv = _rng.uniform(0.5, 2.0, size=2) * _rng.choice([-1.0, 1.0], size=2)
        _ut, _vt = _rng.normal(size=2)
        _c = float(_rng.uniform(0.5, 2.0) * _rng.choice([-1.0, 1.0]))
        if _text in ("u ** c", "u.log()"):  # only for positive u
            _uv[0] = abs(_uv[0])
        _mine = _form(Dual(_uv[0], _ut), Dual(_uv[1], _vt), _c)
        report(f"dual_rule_{_family}_{_k}", [_mine.value, _mine.tangent], rtol=1e-9, atol=1e-12, check=_check,
               example=f"{_text} with u = Dual({_uv[0]:.2f}, {_ut:.2f}), v = Dual({_uv[1]:.2f}, {_vt:.2f}), c = {_c:.2f}")
report("dual_written_in_notebook", float(Dual.__module__ == "__main__"),
       check=Check("Dual", "checks that Dual is the class defined in this notebook",
                   hint="define the class Dual in this notebook yourself; a Dual taken from a library does not count"))
### END HIDDEN TESTS

# %% [solution id=derivative]
def derivative(f, x):
    """f'(x) for a function f of one number, by ONE evaluation of f on a dual number.

    f: a function that works on Dual (and returns a Dual); x: a float. Returns a float.
    """
    ### BEGIN SOLUTION
    return f(Dual(x, 1.0)).tangent
    ### END SOLUTION

# %% [tests id=test_derivative points=2]
with checking("derivative"):
    got = [derivative(lambda t: t**2 + 1, x) for x in (-1.0, 0.0, 2.5)]
expect_close("derivative of x**2 + 1 at x = -1, 0, 2.5 (that is 2x)", got, [-2.0, 0.0, 5.0])
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_check = Check("derivative", "random smooth functions of one number",
               hint="$f(x+\\epsilon) = f(x) + f'(x)\\epsilon$: evaluate f once on a dual number whose tangent is 1 "
                    "and return the result's tangent; these functions use Dual's *, /, **, sin, cos and log, so a "
                    "wrong product, quotient or chain rule there shows here too")
_rng = grading_rng("test_derivative")
for _k in range(10):
    _a, _b, _x = _rng.normal(size=3)
    _f = lambda t: _a * t.sin() * t + (t * t + 1.0).log() / (2.0 + t.cos()) - _b * t**3
    report(f"derivative_{_k}", derivative(_f, float(_x)), rtol=1e-9, atol=1e-12, check=_check)
### END HIDDEN TESTS

# %% [markdown]
# One forward pass with dual numbers gives the derivative along *one* input direction.
# For $f(x_1,x_2) = x_1x_2 + \sin x_1$ that is one partial derivative per pass: seed
# $x_1$ with tangent 1 (and $x_2$ with 0) to get $\partial f/\partial x_1$, then the other way round.
# This matches the forward sweep in Part 4.

# %% [code]
with checking("Dual"):
    df_dx1 = (lambda x1, x2: x1 * x2 + x1.sin())(Dual(2.0, 1.0), Dual(3.0, 0.0)).tangent
    df_dx2 = (lambda x1, x2: x1 * x2 + x1.sin())(Dual(2.0, 0.0), Dual(3.0, 1.0)).tangent
print(f"df/dx1 = {df_dx1:.4f} (x2 + cos x1 = {3 + math.cos(2):.4f}),  df/dx2 = {df_dx2:.4f} (x1 = 2)")

xs = np.linspace(-2, 2, 9)
with checking("derivative"):
    slopes = [derivative(lambda t: t**2 + 1, float(x)) for x in xs]
fig, ax = plt.subplots()
ax.plot(xs, xs**2 + 1, label="$f(x) = x^2 + 1$")
ax.plot(xs, slopes, "o", label="derivative from dual numbers")
ax.plot(xs, 2 * xs, "--", label="$2x$")
ax.legend()
ax.set_xlabel("x")
plt.show()

# %% [markdown]
# ## Part 6. Reverse mode: a scalar `Value` class
#
# Forward mode needs one pass per input. Training has millions of inputs (the weights)
# and one output (the loss), so we want the opposite: one pass that gives the
# derivative of the output with respect to *every* input. That is **reverse mode**, or
# backpropagation.
#
# Each operation on a `Value` records a node: its result (`data`), the nodes it was
# computed from (`children`), the name of the operation (`op`), and how to pass a
# gradient back to its children. The gradient flowing back is *local*: if
# $z = g(x, y)$ and we know $\partial L/\partial z$ (stored in `z.grad`), then
# $\partial L/\partial x \mathrel{+}= \frac{\partial g}{\partial x}\,\frac{\partial L}{\partial z}$, and the same for $y$. The
# `+=` matters: a node used twice receives gradient from both uses.
#
# `backward()` on the output sets its own `grad` to 1, puts the graph in topological
# order (every node after its children), and walks that order **backwards**, calling
# each node's `_backward`. Write the order-finding with an explicit stack (no
# recursion): the hidden tests backpropagate through a chain of 10,000 nodes, far past
# Python's recursion limit.
#
# Complete `Value`. Each operation returns a new `Value` whose `_backward` is a
# function (a closure) that adds the local-derivative-times-`out.grad` into each child's
# `grad`. Plain numbers on either side become constant `Value`s. `**` takes a
# plain-number exponent. `relu` uses derivative 0 at exactly 0.

# %% [solution id=value_class]
class Value:
    """A scalar in a computational graph, for reverse-mode automatic differentiation.

    data: the number; grad: d(output)/d(this), filled in by output.backward();
    children: the Values this one was computed from; op: the operation's name;
    label: an optional name (shown when the graph is drawn).
    """

    def __init__(self, data, children=(), op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self.children = tuple(children)
        self.op = op
        self.label = label
        self._backward = lambda: None  # leaves have nothing to pass back

    def __repr__(self):
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    @staticmethod
    def lift(other):
        """A plain number as a constant Value; a Value is returned unchanged."""
        ### BEGIN SOLUTION
        return other if isinstance(other, Value) else Value(other, label="const")
        ### END SOLUTION

    def __add__(self, other):
        ### BEGIN SOLUTION
        other = Value.lift(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out
        ### END SOLUTION

    def __radd__(self, other):
        ### BEGIN SOLUTION
        return self + other
        ### END SOLUTION

    def __mul__(self, other):
        ### BEGIN SOLUTION
        other = Value.lift(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out
        ### END SOLUTION

    def __rmul__(self, other):
        ### BEGIN SOLUTION
        return self * other
        ### END SOLUTION

    def __neg__(self):
        ### BEGIN SOLUTION
        return self._unary(-self.data, -1.0, "*(-1)")
        ### END SOLUTION

    def __sub__(self, other):
        ### BEGIN SOLUTION
        return self + (-Value.lift(other))
        ### END SOLUTION

    def __rsub__(self, other):
        ### BEGIN SOLUTION
        return Value.lift(other) + (-self)
        ### END SOLUTION

    def __pow__(self, exponent):
        """self ** exponent for a plain-number exponent."""
        ### BEGIN SOLUTION
        out = Value(self.data**exponent, (self,), f"**{exponent}")

        def _backward():
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = _backward
        return out
        ### END SOLUTION

    def __truediv__(self, other):
        ### BEGIN SOLUTION
        return self * Value.lift(other) ** -1
        ### END SOLUTION

    def __rtruediv__(self, other):
        ### BEGIN SOLUTION
        return Value.lift(other) * self**-1
        ### END SOLUTION

    def _unary(self, data, local_derivative, op):
        """A node with one child whose local derivative is the number local_derivative."""
        ### BEGIN SOLUTION
        out = Value(data, (self,), op)

        def _backward():
            self.grad += local_derivative * out.grad

        out._backward = _backward
        return out
        ### END SOLUTION

    def exp(self):
        ### BEGIN SOLUTION
        e = math.exp(self.data)
        return self._unary(e, e, "exp")
        ### END SOLUTION

    def log(self):
        ### BEGIN SOLUTION
        return self._unary(math.log(self.data), 1.0 / self.data, "log")
        ### END SOLUTION

    def sin(self):
        ### BEGIN SOLUTION
        return self._unary(math.sin(self.data), math.cos(self.data), "sin")
        ### END SOLUTION

    def tanh(self):
        ### BEGIN SOLUTION
        t = math.tanh(self.data)
        return self._unary(t, 1.0 - t * t, "tanh")
        ### END SOLUTION

    def relu(self):
        ### BEGIN SOLUTION
        positive = self.data > 0
        return self._unary(self.data if positive else 0.0, 1.0 if positive else 0.0, "relu")
        ### END SOLUTION

    def backward(self):
        """Fill in .grad of every node this Value was computed from (d self / d node)."""
        ### BEGIN SOLUTION
        # Iterative depth-first search: a node is emitted after all its children.
        order, visited, stack = [], set(), [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
            elif id(node) not in visited:
                visited.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node.children if id(child) not in visited)
        self.grad = 1.0
        for node in reversed(order):
            node._backward()
        ### END SOLUTION

# %% [tests id=test_value_forward points=3]
with checking("Value"):
    a, b = Value(2.0), Value(-3.0)
    checks = [
        ("a + b", a + b, -1.0), ("a * b", a * b, -6.0), ("a - b", a - b, 5.0), ("1 - a", 1 - a, -1.0),
        ("a / b", a / b, -2 / 3), ("3 / a", 3 / a, 1.5), ("a ** 3", a**3, 8.0), ("-a", -a, -2.0),
        ("2 * a + 1", 2 * a + 1, 5.0), ("a.exp()", a.exp(), math.exp(2)), ("a.log()", a.log(), math.log(2)),
        ("b.sin()", b.sin(), math.sin(-3)), ("b.tanh()", b.tanh(), math.tanh(-3)),
        ("b.relu()", b.relu(), 0.0), ("a.relu()", a.relu(), 2.0),
    ]
for text, result, expected in checks:
    if not isinstance(result, Value):
        raise AssertionError(f"{text} with a = Value(2), b = Value(-3): expected a Value, got {result!r}")
    expect_close(f"{text} with a = Value(2), b = Value(-3): data", result.data, expected)
    if not all(isinstance(child, Value) for child in result.children) or not result.children:
        raise AssertionError(f"{text}: .children should hold the Values it was computed from, got {result.children!r}")
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_rng = grading_rng("test_value_forward")
_datas = []
for _ in range(20):
    _x, _y = _rng.uniform(0.2, 2.0, size=2)
    _c = float(_rng.normal())
    _in = (Value(_x), Value(_y))
    for _fn in [lambda p, q: p + q + _c, lambda p, q: _c * p * q, lambda p, q: _c - p - q,
                lambda p, q: p / q + _c / p, lambda p, q: p ** _c, lambda p, q: p.exp(),
                lambda p, q: q.log(), lambda p, q: (-p).sin(), lambda p, q: (p - q).tanh(),
                lambda p, q: (p - q).relu()]:
        _datas.append(_fn(*_in).data)
report("value_forward_ops", _datas, rtol=1e-12,
       check=Check("Value", "results (.data) of random expressions with +, -, *, /, **, exp, log, sin, tanh and relu",
                   hint="each operation returns a new Value whose data is computed from its inputs' data; "
                        "a plain number on either side becomes a constant Value"))
report("value_written_in_notebook", float(Value.__module__ == "__main__"),
       check=Check("Value", "checks that Value is the class defined in this notebook",
                   hint="define the class Value in this notebook yourself; a Value taken from a library does not count"))
### END HIDDEN TESTS

# %% [tests id=test_value_backward points=6]
with checking("Value.backward"):
    a, b = Value(2.0), Value(-3.0)
    out = a * b + a  # a is used twice: its gradient is b + 1 = -2
    out.backward()
expect_close("d(a*b + a)/da at a=2, b=-3", a.grad, -2.0)
expect_close("d(a*b + a)/db at a=2, b=-3", b.grad, 2.0)
with checking("Value.backward"):
    x = Value(0.5)
    y = (x * x).exp() / x - x.tanh() + (x + 1).log() * x.sin() - (x - 1).relu()
    y.backward()
x_plain = 0.5
expected = (math.exp(x_plain**2) * (2 - 1 / x_plain**2) - (1 - math.tanh(x_plain) ** 2)
            + math.sin(x_plain) / (x_plain + 1) + math.log(x_plain + 1) * math.cos(x_plain))
expect_close("dy/dx for y = exp(x^2)/x - tanh x + log(x+1) sin x - relu(x-1) at x = 0.5", x.grad, expected)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import report, grading_rng

def _random_program(rng, n_inputs, n_steps):
    ops = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sin", "tanh", "relu", "const"]
    return [(str(rng.choice(ops)), int(rng.integers(0, n_inputs + k)), int(rng.integers(0, n_inputs + k)),
             float(rng.uniform(-2, 2))) for k in range(n_steps)]

def _run_program(program, inputs):
    vals = list(inputs)
    for op, i, j, c in program:
        a, b = vals[i], vals[j]
        vals.append({
            "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
            "div": lambda: a / (b * b + 1.0), "neg": lambda: -a, "pow": lambda: (a * a + 0.5) ** c,
            "exp": lambda: a.sin().exp(), "log": lambda: (a * a + 1.0).log(), "sin": lambda: a.sin(),
            "tanh": lambda: a.tanh(), "relu": lambda: (a + 0.123).relu(),
            "const": lambda: c * a + (c - a) - c / (a * a + 2.0) + 1.0 / (b * b + 1.0),
        }[op]())
    return vals[-1]

# Random programs mixing every operation, reported first: their words stand for the whole test.
_programs = Check("Value.backward", "random programs mixing all operations of Value (result and input gradients)",
                  hint="output grad 1, then each _backward in reverse topological order adds (+=) its local derivative "
                       "times out.grad: product rule, quotient rule, power and chain rule")
_rng = grading_rng("test_value_backward")
for _trial in range(30):
    _prog = _random_program(_rng, 3, int(_rng.integers(1, 15)))
    _mine = [Value(v) for v in _rng.uniform(-1.5, 1.5, size=3)]
    _out = _run_program(_prog, _mine)
    _out.backward()
    report(f"value_program_{_trial}", [_out.data] + [v.grad for v in _mine], rtol=1e-8, atol=1e-10, check=_programs)
# A long chain: far deeper than Python's recursion limit.
_x = Value(0.3)
_node = _x
for _ in range(10_000):
    _node = _node * 1.0001 + 0.0
_node.backward()
report("value_program_long_chain", _x.grad, rtol=1e-9,
       check=Check("Value.backward", "gradients through a chain of 10,000 operations",
                   hint="find the topological order with an explicit stack, not recursion: "
                        "this chain is far deeper than Python's recursion limit"))
# The sigmoid neuron at a random point.
_mine = [Value(v) for v in _rng.normal(size=5)]
_s = 1 / (1 + (-(_mine[0] * _mine[1] + _mine[2] * _mine[3] + _mine[4])).exp())
_s.backward()
report("value_sigmoid_neuron", [_s.data] + [v.grad for v in _mine], rtol=1e-9,
       check=Check("Value.backward", "values of a sigmoid neuron at a random point (its output and five input gradients)",
                   hint="the lecture's sigmoid neuron: products, sums, negation, exp, +1 and 1/x, "
                        "each gate passing back its local derivative times the gradient from above"))

# One family of operations at a time, so that a wrong backward rule is named.
_families = [
    ("sum", Check("Value.__add__, __sub__, __neg__", "random sums and differences of Values (result and input gradients)",
                  hint="addition passes out.grad unchanged to both inputs and negation flips its sign; "
                       "add (+=) into each input's grad; a plain number on either side is a constant Value"),
     [("u + v", lambda u, v, c: u + v), ("u - v", lambda u, v, c: u - v), ("-u", lambda u, v, c: -u),
      ("c + u", lambda u, v, c: c + u), ("u - c", lambda u, v, c: u - c), ("c - u", lambda u, v, c: c - u)]),
    ("product", Check("Value.__mul__", "random products of Values (result and input gradients)",
                      hint="the product rule backwards: for $z = xy$, x receives $y\\,\\bar z$ and y receives $x\\,\\bar z$ "
                           "(the other factor times out.grad), both added with a plus sign"),
     [("u * v", lambda u, v, c: u * v), ("c * u", lambda u, v, c: c * u), ("u * c", lambda u, v, c: u * c),
      ("u * u", lambda u, v, c: u * u)]),
    ("quotient", Check("Value.__truediv__", "random quotients of Values (result and input gradients)",
                       hint="the quotient rule: $\\partial(u/v)/\\partial u = 1/v$ and $\\partial(u/v)/\\partial v = -u/v^2$; "
                            "a plain number on either side is a constant Value"),
     [("u / v", lambda u, v, c: u / v), ("c / u", lambda u, v, c: c / u), ("u / c", lambda u, v, c: u / c)]),
    ("power", Check("Value.__pow__", "random powers u ** c of Values with a plain-number exponent c",
                    hint="the power rule: the local derivative of $u^c$ is $c\\,u^{c-1}$, times out.grad"),
     [("u ** c", lambda u, v, c: u ** c)]),
    ("function", Check("Value.exp, log, sin, tanh, relu", "random Values u passed to exp, log, sin, tanh and relu",
                       hint="each passes back its local derivative times out.grad: $e^a$, $1/a$, $\\cos a$, $1 - \\tanh^2 a$, "
                            "and for relu 1 where $a > 0$, else 0"),
     [("u.exp()", lambda u, v, c: u.exp()), ("u.log()", lambda u, v, c: u.log()), ("u.sin()", lambda u, v, c: u.sin()),
      ("u.tanh()", lambda u, v, c: u.tanh()), ("u.relu()", lambda u, v, c: u.relu())]),
    ("reuse", Check("Value.backward", "random expressions that use a Value more than once",
                    hint="a node used several times receives gradient from every use: add (+=) into .grad, never "
                         "overwrite, and run a node's _backward only after all the nodes that use it"),
     [("u * v + u", lambda u, v, c: u * v + u), ("(u + v).sin() * u", lambda u, v, c: (u + v).sin() * u),
      ("u.exp() + u.tanh() - v * v", lambda u, v, c: u.exp() + u.tanh() - v * v)]),
]
_rng = grading_rng("test_value_backward_rules")
for _family, _check, _forms in _families:
    for _k in range(max(6, 2 * len(_forms))):
        _text, _form = _forms[_k % len(_forms)]
        _uv = _rng.uniform(0.5, 2.0, size=2) * _rng.choice([-1.0, 1.0], size=2)
        _c = float(_rng.uniform(0.5, 2.0) * _rng.choice([-1.0, 1.0]))
        if _text in ("u ** c", "u.log()"):  # only for positive u
            _uv[0] = abs(_uv[0])
        _u, _v = Value(_uv[0]), Value(_uv[1])
        _out = _form(_u, _v, _c)
        _out.backward()
        report(f"value_rule_{_family}_{_k}", [_out.data, _u.grad, _v.grad], rtol=1e-9, atol=1e-12, check=_check,
               example=f"{_text} with u = Value({_uv[0]:.2f}), v = Value({_uv[1]:.2f}), c = {_c:.2f}")
### END HIDDEN TESTS

# %% [markdown]
# ### The sigmoid neuron from the lecture
#
# $f(w, x) = \dfrac{1}{1 + e^{-(w_0x_0 + w_1x_1 + w_2)}}$ at $w_0 = 2, x_0 = -1, w_1 = -3, x_1 = -2, w_2 = -3$.
# The lecture draws it as a chain of small gates: two products, two sums, $\times(-1)$,
# $\exp$, $+1$ and $1/x$. Forward, the values are $-2, 6, 4, 1, -1, 0.37, 1.37, 0.73$.
# Backward, starting from 1.00 at the output: $1/x$ has local derivative $-1/x^2$, so
# $-1/1.37^2 = -0.53$; $+1$ passes it on; $\exp$ multiplies by $e^{-1} = 0.37$ to give $-0.20$;
# $\times(-1)$ flips it to $0.20$; and each product sends back the *other* factor times $0.20$.
#
# Write `sigmoid_neuron(w0, x0, w1, x1, w2)`: build exactly that graph from `Value`s
# (with `exp`, `+`, `*`, negation and `1 / ...`, not a ready-made sigmoid), run
# `backward()`, and return the output and the five gradients. Then look at the graph.

# %% [solution id=sigmoid_neuron]
def sigmoid_neuron(w0, x0, w1, x1, w2):
    """Build f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2))) from Values and backpropagate.

    All arguments are floats. Returns (f_value, grads, f) where f_value is a float,
    grads = [df/dw0, df/dx0, df/dw1, df/dx1, df/dw2] (floats) and f is the output Value.
    """
    ### BEGIN SOLUTION
    inputs = [Value(v, label=name) for v, name in zip((w0, x0, w1, x1, w2), ("w0", "x0", "w1", "x1", "w2"))]
    w0_, x0_, w1_, x1_, w2_ = inputs
    f = 1 / (1 + (-(w0_ * x0_ + w1_ * x1_ + w2_)).exp())
    f.label = "f"
    f.backward()
    return f.data, [v.grad for v in inputs], f
    ### END SOLUTION

# %% [tests id=test_sigmoid_neuron points=2]
with checking("sigmoid_neuron"):
    f_value, grads, f_node = sigmoid_neuron(2.0, -1.0, -3.0, -2.0, -3.0)
expect_close("f at the lecture's point (2 decimals)", round(f_value, 2), 0.73)
expect_close("[df/dw0, df/dx0, df/dw1, df/dx1, df/dw2] (2 decimals)", [round(g, 2) for g in grads],
             [-0.20, 0.39, -0.39, -0.59, 0.20])
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_check = Check("sigmoid_neuron", "random points (w0, x0, w1, x1, w2)",
               hint="build f from Values (exp, +, *, negation, 1 / ...), call backward() once, and return f's data, "
                    "the gradients in the order [w0, x0, w1, x1, w2], and f; a wrong backward rule in Value shows "
                    "here too")
_rng = grading_rng("test_sigmoid_neuron")
for _k in range(5):
    _fv, _grads, _ = sigmoid_neuron(*map(float, _rng.normal(size=5)))
    report(f"sigmoid_neuron_{_k}", [_fv, *_grads], rtol=1e-9, check=_check)
### END HIDDEN TESTS

# %% [code]
# Your graph, drawn by the library's helper (it only reads data, grad, op, label
# and children, so it works on your Value too). Compare it with the lecture's slide.
with checking("sigmoid_neuron"):
    _, _, f_node = sigmoid_neuron(2.0, -1.0, -3.0, -2.0, -3.0)
display(gradkit.autodiff.draw_graph(f_node))

# %% [markdown]
# ## Part 7. Forward versus reverse mode: passes for a Jacobian
#
# For $f:\mathbb{R}^n\to\mathbb{R}^m$ the Jacobian $J$ is the $m\times n$ matrix of all partial
# derivatives $J_{ij} = \partial f_i/\partial x_j$.
#
# * **Forward mode** seeds input $j$ with tangent 1 (the others 0) and one pass gives
#   column $j$ for every output at once: **$n$ passes**.
# * **Reverse mode** builds the graph once per pass and backpropagates from output $i$:
#   one pass gives row $i$ for every input at once: **$m$ passes**.
#
# Write both. `f` takes a list of $n$ numbers-like objects and returns a list of $m$ of
# them, using only operators and methods that both `Dual` and `Value` have (so the
# same `f` runs on either). Each function returns `(J, passes)`: `J` an `(m, n)` float
# NumPy array, `passes` the number of times you evaluated `f`. In the reverse version,
# evaluate `f` on fresh `Value`s for each output row, so no gradient is left over
# from the previous row.

# %% [solution id=jacobian_forward]
def jacobian_forward(f, x):
    """Jacobian of f at x by forward mode with Dual, one pass per input.

    f: list of n Duals -> list of m Duals; x: a sequence of n floats.
    Returns (J, passes): J of shape (m, n), passes = number of calls of f.
    """
    ### BEGIN SOLUTION
    n = len(x)
    columns = []
    for j in range(n):
        outputs = f([Dual(x[k], 1.0 if k == j else 0.0) for k in range(n)])
        columns.append([Dual.lift(out).tangent for out in outputs])
    return np.array(columns, dtype=float).T.reshape(-1, n), n
    ### END SOLUTION

# %% [tests id=test_jacobian_forward points=3]
def small_f(v):
    """f(x1, x2, x3) = [x1 * x2 + sin x1, x2 * x3]: R^3 -> R^2."""
    return [v[0] * v[1] + v[0].sin(), v[1] * v[2]]

x_at = [2.0, 3.0, -1.0]
expected_jacobian = [[3.0 + math.cos(2.0), 2.0, 0.0], [0.0, -1.0, 3.0]]
with checking("jacobian_forward"):
    J, passes = jacobian_forward(small_f, x_at)
expect_close("jacobian_forward(small_f, [2, 3, -1])", J, expected_jacobian)
expect_equal("passes of forward mode for n = 3 inputs", passes, 3)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_check_jacobian = Check("jacobian_forward", "Jacobians of random functions from R^n to R^m",
                        hint="forward mode: seed input j with tangent 1 and the others with 0; one pass gives "
                             "column j of J, the tangents of all m outputs; a wrong rule in Dual shows here too")
_check_passes = Check("jacobian_forward", "pass counts for random functions from R^n to R^m",
                      hint="count the calls of f: forward mode evaluates f once per input")
_rng = grading_rng("test_jacobian_forward")
for _n, _m in [(1, 1), (2, 5), (6, 2)]:
    _A = _rng.normal(size=(_m, _n))
    def _fn(v, _A=_A):
        return [sum((float(_A[i, j]) * v[j] for j in range(len(v))), 0.0).sin() * v[i % len(v)] + v[0] * v[-1]
                for i in range(_A.shape[0])]
    _J, _passes = jacobian_forward(_fn, list(map(float, _rng.normal(size=_n))))
    report(f"jacobian_forward_{_n}x{_m}", _J, rtol=1e-9, atol=1e-12, check=_check_jacobian,
           example=f"n = {_n} inputs, m = {_m} outputs")
    report(f"jacobian_forward_passes_{_n}x{_m}", _passes, check=_check_passes,
           example=f"n = {_n} inputs, m = {_m} outputs")
### END HIDDEN TESTS

# %% [solution id=jacobian_reverse]
def jacobian_reverse(f, x):
    """Jacobian of f at x by reverse mode with Value, one backward pass per output.

    f: list of n Values -> list of m Values; x: a sequence of n floats.
    Returns (J, passes): J of shape (m, n), passes = number of calls of f.
    """
    ### BEGIN SOLUTION
    rows = []
    m = None  # the number of outputs, learnt from the first pass
    while m is None or len(rows) < m:
        inputs = [Value(v) for v in x]  # fresh leaves: no gradient left from the last row
        outputs = f(inputs)
        m = len(outputs)
        Value.lift(outputs[len(rows)]).backward()
        rows.append([v.grad for v in inputs])
    return np.array(rows, dtype=float).reshape(m, len(x)), len(rows)
    ### END SOLUTION

# %% [tests id=test_jacobian_reverse points=3]
with checking("jacobian_reverse"):
    J, passes = jacobian_reverse(small_f, x_at)
expect_close("jacobian_reverse(small_f, [2, 3, -1])", J, expected_jacobian)
expect_equal("backward passes of reverse mode for m = 2 outputs", passes, 2)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_check_jacobian = Check("jacobian_reverse", "Jacobians of random functions from R^n to R^m",
                        hint="reverse mode: for output row i, evaluate f on fresh Values, backpropagate "
                             "from output i, and read row i of J from the inputs' grads; a wrong backward rule "
                             "in Value shows here too")
_check_passes = Check("jacobian_reverse", "pass counts for random functions from R^n to R^m",
                      hint="count the calls of f: reverse mode evaluates f once per output, on fresh Values each time")
_rng = grading_rng("test_jacobian_reverse")
for _n, _m in [(1, 1), (2, 5), (6, 2)]:
    _A = _rng.normal(size=(_m, _n))
    def _fn(v, _A=_A):
        return [sum((float(_A[i, j]) * v[j] for j in range(len(v))), 0.0).sin() * v[i % len(v)] + v[0] * v[-1]
                for i in range(_A.shape[0])]
    _J, _passes = jacobian_reverse(_fn, list(map(float, _rng.normal(size=_n))))
    report(f"jacobian_reverse_{_n}x{_m}", _J, rtol=1e-9, atol=1e-12, check=_check_jacobian,
           example=f"n = {_n} inputs, m = {_m} outputs")
    report(f"jacobian_reverse_passes_{_n}x{_m}", _passes, check=_check_passes,
           example=f"n = {_n} inputs, m = {_m} outputs")
### END HIDDEN TESTS

# %% [markdown]
# ### Which mode wins?
#
# The cell below times both on two shapes of function: a *loss* $\mathbb{R}^n\to\mathbb{R}^1$
# (the training case) and a *curve* $\mathbb{R}^1\to\mathbb{R}^m$. Forward mode's cost grows with
# the number of inputs, reverse mode's with the number of outputs; each wins on one
# shape. Reverse mode has another cost the timing does not show: it must keep the
# whole graph in memory until the backward pass, while forward mode forgets each
# value as soon as the next one is computed. Deep learning pays that memory price
# because a loss has one output and millions of inputs.

# %% [code]
if GRADING:
    print("Forward against reverse mode, timed: skipped while grading (a demonstration, no points).")
else:
    import time

    def loss_like(v):
        """R^n -> R^1: a sum of squares of sines."""
        return [sum((vi.sin() * vi.sin() for vi in v), 0.0)]

    def curve_like(m):
        """R^1 -> R^m: m powers of the single input."""
        return lambda v: [v[0] ** (k + 1) for k in range(m)]

    def seconds(fn, repeats=3):
        """The fastest of a few runs: the least disturbed by whatever else the machine does."""
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        return best

    sizes = [1, 2, 4, 8, 16, 32, 64]
    timings = {"loss R^n -> R": ([], []), "curve R -> R^m": ([], [])}
    with checking("jacobian_forward and jacobian_reverse"):
        for size in sizes:
            point = list(np.linspace(0.1, 1.0, size))
            timings["loss R^n -> R"][0].append(seconds(lambda: jacobian_forward(loss_like, point)))
            timings["loss R^n -> R"][1].append(seconds(lambda: jacobian_reverse(loss_like, point)))
            timings["curve R -> R^m"][0].append(seconds(lambda: jacobian_forward(curve_like(size), [0.7])))
            timings["curve R -> R^m"][1].append(seconds(lambda: jacobian_reverse(curve_like(size), [0.7])))

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (title, (forward_times, reverse_times)) in zip(axes, timings.items()):
        ax.loglog(sizes, forward_times, "o-", label="forward mode (Dual)")
        ax.loglog(sizes, reverse_times, "s-", label="reverse mode (Value)")
        ax.set_title(title)
        ax.set_xlabel("n (inputs)" if "loss" in title else "m (outputs)")
        ax.set_ylabel("seconds for the whole Jacobian")
        ax.legend()
    plt.tight_layout()
    plt.show()

# %% [markdown]
# **Summary.** Forward mode: one pass per input, memory that does not grow with the
# program. Reverse mode: one pass per output, memory for the whole graph. A loss has
# one output, so backpropagation gets the whole gradient for the cost of about one
# extra forward pass, which is why every deep-learning framework is built on it.
# In Assignment 2 you will lift `Value` from numbers to arrays.
