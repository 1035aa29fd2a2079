"""Neural-network building blocks on top of ``gradkit.Tensor`` (numpy only).

Modules, each with one job:

- ``module``: ``Module`` / ``Parameter``: parameter registration, ``zero_grad``
  (clears every parameter's gradient), ``state_dict``, train/eval.
- ``layers``: ``Linear``, ``Sequential`` and ``mlp``, the layers an MLP needs and a builder.
- ``activations``: ``ReLU``, ``Sigmoid``, ``Tanh``, ``Arctan``, ``Softmax``, ``LogSoftmax``.
- ``functional`` (also ``gradkit.nn.F``): the same as plain functions, plus the losses
  ``mse_loss``, ``cross_entropy``, ``binary_cross_entropy(_with_logits)`` and
  ``multiclass_hinge_loss``.
- ``losses``: the losses as modules, ``MSELoss``, ``CrossEntropyLoss``, ``BCELoss``,
  ``BCEWithLogitsLoss``, ``MultiClassHingeLoss``.
- ``init``: Xavier/Glorot and He/Kaiming initialisation.
"""

from gradkit.nn import functional, init
from gradkit.nn import functional as F
from gradkit.nn.activations import Arctan, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from gradkit.nn.layers import Linear, Sequential, mlp
from gradkit.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    MSELoss,
    MultiClassHingeLoss,
)
from gradkit.nn.module import Module, Parameter

__all__ = [
    "Arctan",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "F",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "MultiClassHingeLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "functional",
    "init",
    "mlp",
]
