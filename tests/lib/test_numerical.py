"""Tests for finite differences and ``gradcheck``.

Oracles: closed-form derivatives, torch.autograd, and the known error orders
O(h) (forward difference) and O(h^2) (central difference).
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradkit.autodiff.numerical import (
    GradcheckError,
    central_difference,
    forward_difference,
    gradcheck,
    numerical_gradient,
)
from gradkit.autodiff.value import Value

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
FEW = settings(max_examples=15, deadline=None)


def test_central_difference_is_more_accurate_than_forward():
    x, exact = 1.0, math.cos(1.0)
    h = 1e-3
    forward_error = abs(forward_difference(math.sin, x, h) - exact)
    central_error = abs(central_difference(math.sin, x, h) - exact)
    assert central_error < forward_error / 100


def test_error_orders_are_h_and_h_squared():
    # Halving h halves the forward error (O(h)) and quarters the central one (O(h^2)).
    x, exact = 0.7, math.exp(0.7)
    h = 1e-2
    forward_ratio = abs(forward_difference(math.exp, x, h) - exact) / abs(forward_difference(math.exp, x, h / 2) - exact)
    central_ratio = abs(central_difference(math.exp, x, h) - exact) / abs(central_difference(math.exp, x, h / 2) - exact)
    assert forward_ratio == pytest.approx(2.0, rel=0.05)
    assert central_ratio == pytest.approx(4.0, rel=0.05)


@FEW
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_numerical_gradient_matches_closed_form_and_torch(m, n, seed):
    rng = np.random.default_rng(seed)
    W, x = rng.normal(size=(m, n)), rng.normal(size=n)
    W_before, x_before = W.copy(), x.copy()

    def f(W, x):
        return np.tanh(W @ x).sum()

    grad_W, grad_x = numerical_gradient(f, W, x)
    slope = 1.0 - np.tanh(W @ x) ** 2  # closed form: d tanh = 1 - tanh^2
    np.testing.assert_allclose(grad_W, np.outer(slope, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grad_x, W.T @ slope, rtol=1e-6, atol=1e-8)

    W_t = torch.tensor(W, device=DEVICE, requires_grad=True)
    x_t = torch.tensor(x, device=DEVICE, requires_grad=True)
    torch.tanh(W_t @ x_t).sum().backward()
    np.testing.assert_allclose(grad_W, W_t.grad.cpu().numpy(), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grad_x, x_t.grad.cpu().numpy(), rtol=1e-6, atol=1e-8)

    # The inputs are left untouched, and the gradients keep their shapes.
    np.testing.assert_array_equal(W, W_before)
    np.testing.assert_array_equal(x, x_before)
    assert grad_W.shape == (m, n) and grad_x.shape == (n,)


def test_forward_method_is_close_but_less_accurate():
    x = np.array([0.3, -1.2, 2.0])
    exact = np.cos(x)
    (forward,) = numerical_gradient(lambda x: np.sin(x).sum(), x, eps=1e-4, method="forward")
    (central,) = numerical_gradient(lambda x: np.sin(x).sum(), x, eps=1e-4, method="central")
    np.testing.assert_allclose(forward, exact, atol=1e-4)
    assert np.max(np.abs(central - exact)) < np.max(np.abs(forward - exact))


def test_numerical_gradient_of_python_numbers_and_integer_arrays():
    grad_a, grad_b = numerical_gradient(lambda a, b: a * b[0] + b[1] ** 2, 3.0, [1, 2])
    assert grad_a.shape == () and float(grad_a) == pytest.approx(1.0)
    np.testing.assert_allclose(grad_b, [3.0, 4.0], rtol=1e-6)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: numerical_gradient(lambda x: x.sum(), np.ones(2), eps=0.0), ["numerical_gradient", "positive", "0.0"]),
        (lambda: numerical_gradient(lambda x: x.sum(), np.ones(2), method="backward"), ["method", "'backward'"]),
        (lambda: numerical_gradient(lambda x: x * 2, np.ones(2)), ["scalar", "(2,)"]),
        (lambda: forward_difference(math.sin, 1.0, -1e-3), ["forward_difference", "positive"]),
        (lambda: central_difference(math.sin, 1.0, 0), ["central_difference", "positive"]),
        (lambda: gradcheck(lambda: Value(1.0)), ["gradcheck", "at least one input"]),
        (lambda: gradcheck(lambda a: 2.0, 1.0), ["gradcheck", "must return a Value"]),
    ],
)
def test_bad_arguments_raise_a_clear_error(call, words):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    for word in words:
        assert word in str(info.value)


# ----- gradcheck on Values -----


def bad_sin(v):
    """sin with a planted bug in its backward: it stores sin(x) instead of cos(x)."""
    return Value(math.sin(v.data), (v,), (math.sin(v.data),), "sin")


def test_gradcheck_passes_for_correct_value_gradients():
    report = gradcheck(lambda a, b: (a * b + a.sin()).tanh() / (b * b + 1.0), 0.8, Value(-1.3))
    assert report and report.passed and report.first_mismatch is None
    assert len(report.max_errors) == 2 and max(report.max_errors) < 1e-6


def test_gradcheck_finds_a_planted_bug_and_names_input_index_and_values():
    a, b = 1.2, 0.5

    def f(x, y):
        return x * y + bad_sin(y)

    right, wrong = a + math.cos(b), a + math.sin(b)
    with pytest.raises(GradcheckError) as info:
        gradcheck(f, a, b)
    message = str(info.value)
    assert "input 1" in message and "index ()" in message
    assert f"analytic {wrong:.6g}" in message and f"numerical {right:.6g}" in message

    report = gradcheck(f, a, b, raise_exception=False)
    assert not report and report.passed is False
    m = report.first_mismatch
    assert (m.input_position, m.index) == (1, ())
    assert m.analytic == pytest.approx(wrong) and m.numerical == pytest.approx(right, rel=1e-6)
    assert report.max_errors[0] < 1e-6 and report.max_errors[1] == pytest.approx(abs(right - wrong), rel=1e-5)


def test_gradcheck_fails_on_a_nan_gradient():
    def f(x):
        return Value(x.data, (x,), (float("nan"),), "broken")

    report = gradcheck(f, 1.0, raise_exception=False)
    assert not report.passed and report.first_mismatch.input_position == 0


# ----- gradcheck on Tensors (gradkit.autodiff.tensor) -----


def test_gradcheck_passes_for_a_tensor_function():
    from gradkit.autodiff.tensor import Tensor  # noqa: F401  (the mode under test needs it)

    rng = np.random.default_rng(1)
    W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    report = gradcheck(lambda W, x: (W @ x).exp().sum() + (W * W).sum(), W, x)
    assert report.passed and len(report.max_errors) == 2


def test_gradcheck_names_the_tensor_entry_with_a_planted_bug():
    from gradkit.autodiff.tensor import Tensor

    W = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])

    def f(W):
        # Bug: the second factor is rebuilt from raw data, so no gradient flows
        # through it; the analytic gradient is W instead of 2W.
        return (W * Tensor(W.data)).sum()

    with pytest.raises(GradcheckError) as info:
        gradcheck(f, W)
    message = str(info.value)
    assert "input 0" in message and "index (0, 0)" in message
    assert "analytic 0.5 vs numerical 1 " in message  # W[0, 0] instead of 2 W[0, 0]

    report = gradcheck(f, W, raise_exception=False)
    assert report.first_mismatch.index == (0, 0)
    assert report.max_errors[0] == pytest.approx(np.abs(W).max(), rel=1e-6)
