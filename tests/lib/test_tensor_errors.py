"""Bad input to Tensor ops fails loudly, with a message naming the op and the shapes."""

from __future__ import annotations

import numpy as np
import pytest

from gradkit import Tensor, concatenate, stack


def test_add_shape_mismatch_names_op_and_shapes():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4,)))
    with pytest.raises(ValueError, match=r"add \(\+\).*\(2, 3\) and \(4,\)"):
        a + b


def test_matmul_shape_mismatch_names_op_and_shapes():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul \(@\).*inner dimensions.*\(2, 3\) and \(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"matmul \(@\).*\(3,\) and \(4,\)"):
        Tensor(np.ones(3)) @ Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"matmul \(@\).*at least 1-D"):
        Tensor(2.0) @ Tensor(np.ones(3))


def test_backward_on_non_scalar_names_the_shape():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\).*grad="):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))


@pytest.mark.parametrize(
    "data",
    [np.array([1 + 2j]), np.array(["a", "b"]), np.array([object()]), np.array([True, False]), [1j, 2j]],
    ids=["complex", "str", "object", "bool", "complex_list"],
)
def test_unsupported_dtype_names_dtype_and_accepted(data):
    with pytest.raises(TypeError, match=r"unsupported dtype .*accepted: float32, float64"):
        Tensor(data)


def test_unsupported_requested_dtype():
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int64"):
        Tensor([1, 2], dtype=np.int64)


def test_second_backward_through_freed_graph_names_the_op():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = x.exp().sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"'sum' was already freed.*retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = x.exp().sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp(x.data))


@pytest.mark.parametrize("method", ["sum", "mean", "max", "softmax", "log_softmax"])
def test_bad_axis_names_op_axis_and_shape(method):
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"{method}: axis 2 is out of range.*\(2, 3\)"):
        getattr(x, method)(axis=2)


def test_bad_permutation():
    with pytest.raises(ValueError, match=r"transpose.*not a permutation.*\(2, 3, 4\)"):
        Tensor(np.ones((2, 3, 4))).permute(0, 1)
    with pytest.raises(ValueError, match=r"transpose.*\(2, 3\)"):
        Tensor(np.ones((2, 3))).transpose(0, 0)


def test_bad_reshape_and_index():
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\)"):
        Tensor(np.ones((2, 3))).reshape(4, 2)
    with pytest.raises(IndexError, match=r"getitem.*\(2, 3\)"):
        Tensor(np.ones((2, 3)))[5]


def test_concatenate_and_stack_errors():
    with pytest.raises(ValueError, match="concatenate: needs at least one tensor"):
        concatenate([])
    with pytest.raises(ValueError, match=r"stack.*\(2, 3\) and \(3, 2\)"):
        stack([Tensor(np.ones((2, 3))), Tensor(np.ones((3, 2)))])


def test_tensor_exponent_and_item_errors():
    x = Tensor(np.ones(3))
    with pytest.raises(TypeError, match="exponent must be a real number"):
        x ** x
    with pytest.raises(ValueError, match=r"item.*shape \(3,\)"):
        x.item()
