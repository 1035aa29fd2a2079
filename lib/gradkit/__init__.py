"""gradkit: the course kit's reference implementation of automatic differentiation.

The most used names are exported here so that a notebook can write
``from gradkit import Value, Dual, Tensor, gradcheck``. ``import gradkit`` also imports
the numpy subpackages (``gradkit.nn``, ``.optim``, ``.data``), never the torch ones.
Modules: ``cli`` (the ``gradkit`` command; other packages add subcommands through the
entry-point group ``gradkit.commands``) and ``training`` (the MLP-on-digits job behind
``gradkit train``).

Subpackages, each with one job (numpy only unless marked; lib/README.md draws the
layers and what each may import):

- ``gradkit.autodiff``: scalar reverse mode (``Value``), forward mode (``Dual``),
  numerical gradients and ``gradcheck``, tensor reverse mode (``Tensor``), ``jacobian``.
- ``gradkit.nn``: modules, layers, activations, losses and initialisation.
- ``gradkit.optim``: SGD-family optimizers, Adam and learning-rate schedules.
- ``gradkit.data``: small data sets that ship with the kit, a ``DataLoader`` and the
  sharding rule that data-parallel workers share.
- ``gradkit.torch_basics`` (torch): what distributed, gan and compress share: the MLP
  builder, the device choice, seeded batches and argument checks.
- ``gradkit.distributed`` (torch, ray): data- and model-parallel training of PyTorch
  models on Ray.
- ``gradkit.runtime`` (ray, no torch): plumbing, not course material: starting or joining
  Ray (``ray_session``) and the processes of a local Ray node.
- ``gradkit.compress`` (torch; some modules numpy only): pruning, weight sharing, int8,
  Huffman coding, the size ledger and mixed-precision training (assignment a6).
- ``gradkit.gan`` (torch): generator/discriminator pairs, GAN losses, ``train_gan``, the
  Gaussian-mixture test beds, mode coverage and a digits FID, plots (assignment a4).
"""

# The numpy layer only: the torch and Ray packages (distributed, gan, compress) are
# imported by the programs that use them (`import gradkit.gan`), never from here.
from gradkit import autodiff, data, nn, optim
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
    "autodiff",
    "data",
    "nn",
    "optim",
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
