"""Jacobians by forward and reverse mode agree with torch, and cost n and m passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradkit import jacobian

RNG = np.random.default_rng(0)
A = RNG.standard_normal((5, 3))  # used by an R^3 -> R^5 map
B = RNG.standard_normal((2, 6))  # used by an R^6 -> R^2 map


def as_constant(matrix, x):
    """The constant in the framework of ``x``: a numpy array, or a torch tensor for torch."""
    return torch.from_numpy(matrix) if isinstance(x, torch.Tensor) else matrix


# Each f is written once and runs on a gradkit Tensor, a Dual and a torch tensor.
FUNCTIONS = {
    "tall_R3_to_R5": (lambda x: (as_constant(A, x) @ x.sin()).tanh() * x[0] + (as_constant(A, x) @ (x * x)).exp(), 3),
    "wide_R6_to_R2": (lambda x: (as_constant(B, x) @ x.sigmoid()) / (1 + x[2] * x[2]) - (as_constant(B, x) @ x).cos(), 6),
    "square_R4_to_R4": (lambda x: x.exp() * x[1] + (x * 0.5).relu() - x.log() * x.sum(), 4),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_jacobian_matches_torch(name, mode):
    f, n = FUNCTIONS[name]
    x = np.random.default_rng(1).uniform(0.2, 1.5, n)  # positive, for log
    expected = torch.autograd.functional.jacobian(f, torch.from_numpy(x)).numpy()
    J, passes = jacobian(f, x, mode=mode, return_passes=True)
    assert J.shape == expected.shape == (expected.shape[0], n)
    np.testing.assert_allclose(J, expected, rtol=1e-10, atol=1e-12)
    m = expected.shape[0]
    assert passes == (n if mode == "forward" else m)


def test_modes_cost_n_and_m_passes():
    f, n = FUNCTIONS["wide_R6_to_R2"]
    x = np.linspace(0.1, 0.6, n)
    _, forward_passes = jacobian(f, x, mode="forward", return_passes=True)
    J, reverse_passes = jacobian(f, x, mode="reverse", return_passes=True)
    assert (forward_passes, reverse_passes) == (6, 2)
    assert isinstance(jacobian(f, x), np.ndarray)  # reverse by default, no pass count


def test_scalar_output_gives_one_row():
    x = np.array([1.0, 2.0, 3.0])
    for mode in ("forward", "reverse"):
        J = jacobian(lambda v: (v * v).sum(), x, mode=mode)
        np.testing.assert_allclose(J, [2 * x])


def test_bad_mode_and_bad_point():
    with pytest.raises(ValueError, match=r"mode must be one of \('forward', 'reverse'\), got 'sideways'"):
        jacobian(lambda v: v, np.ones(2), mode="sideways")
    with pytest.raises(ValueError, match=r"1-D vector, got shape \(2, 2\)"):
        jacobian(lambda v: v, np.ones((2, 2)))
