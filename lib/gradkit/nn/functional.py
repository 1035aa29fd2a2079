"""``gradkit.nn.functional`` (also ``gradkit.nn.F``): every activation and loss as a plain function.

The namespace notebooks and the loss and activation modules read, like
``torch.nn.functional``. The functions live by concept: activations in
``activation_functions``, losses in ``loss_functions``.
"""

from gradkit.autodiff.tensor import as_tensor
from gradkit.nn.activation_functions import (
    ArctanFunction,
    arctan,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from gradkit.nn.loss_functions import (
    REDUCTIONS,
    ClipFunction,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    clip,
    cross_entropy,
    mse_loss,
    multiclass_hinge_loss,
    one_hot,
)

__all__ = [
    "REDUCTIONS",
    "ArctanFunction",
    "ClipFunction",
    "arctan",
    "as_tensor",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "clip",
    "cross_entropy",
    "log_softmax",
    "mse_loss",
    "multiclass_hinge_loss",
    "one_hot",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]
