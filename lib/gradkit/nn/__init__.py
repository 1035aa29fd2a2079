"""Neural-network building blocks on top of ``gradkit.Tensor`` (numpy only).

Modules, each with one job:

- ``module``: ``Module`` / ``Parameter``: parameter registration, ``zero_grad``
  (clears every parameter's gradient), ``state_dict``, train/eval.
- ``layers``: ``Linear``, ``Sequential`` and ``mlp``, the layers an MLP needs and a builder.
- ``activation_functions``: ``relu``, ``sigmoid``, ``tanh``, ``arctan`` (a custom
  ``Function``), ``softmax``, ``log_softmax``.
- ``activations``: the same as modules, ``ReLU``, ``Sigmoid``, ``Tanh``, ``Arctan``,
  ``Softmax``, ``LogSoftmax``.
- ``loss_functions``: ``mse_loss``, ``cross_entropy``, ``binary_cross_entropy(_with_logits)``
  and ``multiclass_hinge_loss``.
- ``losses``: the losses as modules, ``MSELoss``, ``CrossEntropyLoss``, ``BCELoss``,
  ``BCEWithLogitsLoss``, ``MultiClassHingeLoss``.
- ``functional`` (also ``gradkit.nn.F``): every activation and loss function in one
  namespace, like ``torch.nn.functional``.
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
