"""Trained quantization by weight sharing (Deep Compression, step 2), for torch models.

Each layer's surviving (unpruned) weights are clustered with 1-D k-means into
k = 2^bits centroids (``kmeans.kmeans_1d``, linear initialisation); the layer is then
stored as a codebook C of k floats plus one ``bits``-bit index I_ij per weight, and
computes with W_ij = C[I_ij] (0 where pruned).

Fine-tuning keeps the indices and trains the codebook. Since every member of cluster
k *is* C_k, the chain rule sums their gradients:

    dL/dC_k = sum_{ij} dL/dW_ij * 1[I_ij = k]      (the sum, not the mean)

and a step is C_k <- C_k - lr * dL/dC_k. ``SharedWeightsSGD`` does this after
``loss.backward()`` and writes the new W = C[I] back into the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gradkit.compress.kmeans import kmeans_1d
from gradkit.compress.pruning import prunable_weights

__all__ = ["SharedLayer", "share_weights", "centroid_gradients", "SharedWeightsSGD"]


@dataclass
class SharedLayer:
    """One layer's shared form: ``codebook`` (k,), ``indices`` (weight shape, int64), ``mask`` (bool)."""

    codebook: torch.Tensor
    indices: torch.Tensor
    mask: torch.Tensor

    @property
    def k(self) -> int:
        return int(self.codebook.numel())

    def weight(self) -> torch.Tensor:
        """W = C[I] on surviving weights, 0 where pruned."""
        return self.codebook[self.indices] * self.mask.to(self.codebook.dtype)


def share_weights(model: torch.nn.Module, bits: int | dict[str, int],
                  masks: dict[str, torch.Tensor] | None = None,
                  iterations: int = 50) -> dict[str, SharedLayer]:
    """Cluster every prunable weight of ``model`` into 2^bits shared values, in place.

    ``bits``: one int for all layers or {name: bits}. ``masks``: pruning masks; without
    them, the nonzero weights survive. Returns {name: SharedLayer} and sets each
    weight to its shared form.
    """
    weights = prunable_weights(model)
    shared = {}
    for name, param in weights.items():
        layer_bits = bits[name] if isinstance(bits, dict) else bits
        if not isinstance(layer_bits, (int, np.integer)) or not 1 <= layer_bits <= 16:
            raise ValueError(f"share_weights: bits for {name} must be an int in [1, 16], got {layer_bits!r}")
        mask = (masks[name] != 0) if masks is not None else (param.detach() != 0)
        mask = mask.to(param.device)
        survivors = param.detach()[mask].cpu().double().numpy()
        if survivors.size == 0:
            raise ValueError(f"share_weights: every weight of {name} is pruned; nothing to cluster")
        centroids, labels = kmeans_1d(survivors, 2 ** int(layer_bits), iterations=iterations)
        indices = torch.zeros(param.shape, dtype=torch.int64, device=param.device)
        indices[mask] = torch.as_tensor(labels, device=param.device)
        layer = SharedLayer(codebook=torch.as_tensor(centroids, dtype=param.dtype, device=param.device),
                            indices=indices, mask=mask)
        with torch.no_grad():
            param.copy_(layer.weight())
        shared[name] = layer
    return shared


def centroid_gradients(weight_grad: torch.Tensor, layer: SharedLayer) -> torch.Tensor:
    """dL/dC_k = sum of dL/dW_ij over the surviving members of cluster k, shape (k,)."""
    grad = torch.zeros(layer.k, dtype=weight_grad.dtype, device=weight_grad.device)
    return grad.index_add_(0, layer.indices[layer.mask], weight_grad[layer.mask])


class SharedWeightsSGD:
    """Plain SGD in which shared layers train their codebooks and the rest train as usual.

        optimizer = SharedWeightsSGD(model, shared, lr=0.01)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
    """

    def __init__(self, model: torch.nn.Module, shared: dict[str, SharedLayer], lr: float):
        if lr <= 0:
            raise ValueError(f"SharedWeightsSGD: lr must be positive, got {lr!r}")
        self.params = dict(model.named_parameters())
        unknown = sorted(set(shared) - set(self.params))
        if unknown:
            raise ValueError(f"SharedWeightsSGD: the model has no parameters named {unknown}")
        self.shared, self.lr = shared, lr

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for name, param in self.params.items():
            if param.grad is None:
                continue
            if name in self.shared:
                layer = self.shared[name]
                layer.codebook -= self.lr * centroid_gradients(param.grad, layer)
                param.copy_(layer.weight())
            else:
                param -= self.lr * param.grad
