"""gradkit: the course kit's reference implementation of automatic differentiation.

The most used names are exported here so that a notebook can write
``from gradkit import Value, Dual, Tensor, gradcheck``.

Subpackages, each with one job:

- ``gradkit.autodiff``: scalar reverse mode (``Value``), forward mode (``Dual``),
  numerical gradients and ``gradcheck``, tensor reverse mode (``Tensor``), ``jacobian``.
- ``gradkit.nn``: modules, layers, activations, losses and initialisation.
- ``gradkit.optim``: SGD-family optimizers, Adam and learning-rate schedules.
- ``gradkit.data``: small data sets that ship with the kit and a ``DataLoader``.
- ``gradkit.distributed``: data- and model-parallel training on Ray (PyTorch models).
"""

from gradkit.autodiff import (
    Dual,
    GradcheckError,
    Tensor,
    Value,
    concatenate,
    derivative,
    gradcheck,
    jacobian,
    jvp,
    no_grad,
    stack,
)

__version__ = "0.1.0"

__all__ = [
    "Dual",
    "GradcheckError",
    "Tensor",
    "Value",
    "concatenate",
    "derivative",
    "gradcheck",
    "jacobian",
    "jvp",
    "no_grad",
    "stack",
]
