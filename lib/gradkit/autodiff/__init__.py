"""Automatic differentiation, three ways.

- ``value``: reverse mode on scalars, one graph node per number (micrograd-sized).
- ``dual``: forward mode with dual numbers, one pass per input direction.
- ``numerical``: finite differences and ``gradcheck``, the oracle for the other two.
- ``tensor`` and ``functions``: reverse mode on numpy arrays; every op is a
  ``Function`` that pairs ``forward`` with ``backward`` through a saved context.
- ``grad_mode``: ``no_grad()``, which turns graph recording off (evaluation, updates).
- ``graph``: the topological order that both reverse modes walk backwards.
- ``graph_plot``: ``draw_graph``, a picture of a ``Value`` graph (matplotlib, imported on use).
- ``jacobian``: whole Jacobians by forward (n passes) or reverse (m passes) mode.
"""

from gradkit.autodiff.dual import Dual, derivative, jvp
from gradkit.autodiff.grad_mode import is_grad_enabled, no_grad
from gradkit.autodiff.graph_plot import draw_graph

# ``jacobian`` names both a submodule and the function in it; this import binds the
# package's attribute to the function (the submodule is sys.modules["gradkit.autodiff.jacobian"]).
from gradkit.autodiff.jacobian import jacobian
from gradkit.autodiff.numerical import (
    GradcheckError,
    central_difference,
    forward_difference,
    gradcheck,
    numerical_gradient,
)
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
