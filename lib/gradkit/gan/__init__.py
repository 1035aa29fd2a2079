"""Generative adversarial networks in PyTorch: the GAN half of Assignment 4.

One module per job, imported only when used (``import gradkit`` never imports torch):

- ``gradkit.gan.models``: generator and discriminator ``torch.nn.Module`` pairs, an MLP
  pair for 2-D points and a small DCGAN-style convolutional pair for 8x8 images.
- ``gradkit.gan.losses``: the discriminator loss, the generator's saturating (minimax)
  and non-saturating losses, and least squares (LSGAN), all from logits.
- ``gradkit.gan.training``: ``train_gan`` (alternating updates) and its one-step parts;
  ``train_mixture_gan`` trains the MLP pair on a mixture with the mixture's recipe.
- ``gradkit.gan.data``: a ring of 8 and a grid of 25 Gaussians (each with its training
  recipe), the digits in [-1, 1].
- ``gradkit.gan.mode_coverage``: modes covered and the share of high-quality samples.
- ``gradkit.gan.digit_classifier``: a digits classifier, the classes generated digits
  are labelled as and the entropy of that histogram.
- ``gradkit.gan.fid``: the Frechet distance in the classifier's feature space (a
  digits-sized FID).
- ``gradkit.gan.plots``: samples over training, image grids, loss and D-output curves.

The MLP builder, the device choice and the argument checks are
``gradkit.torch_basics``'s. Nothing is imported here: Assignment 4 withholds the
modules students write (losses, models, mode_coverage, training) from the grading
kernel, and ``gradkit.gan.data``, ``.plots``, ``.digit_classifier`` and ``.fid`` must
still import there.
"""
