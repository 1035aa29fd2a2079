"""The reference solutions of a1-a3 agree with the library and with torch.

Hidden tests no longer hold an oracle: the grader compares a student's reported
results with the reference solution's, in the same grading run. So the reference
itself must be right, and this file is where that is shown: each assignment's
set-up and solution cells are taken from its text source
(``assignments/tools/sources/<id>.py``), run in a namespace, and their functions
and classes are compared with ``gradkit`` and with torch (float64) on random
inputs. There is at least one comparison for every hidden test that compared
with an oracle before the tests moved out of the kernel.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import gradkit  # noqa: E402
from gradkit.autodiff import numerical  # noqa: E402
from gradkit.autodiff.functions import unbroadcast as library_unbroadcast  # noqa: E402
from gradkit.nn import functional as library_functional  # noqa: E402
from gradkit.nn import init as library_init  # noqa: E402
from support import REPO

TOOLS = REPO / "assignments" / "tools"
import nbsource  # noqa: E402

# Solution cells that need a demo cell's results (a plot's data) and check nothing
# that a library could tell.
NEEDS_DEMO_CELLS = {"best_degree"}


def reference_namespace(assignment: str) -> dict:
    """Run the set-up (locked) and solution cells of a source, in order; return their globals."""
    import matplotlib.pyplot as plt

    namespace = {"__name__": f"reference_{assignment}"}
    for cell in nbsource.load_source(TOOLS / "sources" / f"{assignment}.py"):
        if cell.kind in ("locked", "solution") and cell.grade_id not in NEEDS_DEMO_CELLS:
            exec(compile(cell.text, f"{assignment}:{cell.grade_id}", "exec"), namespace)
    plt.close("all")
    return namespace


@pytest.fixture(scope="module")
def a1():
    return reference_namespace("a1_gradients")


@pytest.fixture(scope="module")
def a2():
    return reference_namespace("a2_tensor_autodiff")


@pytest.fixture(scope="module")
def a3():
    return reference_namespace("a3_nets_sgd")


def close(got, want, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=atol)


# ================================================================= a1_gradients
def random_scalar_functions(rng, count):
    for _ in range(count):
        a, b, c = rng.normal(size=3)
        x, h = float(rng.uniform(-2, 2)), float(10 ** rng.uniform(-6, -1))
        yield (lambda t, a=a, b=b, c=c: a * t**3 + b * math.sin(t) + c), x, h


def test_a1_finite_differences_equal_the_library(a1):
    rng = np.random.default_rng(1)
    for f, x, h in random_scalar_functions(rng, 20):
        close(a1["forward_difference"](f, x, h), numerical.forward_difference(f, x, h), rtol=1e-12, atol=1e-9)
        close(a1["central_difference"](f, x, h), numerical.central_difference(f, x, h), rtol=1e-12, atol=1e-9)


def test_a1_optimal_step_is_the_closed_form(a1):
    eps = np.finfo(float).eps
    close(a1["optimal_step"]("forward"), eps**0.5, rtol=1e-12)
    close(a1["optimal_step"]("central"), eps ** (1 / 3), rtol=1e-12)
    with pytest.raises(ValueError, match="sideways"):
        a1["optimal_step"]("sideways")


def test_a1_numerical_gradient_equals_the_library_and_keeps_x(a1):
    rng = np.random.default_rng(2)
    for shape in [(1,), (4,), (3, 2), (2, 3, 2)]:
        x, w = rng.normal(size=shape), rng.normal(size=shape)
        before = x.copy()

        def f(v):
            return float(np.sum(np.sin(v) * w) + np.sum(v) ** 2)

        got = a1["numerical_gradient"](f, x, 1e-6)
        close(got, numerical.numerical_gradient(f, x, eps=1e-6)[0], rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(x, before)


def test_a1_logistic_loss_and_gradients_equal_torch(a1):
    rng = np.random.default_rng(3)
    for n, d, scale in [(1, 1, 1.0), (7, 3, 1.0), (20, 5, 300.0), (30, 6, 1.0)]:
        X, w = rng.normal(size=(n, d)), scale * rng.normal(size=d)
        b, y = float(rng.normal()), rng.integers(0, 2, size=n).astype(float)
        wt = torch.tensor(w, requires_grad=True)
        bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(X) @ wt + bt, torch.tensor(y))
        loss.backward()
        close(a1["logistic_loss"](w, b, X, y), loss.item(), rtol=1e-9)
        dw, db = a1["logistic_gradients"](w, b, X, y)
        close(dw, wt.grad.numpy(), rtol=1e-8)
        close(db, bt.grad.item(), rtol=1e-8)


def test_a1_gradient_check_finds_a_planted_sign_error(a1):
    rng = np.random.default_rng(4)
    for shape in [(5,), (3, 4)]:
        A, x = rng.normal(size=shape), rng.normal(size=shape)
        error, _ = a1["gradient_check"](lambda v: float(np.sum(A * np.sin(v))), lambda v: A * np.cos(v), x)
        assert error < 1e-6
        bad = tuple(int(i) for i in np.unravel_index(rng.integers(A.size), shape))
        mask = np.ones(shape)
        mask[bad], A[bad], x[bad] = -1.0, 3.0, 0.1
        error, where = a1["gradient_check"](lambda v: float(np.sum(A * np.sin(v))),
                                            lambda v: A * np.cos(v) * mask, x)
        assert tuple(where) == bad
        close(error, 2.0, rtol=1e-6)  # |a - (-a)| / |a| with |a| = 3 cos(0.1) > 1
    assert a1["planted_bug_index"] == 5  # the penalty's gradient is added to the bias too


def test_a1_topological_order_is_the_smallest_ready_node_first(a1):
    rng = np.random.default_rng(5)
    for n in (1, 6, 25, 40):
        names = [f"n{int(i):03d}" for i in rng.permutation(n)]
        graph = {}
        for k, name in enumerate(names):
            count = int(rng.integers(0, min(k, 3) + 1))
            graph[name] = tuple(str(s) for s in rng.choice(names[:k], size=count, replace=False)) if count else ()
        placed, want = set(), []  # brute force: at every step the smallest ready node
        while len(want) < n:
            want.append(min(v for v in graph if v not in placed and all(s in placed for s in graph[v])))
            placed.add(want[-1])
        assert list(a1["topological_order"](dict(graph))) == want
    for bad in ({"a": ("b",), "b": ("c",), "c": ("a",)}, {"a": ("zz",)}):
        with pytest.raises(ValueError):
            a1["topological_order"](bad)


def random_program(rng, ops, n_inputs, n_steps):
    return [(str(rng.choice(ops)), int(rng.integers(0, n_inputs + k)), int(rng.integers(0, n_inputs + k)),
             float(rng.uniform(-2, 2))) for k in range(n_steps)]


def run_program(program, inputs):
    """The hidden tests' straight-line programs, for Dual, Value or torch tensors alike."""
    vals = list(inputs)
    for op, i, j, c in program:
        a, b = vals[i], vals[j]
        vals.append({
            "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
            "div": lambda: a / (b * b + 1.0), "neg": lambda: -a, "pow": lambda: (a * a + 0.5) ** c,
            "exp": lambda: a.sin().exp(), "log": lambda: (a * a + 1.0).log(), "sin": lambda: a.sin(),
            "cos": lambda: a.cos(), "tanh": lambda: a.tanh(), "relu": lambda: (a + 0.123).relu(),
            "rconst": lambda: c * a + (c - a) - c / (a * a + 2.0),
            "lconst": lambda: a * c + (a - c) + 1.0 / (a * a + 2.0),
        }[op]())
    return vals[-1]


def test_a1_dual_and_derivative_equal_the_library(a1):
    Dual, rng = a1["Dual"], np.random.default_rng(6)
    ops = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sin", "cos", "rconst", "lconst"]
    for _ in range(40):
        program = random_program(rng, ops, 3, int(rng.integers(1, 12)))
        x, seed = rng.uniform(-1.5, 1.5, size=3), int(rng.integers(0, 3))
        mine = run_program(program, [Dual(v, float(k == seed)) for k, v in enumerate(x)])
        lib = run_program(program, [gradkit.Dual(v, float(k == seed)) for k, v in enumerate(x)])
        assert isinstance(mine, Dual)
        close([mine.value, mine.tangent], [float(lib.value), float(lib.tangent)])
    for _ in range(10):
        a, b, x = rng.normal(size=3)

        def f(t, a=a, b=b):
            return a * t.sin() * t + (t * t + 1.0).log() / (2.0 + t.cos()) - b * t**3

        close(a1["derivative"](f, float(x)), gradkit.derivative(f, float(x)))


def test_a1_value_equals_the_library_and_torch(a1):
    Value, rng = a1["Value"], np.random.default_rng(7)
    ops = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sin", "tanh", "relu", "rconst"]
    for _ in range(40):
        program = random_program(rng, ops, 3, int(rng.integers(1, 15)))
        x = rng.uniform(-1.5, 1.5, size=3)
        mine, lib = [Value(v) for v in x], [gradkit.Value(v) for v in x]
        out_mine, out_lib = run_program(program, mine), run_program(program, lib)
        out_mine.backward()
        out_lib.backward()
        close([out_mine.data] + [v.grad for v in mine], [out_lib.data] + [v.grad for v in lib], rtol=1e-9)
    x = Value(0.3)
    node = x
    for _ in range(10_000):
        node = node * 1.0001 + 0.0
    node.backward()
    close(x.grad, 1.0001**10_000, rtol=1e-9)
    for _ in range(5):  # the lecture's sigmoid neuron, as a class and as sigmoid_neuron()
        w = rng.normal(size=5)
        t = torch.tensor(w, requires_grad=True)
        out = torch.sigmoid(t[0] * t[1] + t[2] * t[3] + t[4])
        out.backward()
        value, grads, _ = a1["sigmoid_neuron"](*map(float, w))
        close([value, *grads], [out.item(), *t.grad.numpy()])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_a1_jacobians_equal_torch_with_the_right_number_of_passes(a1, mode):
    rng = np.random.default_rng(8)
    for n, m in [(1, 1), (2, 5), (6, 2), (4, 4)]:
        A = rng.normal(size=(m, n))

        def f(v, A=A):
            return [sum((float(A[i, j]) * v[j] for j in range(len(v))), 0.0).sin() * v[i % len(v)] + v[0] * v[-1]
                    for i in range(A.shape[0])]

        x = rng.normal(size=n)
        J, passes = a1[f"jacobian_{mode}"](f, list(map(float, x)))
        want = torch.autograd.functional.jacobian(lambda t: torch.stack(f(list(t))), torch.tensor(x))
        close(J, want.numpy().reshape(m, n))
        assert passes == (n if mode == "forward" else m)


# =========================================================== a2_tensor_autodiff
def torch_grads(op, arrays, grad):
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    op(*tensors).backward(torch.tensor(grad))
    return [t.grad.numpy() for t in tensors]


def test_a2_unbroadcast_equals_the_library_and_torch(a2):
    rng = np.random.default_rng(11)
    for _ in range(30):
        out_shape = tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(0, 4))))
        keep = int(rng.integers(0, len(out_shape) + 1))
        in_shape = tuple(1 if rng.random() < 0.4 else n for n in out_shape[len(out_shape) - keep:])
        grad = rng.normal(size=out_shape)
        got = a2["unbroadcast"](grad, in_shape)
        assert np.shape(got) == in_shape
        close(got, library_unbroadcast(grad, in_shape))
        (want,) = torch_grads(lambda t: t + torch.zeros(out_shape, dtype=torch.float64), [np.zeros(in_shape)], grad)
        close(got, want)


def test_a2_elementwise_vjps_equal_torch(a2):
    rng = np.random.default_rng(12)
    for sa, sb in [((3, 4), (3, 4)), ((2, 1, 3), (4, 1)), ((5,), (2, 3, 5)), ((), (2, 2)), ((1, 3), (2, 1))]:
        a, b = rng.normal(size=sa), rng.uniform(0.5, 2.0, size=sb) * rng.choice([-1, 1], size=sb)
        g = rng.normal(size=np.broadcast_shapes(sa, sb))
        for mine, op in [(lambda g, a, b: a2["add_vjp"](g, np.shape(a), np.shape(b)), lambda x, y: x + y),
                         (a2["mul_vjp"], lambda x, y: x * y), (a2["div_vjp"], lambda x, y: x / y)]:
            for got, want in zip(mine(g, a, b), torch_grads(op, [a, b], g)):
                close(got, want)
    for shape in [(7,), (3, 4), (2, 3, 2)]:
        x, g = rng.normal(size=shape), rng.normal(size=shape)
        x[..., 0] = 0.0  # relu's derivative at 0 is 0, as in torch
        close(a2["exp_vjp"](g, np.exp(x)), torch_grads(torch.exp, [x], g)[0])
        close(a2["log_vjp"](g, np.abs(x) + 0.1), torch_grads(torch.log, [np.abs(x) + 0.1], g)[0])
        close(a2["relu_vjp"](g, x), torch_grads(torch.relu, [x], g)[0])


def test_a2_reduction_vjps_equal_torch(a2):
    rng = np.random.default_rng(13)
    cases = [((4,), None, False), ((3, 4), 0, False), ((3, 4), -1, True), ((2, 3, 4), (0, 2), False),
             ((2, 3, 4), (-1, -2), True), ((2, 1, 3), None, True), ((5, 2), 1, False)]
    for shape, axis, keep in cases:
        x = rng.normal(size=shape)
        dims = tuple(range(len(shape))) if axis is None else axis
        for mine, reduce in [(a2["sum_vjp"], torch.sum), (a2["mean_vjp"], torch.mean)]:
            g = rng.normal(size=np.sum(x, axis=axis, keepdims=keep).shape)
            (want,) = torch_grads(lambda t: reduce(t, dim=dims, keepdim=keep), [x], g)
            close(mine(g, shape, axis, keep), want)


def test_a2_matmul_vjp_equals_torch(a2):
    rng = np.random.default_rng(14)
    shapes = [((3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((5,), (5,)), ((2, 3, 4), (4, 5)),
              ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,))]
    for sa, sb in shapes:
        a, b = rng.normal(size=sa), rng.normal(size=sb)
        g = rng.normal(size=np.shape(a @ b))
        for got, want in zip(a2["matmul_vjp"](g, a, b), torch_grads(lambda x, y: x @ y, [a, b], g)):
            close(got, want)


def test_a2_tensor_backward_equals_the_library(a2):
    def expression(x, w, b, c):
        h = (x @ w + b).relu()
        s = (h * c).sum(axis=1, keepdims=True) / (h.mean(axis=0) + 1.5).sum()
        return ((s.exp() + 1.0).log() - h.mean() * 0.5 + (x - 2.0).sum(axis=0).mean()).sum()

    rng = np.random.default_rng(15)
    for n, d, h in [(1, 1, 1), (4, 3, 5), (6, 2, 3)]:
        arrays = [rng.normal(size=(n, d)), rng.normal(size=(d, h)), rng.normal(size=(h,)), rng.normal(size=(1, h))]
        mine = [a2["Tensor"](a, requires_grad=True) for a in arrays]
        lib = [gradkit.Tensor(a.copy(), requires_grad=True) for a in arrays]
        out_mine, out_lib = expression(*mine), expression(*lib)
        out_mine.backward()
        out_lib.backward()
        close(out_mine.data, out_lib.data)
        for m, l in zip(mine, lib):
            close(m.grad, l.grad, rtol=1e-9)


def test_a2_losses_equal_the_library_and_torch(a2):
    Tensor, rng = a2["Tensor"], np.random.default_rng(16)
    for n, c, scale in [(1, 2, 1.0), (8, 5, 3.0), (16, 10, 800.0)]:
        z, y = scale * rng.normal(size=(n, c)), rng.integers(0, c, size=n)
        mine = Tensor(z, requires_grad=True)
        loss = a2["softmax_cross_entropy"](mine, y)
        loss.backward()
        t = torch.tensor(z, requires_grad=True)
        want = torch.nn.functional.cross_entropy(t, torch.tensor(y))
        want.backward()
        close(loss.item(), want.item())
        close(loss.item(), library_functional.cross_entropy(gradkit.Tensor(z), y).item())
        close(mine.grad, t.grad.numpy())
    for n, c, margin in [(1, 3, 1.0), (10, 4, 1.0), (7, 10, 0.3)]:
        s, y = rng.normal(size=(n, c)), rng.integers(0, c, size=n)
        mine = Tensor(s, requires_grad=True)
        loss = a2["multiclass_hinge_loss"](mine, y, margin)
        loss.backward()
        lib_s = gradkit.Tensor(s.copy(), requires_grad=True)
        lib = library_functional.multiclass_hinge_loss(lib_s, y, margin=margin)
        lib.backward()
        t = torch.tensor(s, requires_grad=True)
        # torch's multi-margin loss divides each row's sum by the number of classes
        (c * torch.nn.functional.multi_margin_loss(t, torch.tensor(y), margin=margin)).backward()
        close(loss.item(), lib.item())
        close(mine.grad, lib_s.grad)
        close(mine.grad, t.grad.numpy())
    for n, scale in [(1, 1.0), (20, 3.0), (30, 500.0)]:
        z, y = scale * rng.normal(size=n), rng.integers(0, 2, size=n).astype(float)
        mine = Tensor(z, requires_grad=True)
        loss = a2["binary_cross_entropy_with_logits"](mine, y)
        loss.backward()
        t = torch.tensor(z, requires_grad=True)
        want = torch.nn.functional.binary_cross_entropy_with_logits(t, torch.tensor(y))
        want.backward()
        close(loss.item(), want.item())
        close(mine.grad, t.grad.numpy())


def test_a2_check_against_library_sees_a_detached_term(a2):
    rng = np.random.default_rng(17)
    p, q = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    library_error, numerical_error = a2["check_against_library"](lambda p, q: ((p @ q).exp() + 1.0).log().mean(), p, q)
    assert library_error < 1e-12 and numerical_error < 1e-6
    p = rng.normal(size=4)
    _, numerical_error = a2["check_against_library"](lambda p: type(p)(p.data * 5.0).sum() + p.sum(), p)
    close(numerical_error, 5.0, rtol=1e-6)  # the gradient of the detached 5 p is missed


def test_a2_logistic_regression_training_equals_torch(a2):
    rows = np.random.default_rng(18).choice(len(a2["y_train"]), size=50, replace=False)
    X, y = a2["X_train"][rows], a2["y_train"][rows]
    w, b, losses = a2["train_logistic_regression"](X, y, lr=0.3, epochs=4)
    wt = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    bt = torch.zeros((), dtype=torch.float64, requires_grad=True)
    want = []
    for _ in range(4):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(X) @ wt + bt, torch.tensor(y))
        loss.backward()
        want.append(loss.item())
        with torch.no_grad():
            for p in (wt, bt):
                p -= 0.3 * p.grad
                p.grad = None
    close(losses, want, rtol=1e-10)
    close(w, wt.detach().numpy(), rtol=1e-9)
    close(b, bt.item(), rtol=1e-9)


# ================================================================== a3_nets_sgd
def test_a3_minibatches_cut_one_permutation(a3):
    for n, size in [(1, 1), (7, 7), (8, 3), (100, 32), (64, 16), (5, 10)]:
        batches = a3["minibatches"](n, size, np.random.default_rng(n))
        assert [len(b) for b in batches] == [min(size, n - s) for s in range(0, n, size)]
        assert [int(i) for b in batches for i in b] == list(np.random.default_rng(n).permutation(n))


def test_a3_least_squares_equal_torch(a3):
    rng = np.random.default_rng(21)
    for n, d in [(5, 1), (50, 3), (200, 8)]:
        X = rng.normal(size=(n, d))
        y = X @ rng.normal(size=d) + 0.7 + 0.1 * rng.normal(size=n)
        A = torch.tensor(a3["with_bias_column"](X))
        want = torch.linalg.lstsq(A, torch.tensor(y)[:, None]).solution[:, 0]
        close(a3["fit_normal_equations"](X, y), want.numpy(), rtol=1e-9, atol=1e-10)
    X = rng.normal(size=(40, 3))
    y = X @ rng.normal(size=3) - 0.4 + 0.1 * rng.normal(size=40)
    theta, losses = a3["fit_gradient_descent"](X, y, lr=0.05, steps=25)
    t = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    A, yt = torch.tensor(a3["with_bias_column"](X)), torch.tensor(y)
    want_losses = []
    for _ in range(25):
        loss = ((A @ t - yt) ** 2).mean()
        loss.backward()
        want_losses.append(loss.item())
        with torch.no_grad():
            t -= 0.05 * t.grad
            t.grad = None
    close(theta, t.detach().numpy())
    close(losses, want_losses)


def test_a3_polynomial_fit_equals_numpy(a3):
    rng = np.random.default_rng(22)
    for n, degree in [(3, 0), (12, 2), (30, 5), (9, 8)]:
        x = rng.uniform(-1, 1, size=n)
        y = np.sin(3 * x) + 0.1 * rng.normal(size=n)
        close(a3["polynomial_features"](x, degree), np.vander(x, degree + 1, increasing=True), rtol=1e-14)
        close(a3["fit_polynomial"](x, y, degree), np.polynomial.polynomial.polyfit(x, y, degree), rtol=1e-7, atol=1e-8)


def test_a3_linear_layer_equals_the_library_init_and_torch(a3):
    Tensor = a3["Tensor"]
    for k, (n_in, n_out, how) in enumerate([(1, 1, "he"), (5, 3, "he"), (7, 4, "xavier"), (64, 10, "xavier")]):
        layer = a3["Linear"](n_in, n_out, np.random.default_rng(k), init=how)
        draw = {"he": library_init.he_uniform, "xavier": library_init.xavier_uniform}[how]
        close(layer.weight.data, draw((n_out, n_in), np.random.default_rng(k)), rtol=1e-6)
        x = np.random.default_rng(100 + k).normal(size=(6, n_in))
        xt = Tensor(x, requires_grad=True)
        out = layer(xt)
        (out * out).sum().backward()
        tw = torch.tensor(layer.weight.data.astype(np.float64), requires_grad=True)
        tb = torch.tensor(layer.bias.data.astype(np.float64), requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        want = torch.nn.functional.linear(tx, tw, tb)
        (want * want).sum().backward()
        close(out.data, want.detach().numpy(), rtol=1e-5, atol=1e-6)  # the weights are float32
        close(layer.weight.grad, tw.grad.numpy(), rtol=1e-5, atol=1e-5)
        close(xt.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    shared = a3["Linear"](2, 2, np.random.default_rng(0))
    net = a3["Sequential"](shared, [a3["Linear"](2, 3, np.random.default_rng(1)), shared],
                           a3["Sequential"](), a3["Sequential"](a3["Linear"](3, 1, np.random.default_rng(2))))
    assert [tuple(p.shape) for p in net.parameters()] == [(2, 2), (2,), (3, 2), (3,), (1, 3), (1,)]


def test_a3_activations_equal_torch(a3):
    rng = np.random.default_rng(23)
    x = np.concatenate([rng.normal(scale=3.0, size=(4, 5)), np.array([[-300.0, -30.0, 0.5, 30.0, 300.0]])])
    g = rng.normal(size=x.shape)
    for module, reference in [(a3["ReLU"](), torch.relu), (a3["Sigmoid"](), torch.sigmoid), (a3["Tanh"](), torch.tanh),
                              (a3["Arctan"](), torch.atan), (a3["Softmax"](axis=0), lambda t: torch.softmax(t, dim=0)),
                              (a3["Softmax"](axis=1), lambda t: torch.softmax(t, dim=1))]:
        mine = a3["Tensor"](x, requires_grad=True)
        out = module(mine)
        (out * a3["Tensor"](g)).sum().backward()
        t = torch.tensor(x, requires_grad=True)
        want = reference(t)
        (want * torch.tensor(g)).sum().backward()
        close(out.data, want.detach().numpy(), rtol=1e-10)
        close(mine.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_a3_sgd_equals_torch_sgd(a3):
    Tensor, rng = a3["Tensor"], np.random.default_rng(24)
    for lr, momentum in [(0.1, 0.0), (0.05, 0.9), (0.3, 0.5)]:
        A, target = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
        w0, b0 = rng.normal(size=(3, 2)), rng.normal(size=(2,))
        w, b = Tensor(w0.copy(), requires_grad=True), Tensor(b0.copy(), requires_grad=True)
        optimizer = a3["SGD"]([w, b], lr=lr, momentum=momentum)
        tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
        torch_optimizer = torch.optim.SGD([tw, tb], lr=lr, momentum=momentum)
        for _ in range(6):
            optimizer.zero_grad()
            (((Tensor(A) @ w + b) - target) ** 2).mean().backward()
            optimizer.step()
            torch_optimizer.zero_grad()
            (((torch.tensor(A) @ tw + tb) - torch.tensor(target)) ** 2).mean().backward()
            torch_optimizer.step()
        close(w.data, tw.detach().numpy())
        close(b.data, tb.detach().numpy())


def test_a3_train_epoch_equals_torch(a3):
    rng = np.random.default_rng(25)
    X, y = rng.normal(size=(23, 4)), rng.integers(0, 3, size=23)
    model = a3["Sequential"](a3["Linear"](4, 5, np.random.default_rng(1)), a3["ReLU"](),
                             a3["Linear"](5, 3, np.random.default_rng(2)))
    for p in model.parameters():  # float64, so that torch can agree to many digits
        p.data = p.data.astype(np.float64)
    weights = [p.data.copy() for p in model.parameters()]
    mean_loss = a3["train_epoch"](model, a3["SGD"](model.parameters(), lr=0.2, momentum=0.5), X, y, 5,
                                  np.random.default_rng(11))
    params = [torch.tensor(w, requires_grad=True) for w in weights]
    optimizer = torch.optim.SGD(params, lr=0.2, momentum=0.5)
    order, losses = np.random.default_rng(11).permutation(23), []
    for start in range(0, 23, 5):
        batch = order[start:start + 5]
        hidden = torch.relu(torch.tensor(X[batch]) @ params[0].T + params[1])
        loss = torch.nn.functional.cross_entropy(hidden @ params[2].T + params[3], torch.tensor(y[batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    close(mean_loss, np.mean(losses))
    for mine, theirs in zip(model.parameters(), params):
        close(mine.data, theirs.detach().numpy(), rtol=1e-9)
