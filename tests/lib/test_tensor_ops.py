"""Every Tensor op's value and gradient, against torch.autograd and central differences.

Two independent oracles:

- torch.autograd in float64 on the same random inputs, with hypothesis drawing
  shapes (broadcast-compatible pairs for the element-wise binary ops) and a
  random upstream gradient, so the whole vector-Jacobian product is checked;
- ``gradkit.gradcheck`` (central differences in float64) on a fixed small
  shape per op, which needs no other autodiff library at all.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradkit import Tensor, concatenate, gradcheck, no_grad, stack
from gradkit.autodiff import is_grad_enabled

FAST = settings(max_examples=40, deadline=None)

# ----- input domains: each op sees values where it is smooth -----


def any_real(rng, shape):
    return rng.standard_normal(shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(rng, shape):
    """|x| >= 0.3: relu's kink and 1/x's pole stay far from the finite-difference step."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 2.0, shape)


# ----- the comparison with torch -----


def compare_with_torch(ours, theirs, *arrays, rtol=1e-7, atol=1e-9):
    """Run ``ours`` on gradkit Tensors and ``theirs`` on torch tensors (float64)
    with the same inputs and upstream gradient; assert values and gradients agree."""
    g_inputs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    t_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    g_out = ours(*g_inputs)
    t_out = theirs(*t_inputs)
    np.testing.assert_allclose(g_out.data, t_out.detach().numpy(), rtol=rtol, atol=atol)
    assert g_out.shape == tuple(t_out.shape)

    upstream = np.random.default_rng(1).standard_normal(g_out.shape)
    g_out.backward(upstream)
    t_out.backward(torch.from_numpy(upstream))
    for position, (g, t) in enumerate(zip(g_inputs, t_inputs)):
        expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(g.shape) if g.grad is None else g.grad
        assert got.shape == expected.shape, f"input {position}"
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=f"input {position}")


def check_numerically(op, *arrays):
    """gradcheck needs a scalar: weight the op's output by fixed random numbers."""
    out_shape = op(*[Tensor(a) for a in arrays]).shape
    weights = np.random.default_rng(2).standard_normal(out_shape)
    gradcheck(lambda *ts: (op(*ts) * weights).sum(), *arrays)


small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)

# ----- element-wise unary ops -----

UNARY = {
    "exp": (lambda x: x.exp(), torch.exp, any_real),
    "log": (lambda x: x.log(), torch.log, positive),
    "sin": (lambda x: x.sin(), torch.sin, any_real),
    "cos": (lambda x: x.cos(), torch.cos, any_real),
    "tanh": (lambda x: x.tanh(), torch.tanh, any_real),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid, any_real),
    "relu": (lambda x: x.relu(), torch.relu, away_from_zero),
    "neg": (lambda x: -x, lambda x: -x, any_real),
    "square": (lambda x: x**2, lambda x: x**2, any_real),
    "cube": (lambda x: x**3, lambda x: x**3, any_real),
    "sqrt": (lambda x: x**0.5, torch.sqrt, positive),
    "pow_neg": (lambda x: x**-1.5, lambda x: x**-1.5, positive),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FAST
@given(shape=small_shapes, seed=seeds)
def test_unary_matches_torch(name, shape, seed):
    ours, theirs, domain = UNARY[name]
    compare_with_torch(ours, theirs, domain(np.random.default_rng(seed), shape))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_numerical(name):
    ours, _, domain = UNARY[name]
    check_numerically(ours, domain(np.random.default_rng(3), (2, 3)))


def test_sigmoid_does_not_overflow():
    x = Tensor(np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0]), requires_grad=True)
    y = x.sigmoid()
    expected = torch.sigmoid(torch.tensor(x.data)).numpy()
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=0)
    y.sum().backward()
    assert np.all(np.isfinite(x.grad))


# ----- element-wise binary ops with broadcasting -----

BINARY = {
    "add": (lambda a, b: a + b, any_real),
    "sub": (lambda a, b: a - b, any_real),
    "mul": (lambda a, b: a * b, any_real),
    "div": (lambda a, b: a / b, away_from_zero),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(shapes=pairs, seed=seeds)
def test_binary_broadcasting_matches_torch(name, shapes, seed):
    op, domain = BINARY[name]
    rng = np.random.default_rng(seed)
    shape_a, shape_b = shapes.input_shapes
    compare_with_torch(op, op, domain(rng, shape_a), domain(rng, shape_b))


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 1, 3), (4, 1)), ((3,), (2, 1, 3)), ((), (2, 2))])
def test_binary_numerical(name, shapes):
    op, domain = BINARY[name]
    rng = np.random.default_rng(4)
    check_numerically(op, domain(rng, shapes[0]), domain(rng, shapes[1]))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_constants_on_either_side(name):
    """Numbers and numpy arrays mix with Tensors from the left and the right."""
    op, domain = BINARY[name]
    rng = np.random.default_rng(5)
    x, array = domain(rng, (3, 4)), domain(rng, (4,))
    for constant in (2.5, array):
        compare_with_torch(lambda t: op(t, constant), lambda t: op(t, torch.as_tensor(constant)), x)
        compare_with_torch(lambda t: op(constant, t), lambda t: op(torch.as_tensor(constant), t), x)


# ----- matrix products -----

MATMUL_SHAPES = {
    "2d": ((3, 4), (4, 5)),
    "batched": ((2, 3, 4), (2, 4, 5)),
    "batch_broadcast": ((2, 1, 3, 4), (5, 4, 2)),
    "matrix_to_batch": ((3, 4), (2, 4, 5)),
    "vector_matrix": ((4,), (4, 5)),
    "matrix_vector": ((3, 4), (4,)),
    "vector_vector": ((4,), (4,)),
    "vector_batch": ((4,), (2, 4, 5)),
    "batch_vector": ((2, 3, 4), (4,)),
}


@pytest.mark.parametrize("case", sorted(MATMUL_SHAPES))
def test_matmul_matches_torch(case):
    rng = np.random.default_rng(6)
    a, b = (rng.standard_normal(s) for s in MATMUL_SHAPES[case])
    compare_with_torch(lambda x, y: x @ y, lambda x, y: x @ y, a, b)


@pytest.mark.parametrize("case", ["2d", "batch_broadcast", "vector_matrix", "matrix_vector", "vector_vector"])
def test_matmul_numerical(case):
    rng = np.random.default_rng(7)
    check_numerically(lambda x, y: x @ y, *(rng.standard_normal(s) for s in MATMUL_SHAPES[case]))


def test_matmul_with_constant_arrays():
    rng = np.random.default_rng(8)
    x, m = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    compare_with_torch(lambda t: t @ m, lambda t: t @ torch.from_numpy(m), x)
    compare_with_torch(lambda t: m.T @ t.T, lambda t: torch.from_numpy(m.T) @ t.T, x)


# ----- reductions -----


@st.composite
def shape_and_axis(draw):
    """A shape with at least one axis, and None, one axis or a tuple of axes."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape), unique_by=lambda a: a % len(shape)))
    axis = draw(st.sampled_from([None, tuple(axes)] + ([axes[0]] if axes else [])))
    return shape, axis


REDUCTIONS = {
    "sum": (lambda x, axis, keep: x.sum(axis=axis, keepdims=keep), lambda x, axis, keep: x.sum(dim=axis, keepdim=keep)),
    "mean": (lambda x, axis, keep: x.mean(axis=axis, keepdims=keep), lambda x, axis, keep: x.mean(dim=axis, keepdim=keep)),
    # torch.amax, like ours, splits the gradient evenly among tied maxima.
    "max": (lambda x, axis, keep: x.max(axis=axis, keepdims=keep), lambda x, axis, keep: torch.amax(x, dim=axis if axis is not None else (), keepdim=keep)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@FAST
@given(case=shape_and_axis(), keepdims=st.booleans(), seed=seeds)
def test_reduction_matches_torch(name, case, keepdims, seed):
    shape, axis = case
    ours, theirs = REDUCTIONS[name]
    if axis == ():  # numpy: reduce over nothing; torch: reduce over everything
        return
    x = np.random.default_rng(seed).standard_normal(shape)
    compare_with_torch(lambda t: ours(t, axis, keepdims), lambda t: theirs(t, axis, keepdims), x)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_numerical(name, axis, keepdims):
    ours, _ = REDUCTIONS[name]
    x = np.random.default_rng(9).standard_normal((2, 3, 2))
    check_numerically(lambda t: ours(t, axis, keepdims), x)


def test_max_splits_gradient_among_ties():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


# ----- softmax and log_softmax -----


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@FAST
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), seed=seeds, data=st.data())
def test_softmax_matches_torch(name, shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    compare_with_torch(
        lambda t: getattr(t, name)(axis=axis), lambda t: getattr(torch, name)(t, dim=axis), x
    )


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_numerical(name, axis):
    x = np.random.default_rng(10).standard_normal((3, 4))
    check_numerically(lambda t: getattr(t, name)(axis=axis), x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_for_huge_inputs(name, dtype):
    x = (np.random.default_rng(11).standard_normal((4, 6)) * 100 + 1e4).astype(dtype)
    x[0] = -x[0]  # a row near -1e4 as well
    ours = Tensor(x, requires_grad=True)
    out = getattr(ours, name)(axis=1)
    weights = np.random.default_rng(12).standard_normal(x.shape).astype(dtype)
    (out * weights).sum().backward()
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(ours.grad))

    theirs = torch.tensor(x, requires_grad=True)
    t_out = getattr(torch, name)(theirs, dim=1)
    (t_out * torch.from_numpy(weights)).sum().backward()
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=tol, atol=tol)


# ----- shapes, indexing, joining -----

SHAPE_OPS = {
    "reshape": (lambda t: t.reshape(4, 6), lambda t: t.reshape(4, 6)),
    "reshape_tuple_infer": (lambda t: t.reshape((3, -1)), lambda t: t.reshape(3, -1)),
    "transpose_default": (lambda t: t.transpose(), lambda t: t.permute(2, 1, 0)),
    "transpose_axes": (lambda t: t.transpose(1, 0, 2), lambda t: t.permute(1, 0, 2)),
    "permute": (lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    "permute_negative": (lambda t: t.permute(-1, 0, 1), lambda t: t.permute(-1, 0, 1)),
    "T": (lambda t: t.T, lambda t: t.permute(2, 1, 0)),
    "int": (lambda t: t[1], lambda t: t[1]),
    "slices": (lambda t: t[:, 1:, ::2], lambda t: t[:, 1:, ::2]),
    "negative_int": (lambda t: t[-1, :, 2], lambda t: t[-1, :, 2]),
    "repeated_ints": (lambda t: t[np.array([0, 1, 0, 0])], lambda t: t[torch.tensor([0, 1, 0, 0])]),
    "int_array_list": (lambda t: t[:, [2, 2, 0]], lambda t: t[:, [2, 2, 0]]),
    "paired_arrays": (
        lambda t: t[np.array([0, 1, 1]), np.array([2, 2, 2])],
        lambda t: t[torch.tensor([0, 1, 1]), torch.tensor([2, 2, 2])],
    ),
    "array_and_slice": (lambda t: t[np.array([1, 1]), :, 1:3], lambda t: t[torch.tensor([1, 1]), :, 1:3]),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_matches_torch(name):
    ours, theirs = SHAPE_OPS[name]
    compare_with_torch(ours, theirs, np.random.default_rng(13).standard_normal((2, 3, 4)))


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op_numerical(name):
    check_numerically(SHAPE_OPS[name][0], np.random.default_rng(14).standard_normal((2, 3, 4)))


def test_repeated_index_accumulates():
    x = Tensor(np.arange(3.0), requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack_match_torch(axis):
    rng = np.random.default_rng(15)
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    compare_with_torch(
        lambda *ts: concatenate(ts, axis=axis), lambda *ts: torch.cat(ts, dim=axis), a, b, c
    )
    compare_with_torch(lambda *ts: stack(ts, axis=axis), lambda *ts: torch.stack(ts, dim=axis), a, b, c)


def test_concatenate_uneven_sizes_numerical():
    rng = np.random.default_rng(16)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 1))
    check_numerically(lambda x, y: concatenate([x, y], axis=1), a, b)
    check_numerically(lambda x, y: stack([x, x * y], axis=1), a, np.broadcast_to(b, a.shape).copy())


# ----- the worked example from the lecture -----


def test_sigmoid_neuron_example():
    """f = sigmoid(w0*x0 + w1*x1 + w2): value 0.73, gradients from the lecture."""
    w = Tensor(np.array([2.0, -3.0]), requires_grad=True)
    x = Tensor(np.array([-1.0, -2.0]), requires_grad=True)
    b = Tensor(np.array(-3.0), requires_grad=True)
    f = ((w * x).sum() + b).sigmoid()
    f.backward()
    assert round(f.item(), 2) == 0.73
    got = (w.grad[0], x.grad[0], w.grad[1], x.grad[1], b.grad.item())
    np.testing.assert_array_equal(np.round(got, 2), [-0.20, 0.39, -0.39, -0.59, 0.20])

    tw, tx, tb = (torch.tensor(t.data, requires_grad=True) for t in (w, x, b))
    torch.sigmoid((tw * tx).sum() + tb).backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-12)


def test_mlp_loss_matches_torch():
    """The pieces together: linear layers, relu, log_softmax + indexing cross-entropy."""
    rng = np.random.default_rng(17)
    x, labels = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    params = [rng.standard_normal((5, 4)), rng.standard_normal(4), rng.standard_normal((4, 3)), rng.standard_normal(3)]

    def ours(w1, b1, w2, b2):
        logits = (x @ w1 + b1).relu() @ w2 + b2
        return -logits.log_softmax(axis=1)[np.arange(8), labels].mean()

    def theirs(w1, b1, w2, b2):
        logits = torch.relu(torch.from_numpy(x) @ w1 + b1) @ w2 + b2
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels))

    compare_with_torch(ours, theirs, *params)


# ----- graph bookkeeping: no_grad, detach, accumulation, retain_graph -----


def test_no_grad_records_nothing():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2).exp().sum()
    assert is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_as_decorator_restores_state():
    @no_grad()
    def double(t):
        assert not is_grad_enabled()
        return t * 2

    y = double(Tensor(np.ones(2), requires_grad=True))
    assert not y.requires_grad and is_grad_enabled()


def test_detach_cuts_the_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x
    z = (y.detach() * x).sum()  # only the direct x path carries gradient
    z.backward()
    np.testing.assert_array_equal(x.grad, y.data)


def test_gradients_accumulate_until_zeroed():
    rng = np.random.default_rng(18)
    x = Tensor(rng.standard_normal(4), requires_grad=True)
    loss = (x.sin() * x).sum()
    loss.backward(retain_graph=True)
    once = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * once)
    x.zero_grad()
    assert x.grad is None


def test_shared_subexpression_gets_both_paths():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    y = x.exp()
    (y * y + y).sum().backward()  # d/dx (e^2x + e^x) = 2 e^2x + e^x
    np.testing.assert_allclose(x.grad, 2 * np.exp(2 * x.data) + np.exp(x.data))


def test_long_chain_needs_no_recursion():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001**5000)


# ----- dtypes -----


def test_dtypes():
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([[1, 2], [3, 4]]).dtype == np.float32
    assert Tensor(np.arange(3)).dtype == np.float32
    assert Tensor(np.ones(2, dtype=np.float32)).dtype == np.float32
    assert Tensor(np.ones(2)).dtype == np.float64
    assert Tensor(np.array([True, False]), dtype=np.float32).dtype == np.float32
    x = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    y = ((x * 0.5 + np.float64(2.0)) ** 2).log_softmax().sum()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_repr_item_numpy():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=Mul" in repr(x * 2)
    assert Tensor([[3.0]]).item() == 3.0
    assert x.numpy() is x.data
    assert x.shape == (2,) and x.ndim == 1 and x.size == 2 and len(x) == 2
