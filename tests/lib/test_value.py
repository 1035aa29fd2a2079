"""Tests for scalar reverse mode (``Value``) and its graph drawing.

Oracles: torch.autograd, central differences, and closed-form derivatives.
"""

import io
import math
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from gradkit.autodiff.graph_plot import draw_graph
from gradkit.autodiff.numerical import numerical_gradient
from gradkit.autodiff.value import Value, topological_order

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
FEW = settings(max_examples=25, deadline=None)


def floats(low, high):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


# Each unary op: (name, Value function, torch function, safe input domain).
UNARY_OPS = [
    ("neg", lambda a: -a, lambda a: -a, floats(-5, 5)),
    ("exp", lambda a: a.exp(), torch.exp, floats(-5, 5)),
    ("log", lambda a: a.log(), torch.log, floats(0.1, 10)),
    ("sin", lambda a: a.sin(), torch.sin, floats(-5, 5)),
    ("cos", lambda a: a.cos(), torch.cos, floats(-5, 5)),
    ("tanh", lambda a: a.tanh(), torch.tanh, floats(-5, 5)),
    ("sigmoid", lambda a: a.sigmoid(), torch.sigmoid, floats(-10, 10)),
    # relu is not differentiable at 0; keep away from it.
    ("relu", lambda a: a.relu(), torch.relu, floats(-5, 5).filter(lambda x: abs(x) > 1e-3)),
    ("pow 3", lambda a: a**3, lambda a: a**3, floats(-3, 3)),
    ("pow 0.5", lambda a: a**0.5, lambda a: a**0.5, floats(0.1, 5)),
    ("pow -2", lambda a: a**-2, lambda a: a**-2, floats(0.2, 5)),
    ("number - a", lambda a: 1.5 - a, lambda a: 1.5 - a, floats(-5, 5)),
    ("number / a", lambda a: 2.0 / a, lambda a: 2.0 / a, floats(0.2, 5)),
    ("number * a", lambda a: 3 * a, lambda a: 3 * a, floats(-5, 5)),
    ("number + a", lambda a: 2 + a, lambda a: 2 + a, floats(-5, 5)),
]

# Each binary op applied to two Values: (name, function valid for Value and torch, domain of b).
BINARY_OPS = [
    ("+", lambda a, b: a + b, floats(-5, 5)),
    ("-", lambda a, b: a - b, floats(-5, 5)),
    ("*", lambda a, b: a * b, floats(-5, 5)),
    ("/", lambda a, b: a / b, floats(0.2, 5)),
    ("a * a + b", lambda a, b: a * a + b, floats(-5, 5)),  # a node used twice
]


def torch_grads(fn, *xs):
    leaves = [torch.tensor(x, dtype=torch.float64, device=DEVICE, requires_grad=True) for x in xs]
    out = fn(*leaves)
    out.backward()
    return out.item(), [leaf.grad.item() for leaf in leaves]


def value_grads(fn, *xs):
    leaves = [Value(x) for x in xs]
    out = fn(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("name,value_fn,torch_fn,domain", UNARY_OPS, ids=[op[0] for op in UNARY_OPS])
def test_unary_op_matches_torch_and_finite_differences(name, value_fn, torch_fn, domain):
    @FEW
    @given(domain)
    def check(x):
        data, (grad,) = value_grads(value_fn, x)
        torch_data, (torch_grad,) = torch_grads(torch_fn, x)
        assert data == pytest.approx(torch_data, rel=1e-9, abs=1e-12)
        assert grad == pytest.approx(torch_grad, rel=1e-9, abs=1e-12)
        (numeric,) = numerical_gradient(lambda a: value_fn(Value(float(a))).data, x)
        assert grad == pytest.approx(float(numeric), rel=1e-4, abs=1e-6)

    check()


@pytest.mark.parametrize("name,fn,domain_b", BINARY_OPS, ids=[op[0] for op in BINARY_OPS])
def test_binary_op_matches_torch(name, fn, domain_b):
    @FEW
    @given(floats(-5, 5), domain_b)
    def check(a, b):
        data, grads = value_grads(fn, a, b)
        torch_data, torch_grads_ = torch_grads(fn, a, b)
        assert data == pytest.approx(torch_data, rel=1e-9, abs=1e-12)
        assert grads == pytest.approx(torch_grads_, rel=1e-9, abs=1e-12)

    check()


@FEW
@given(floats(-2, 2), floats(-2, 2), floats(-2, 2))
def test_composite_expression_matches_finite_differences(a, b, c):
    def f(x, y, z):
        return ((x * y).tanh() + (z - x).sigmoid() * 2.0 - (y * y + 1.0).log() / 3.0) ** 2

    _, grads = value_grads(f, a, b, c)
    numeric = numerical_gradient(lambda *xs: f(*(Value(float(x)) for x in xs)).data, a, b, c)
    assert grads == pytest.approx([float(n) for n in numeric], rel=1e-4, abs=1e-6)


def test_sigmoid_neuron_lecture_example():
    w0, x0, w1, x1, w2 = (Value(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
    f = (w0 * x0 + w1 * x1 + w2).sigmoid()
    f.backward()

    # The numbers quoted in the lecture, to two decimals.
    assert round(f.data, 2) == 0.73
    grads = [w0.grad, x0.grad, w1.grad, x1.grad, w2.grad]
    assert [round(g, 2) for g in grads] == [-0.20, 0.39, -0.39, -0.59, 0.20]

    # Closed form: s = sigmoid(z), df/dw_i = s(1-s) x_i, df/dx_i = s(1-s) w_i, df/dw2 = s(1-s).
    z = 2.0 * -1.0 + -3.0 * -2.0 + -3.0
    s = 1.0 / (1.0 + math.exp(-z))
    local = s * (1.0 - s)
    assert f.data == pytest.approx(s)
    assert grads == pytest.approx([local * -1.0, local * 2.0, local * -2.0, local * -3.0, local])


def test_chain_of_100000_nodes_needs_no_recursion():
    limit = sys.getrecursionlimit()
    assert limit < 100_000  # otherwise this test would not show anything
    x = Value(0.5)
    y = x
    for _ in range(50_000):
        y = -(y + 0.25)  # 3 new nodes a step: a constant, +, neg
    y.backward()
    assert len(topological_order(y)) == 150_001
    assert x.grad == 1.0  # (-1) ** 50,000
    assert sys.getrecursionlimit() == limit


def test_leaf_gradients_accumulate_across_backward_calls():
    x = Value(1.5)
    y = 2.0 * x
    z = 3.0 * y * y.sin()  # y is used twice
    z.backward()
    first = x.grad
    expected = 2.0 * (3.0 * math.sin(3.0) + 3.0 * 3.0 * math.cos(3.0))
    assert first == pytest.approx(expected)
    z.backward()
    assert x.grad == pytest.approx(2 * first)  # exactly doubled, interior nodes included
    assert y.grad == pytest.approx(first / 2.0)  # interior: the latest pass only

    z.zero_grad()  # clears z's own gradient only, as Tensor.zero_grad does
    assert z.grad == 0.0 and x.grad == pytest.approx(2 * first)
    x.zero_grad()
    y.zero_grad()
    assert x.grad == 0.0 and y.grad == 0.0 and z.grad == 0.0
    z.backward()
    assert x.grad == pytest.approx(first)


def test_backward_of_a_leaf_and_of_a_shared_subgraph():
    x = Value(4.0)
    x.backward()
    assert x.grad == 1.0
    a = Value(2.0)
    b = a * a  # a reaches b along two edges
    c = b + b  # and b reaches c along two
    c.backward()
    assert a.grad == pytest.approx(4 * 2.0)  # d(2a^2)/da = 4a


def test_topological_order_lists_each_node_once_after_its_children():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    e = d * c
    order = topological_order(e)
    assert len(order) == 5
    position = {id(node): i for i, node in enumerate(order)}
    for node in order:
        for child in node.children:
            assert position[id(child)] < position[id(node)]
    assert order[-1] is e


def test_value_records_op_children_and_label():
    x = Value(2.0, label="x")
    y = x * 3
    assert (y.op, len(y.children), y.children[0] is x) == ("*", 2, True)
    assert x.op == "" and x.children == ()
    assert "x" in repr(x)


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: Value(0.0).log(), ValueError, ["log", "positive", "0.0"]),
        (lambda: Value(-2.0).log(), ValueError, ["log", "-2.0"]),
        (lambda: Value(2.0) ** Value(3.0), TypeError, ["**", "Value exponent", "not supported"]),
        (lambda: 2.0 ** Value(3.0), TypeError, ["**", "not supported"]),
        (lambda: Value(2.0) ** "3", TypeError, ["**", "str"]),
        (lambda: Value(1.0) + "a", TypeError, ["+", "str", "'a'", "1.0"]),
        (lambda: "a" * Value(1.0), TypeError, ["*", "str"]),
        (lambda: Value([1.0, 2.0]), TypeError, ["Value()", "list"]),
        (lambda: Value(1.0) / 0, ZeroDivisionError, ["/", "zero"]),
        (lambda: Value(-8.0) ** 0.5, ValueError, ["**", "negative", "-8.0"]),
        (lambda: Value(0.0) ** -1, ZeroDivisionError, ["**", "0.0"]),
        (lambda: Value(0.0) ** 0.5, ValueError, ["**", "infinite"]),
    ],
)
def test_bad_input_raises_a_clear_error(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_numbers_and_numpy_scalars_are_accepted():
    v = Value(np.float32(2.0)) * np.int64(3) + True
    assert v.data == 7.0 and isinstance(v.data, float)


def lecture_graph():
    x1, x2 = Value(2.0, label="x1"), Value(3.0, label="x2")
    f = x1 * x2 + x1.sin()
    f.label = "f"
    f.backward()
    return f


def test_draw_graph_has_one_box_per_node():
    f = lecture_graph()
    fig = draw_graph(f)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert len(ax.texts) == len(topological_order(f)) == 5  # x1, x2, *, sin, +
    captions = [t.get_text() for t in ax.texts]
    assert any("f [+]" in c and "grad 1" in c for c in captions)
    assert any(c.startswith("x1") and f"grad {3.0 + math.cos(2.0):.4g}" in c for c in captions)
    assert len(ax.patches) == 5  # edges: x1->*, x2->*, x1->sin, *->+, sin->+
    png = io.BytesIO()
    fig.savefig(png, format="png")  # renders without pyplot or a display
    assert png.getvalue().startswith(b"\x89PNG")


def test_draw_graph_into_given_axes_and_refuses_huge_graphs():
    fig = Figure()
    ax = fig.add_subplot()
    assert draw_graph(lecture_graph(), ax=ax) is fig
    y = Value(1.0)
    for _ in range(300):
        y = y + 1.0
    with pytest.raises(ValueError, match="max_nodes"):
        draw_graph(y)
