"""Tests for forward mode (``Dual``, ``derivative``, ``jvp``).

Oracles: torch.autograd / torch.func.jvp, and closed-form derivatives.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradkit.autodiff.dual import Dual, derivative, jvp, stack

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
FEW = settings(max_examples=25, deadline=None)


def floats(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


# (name, function written once for Dual and torch, safe domain)
SCALAR_OPS = [
    ("+ number", lambda a: a + 2.0, floats(-5, 5)),
    ("number +", lambda a: 2.0 + a, floats(-5, 5)),
    ("- number", lambda a: a - 2.0, floats(-5, 5)),
    ("number -", lambda a: 2.0 - a, floats(-5, 5)),
    ("* number", lambda a: a * 3.0, floats(-5, 5)),
    ("number *", lambda a: 3.0 * a, floats(-5, 5)),
    ("/ number", lambda a: a / 4.0, floats(-5, 5)),
    ("number /", lambda a: 4.0 / a, floats(0.2, 5)),
    ("a * a", lambda a: a * a, floats(-5, 5)),
    ("a / (a*a + 1)", lambda a: a / (a * a + 1.0), floats(-5, 5)),
    ("a - a*a", lambda a: a - a * a, floats(-5, 5)),
    ("** 3", lambda a: a**3, floats(-3, 3)),
    ("** 0.5", lambda a: a**0.5, floats(0.1, 5)),
    ("** -1.5", lambda a: a**-1.5, floats(0.2, 5)),
    ("neg", lambda a: -a, floats(-5, 5)),
    ("exp", lambda a: a.exp(), floats(-5, 5)),
    ("log", lambda a: a.log(), floats(0.1, 10)),
    ("sin", lambda a: a.sin(), floats(-5, 5)),
    ("cos", lambda a: a.cos(), floats(-5, 5)),
    ("tanh", lambda a: a.tanh(), floats(-5, 5)),
    ("sigmoid", lambda a: a.sigmoid(), floats(-30, 30)),
    ("relu", lambda a: a.relu(), floats(-5, 5).filter(lambda x: abs(x) > 1e-3)),
]


def to_torch(array):
    return torch.as_tensor(array, dtype=torch.float64, device=DEVICE)


def torch_derivative(fn, x):
    t = torch.tensor(x, dtype=torch.float64, device=DEVICE, requires_grad=True)
    out = fn(t)
    out.backward()
    return out.item(), t.grad.item()


@pytest.mark.parametrize("name,fn,domain", SCALAR_OPS, ids=[op[0] for op in SCALAR_OPS])
def test_scalar_op_matches_torch(name, fn, domain):
    @FEW
    @given(domain)
    def check(x):
        out = fn(Dual(x, 1.0))
        torch_value, torch_grad = torch_derivative(fn, x)
        assert float(out.value) == pytest.approx(torch_value, rel=1e-9, abs=1e-12)
        assert float(out.tangent) == pytest.approx(torch_grad, rel=1e-9, abs=1e-12)
        assert derivative(fn, x) == pytest.approx(torch_grad, rel=1e-9, abs=1e-12)

    check()


@FEW
@given(floats(-100, 100))
def test_x_squared_plus_one_has_derivative_2x(x):
    assert derivative(lambda t: t**2 + 1, x) == pytest.approx(2 * x)
    out = Dual(x, 1.0) * Dual(x, 1.0) + 1
    assert (out.value, out.tangent) == pytest.approx((x * x + 1, 2 * x))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
@FEW
@given(
    hnp.arrays(np.float64, st.integers(1, 5), elements=floats(-2, 2)),
    st.integers(0, 2**32 - 1),
)
def test_elementwise_ops_on_dual_vectors_match_torch(x, seed):
    v = np.random.default_rng(seed).normal(size=x.shape)

    def f(a):
        return ((a * a + 1.0).log() + a.sin() * a.cos() - a.tanh() / 2.0 + (a * 3.0).sigmoid() + a.relu()).exp()

    value, tangent = jvp(f, x, v)
    torch_value, torch_tangent = torch.func.jvp(f, (to_torch(x),), (to_torch(v),))
    np.testing.assert_allclose(value, torch_value.cpu().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(tangent, torch_tangent.cpu().numpy(), rtol=1e-9, atol=1e-12)


def test_jvp_of_a_vector_function_matches_the_torch_jacobian():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 4))
    B = rng.normal(size=(4, 2))
    x = rng.normal(size=4)
    v = rng.normal(size=4)

    def f(z):
        h = (A @ z).tanh()  # constant matrix on the left: Dual.__rmatmul__
        return stack([h[0] * z[1], h.sum(), (z @ B)[1] ** 2, 1.0])

    value, tangent = jvp(f, x, v)

    def f_torch(z):
        h = torch.tanh(to_torch(A) @ z)
        one = torch.ones((), dtype=z.dtype, device=z.device)
        return torch.stack([h[0] * z[1], h.sum(), (z @ to_torch(B))[1] ** 2, one])

    x_t = to_torch(x)
    J = torch.autograd.functional.jacobian(f_torch, x_t).cpu().numpy()
    np.testing.assert_allclose(value, f_torch(x_t).cpu().numpy(), rtol=1e-12)
    np.testing.assert_allclose(tangent, J @ v, rtol=1e-9, atol=1e-12)
    assert value.shape == tangent.shape == (4,)


def test_dual_vector_indexing_length_shape_sum_and_matmul():
    d = Dual(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, -1.0]))
    assert len(d) == 3 and d.shape == (3,)
    first = d[0]
    assert isinstance(first, Dual) and (first.value, first.tangent) == (1.0, 1.0)
    tail = d[1:]
    np.testing.assert_array_equal(tail.value, [2.0, 3.0])
    total = d.sum()
    assert (total.value, total.tangent) == (6.0, 0.0)
    M = np.arange(6.0).reshape(3, 2)
    right = d @ M
    np.testing.assert_allclose(right.tangent, np.array([1.0, 0.0, -1.0]) @ M)
    dot = d @ d  # product rule through @: 2 * x . v
    assert (dot.value, dot.tangent) == (14.0, 2 * (1.0 - 3.0))


def test_stack_and_scalar_tangent_broadcast():
    s = stack([Dual(1.0, 2.0), Dual(3.0), 5.0])
    np.testing.assert_array_equal(s.value, [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(s.tangent, [2.0, 0.0, 0.0])
    constant = Dual(np.ones((2, 2)))
    assert constant.tangent.shape == (2, 2) and not constant.tangent.any()


def test_derivative_of_a_constant_function_is_zero():
    assert derivative(lambda x: 3.0, 1.0) == 0.0
    value, tangent = jvp(lambda x: np.ones(2), np.zeros(3), np.ones(3))
    np.testing.assert_array_equal(tangent, [0.0, 0.0])


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: Dual(0.0).log(), ValueError, ["log", "positive"]),
        (lambda: Dual(np.array([1.0, -1.0])).log(), ValueError, ["log", "-1."]),
        (lambda: Dual(2.0) ** Dual(3.0), TypeError, ["**", "not supported"]),
        (lambda: 2.0 ** Dual(3.0), TypeError, ["**", "not supported"]),
        (lambda: Dual(-8.0) ** 0.5, ValueError, ["**", "negative"]),
        (lambda: Dual(1.0) / 0.0, ZeroDivisionError, ["/", "zero"]),
        (lambda: Dual(1.0) + "a", TypeError, ["+", "str"]),
        (lambda: Dual("a"), TypeError, ["Dual value", "str"]),
        (lambda: Dual(np.zeros(3), np.zeros(2)), ValueError, ["tangent", "(2,)", "(3,)"]),
        (lambda: len(Dual(1.0)), TypeError, ["len", "scalar"]),
        (lambda: Dual(1.0)[0], TypeError, ["index", "scalar"]),
        (lambda: derivative(lambda x: x, np.ones(2)), TypeError, ["derivative", "jvp"]),
        (lambda: jvp(lambda x: x, np.ones(3), np.ones(2)), ValueError, ["jvp", "(2,)", "(3,)"]),
        (lambda: stack([]), ValueError, ["stack", "empty"]),
    ],
)
def test_bad_input_raises_a_clear_error(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value)
