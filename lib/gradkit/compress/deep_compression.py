"""The Deep Compression pipeline on a small torch classifier: train, prune, share, quantize.

Glue for the benchmark and for experiments: every step calls the module that does
the job (``pruning``, ``weight_sharing``, ``linear_quant``, ``size_ledger``); this file
only trains and evaluates.

    model = train_mlp((64, 128, 10), X, y, epochs=30)
    masks = magnitude_masks(model, 0.9)
    finetune(model, X, y, masks=masks, epochs=10)
    shared = share_weights(model, bits=4, masks=masks)
    finetune_shared(model, shared, X, y, epochs=5)
    print(model_ledger(model, shared=shared, huffman=True).table())
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from tqdm.auto import tqdm

from gradkit.compress.linear_quant import quantize_dequantize
from gradkit.compress.pruning import keep_masks_applied, prunable_weights
from gradkit.compress.weight_sharing import SharedLayer, SharedWeightsSGD
from gradkit.torch_basics import choose_device, mlp, shuffled_batches

__all__ = ["train_mlp", "evaluate", "finetune", "finetune_shared", "int8_copy"]


def finetune(model: torch.nn.Module, X, y, epochs: int = 5, lr: float = 0.02, masks=None,
             batch_size: int = 32, seed: int = 0, progress: bool = False) -> torch.nn.Module:
    """SGD with momentum 0.9 on cross-entropy; with ``masks`` the pruned weights stay 0."""
    device = next(model.parameters()).device
    X, y = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    hook = keep_masks_applied(optimizer, model, masks) if masks is not None else None
    generator = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(epochs), desc="epochs", disable=not progress):
        for batch in shuffled_batches(len(X), batch_size, generator):
            loss = torch.nn.functional.cross_entropy(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if hook is not None:
        hook.remove()
    return model


def train_mlp(sizes, X, y, epochs: int = 30, lr: float = 0.05, seed: int = 0,
              device: str | torch.device | None = None, progress: bool = False) -> torch.nn.Sequential:
    """A fresh MLP (``gradkit.torch_basics.mlp``) trained as in assignment 3 (SGD + momentum, batch 32)."""
    model = mlp(sizes, seed=seed).to(choose_device(device))
    return finetune(model, X, y, epochs=epochs, lr=lr, seed=seed, progress=progress)


@torch.no_grad()
def evaluate(model: torch.nn.Module, X, y) -> float:
    """Test accuracy as a fraction."""
    device = next(model.parameters()).device
    logits = model(torch.as_tensor(X, device=device))
    return float((logits.argmax(dim=1).cpu() == torch.as_tensor(y)).float().mean())


def finetune_shared(model: torch.nn.Module, shared: dict[str, SharedLayer], X, y, epochs: int = 3,
                    lr: float = 0.002, batch_size: int = 32, seed: int = 0) -> torch.nn.Module:
    """Train the codebooks (and biases) with ``SharedWeightsSGD``; indices stay fixed."""
    device = next(model.parameters()).device
    X, y = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    optimizer = SharedWeightsSGD(model, shared, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for batch in shuffled_batches(len(X), batch_size, generator):
            loss = torch.nn.functional.cross_entropy(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def int8_copy(model: torch.nn.Module, scheme: str = "symmetric", per_channel: bool = True) -> torch.nn.Module:
    """A copy whose weight matrices are replaced by their int8 round trip (biases stay float32)."""
    quantized = copy.deepcopy(model)
    with torch.no_grad():
        for param in prunable_weights(quantized).values():
            values, _ = quantize_dequantize(param.detach().cpu().numpy(), scheme, per_channel)
            param.copy_(torch.as_tensor(values.astype(np.float32)))
    return quantized
