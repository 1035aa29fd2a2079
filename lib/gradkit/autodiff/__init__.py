"""Automatic differentiation, three ways.

- ``value``: reverse mode on scalars, one graph node per number (micrograd-sized).
- ``dual``: forward mode with dual numbers, one pass per input direction.
- ``numerical``: finite differences and ``gradcheck``, the oracle for the other two.
- ``tensor`` and ``functions``: reverse mode on numpy arrays; every op is a
  ``Function`` that pairs ``forward`` with ``backward`` through a saved context.
- ``jacobian``: whole Jacobians by forward (n passes) or reverse (m passes) mode.
"""

from gradkit.autodiff.dual import Dual, derivative, jvp
from gradkit.autodiff.graph_plot import draw_graph
from gradkit.autodiff.jacobian import jacobian
from gradkit.autodiff.numerical import (
    GradcheckError,
    central_difference,
    forward_difference,
    gradcheck,
    numerical_gradient,
)
from gradkit.autodiff.grad_mode import no_grad, is_grad_enabled
from gradkit.autodiff.tensor import Tensor, concatenate, stack
from gradkit.autodiff.value import Value

__all__ = [
    "Dual",
    "GradcheckError",
    "Tensor",
    "Value",
    "central_difference",
    "concatenate",
    "derivative",
    "draw_graph",
    "forward_difference",
    "gradcheck",
    "is_grad_enabled",
    "jacobian",
    "jvp",
    "no_grad",
    "numerical_gradient",
    "stack",
]
