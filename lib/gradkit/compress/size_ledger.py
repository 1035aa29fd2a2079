"""The size ledger: bits for weights, indices, codebooks and sparse structure, per layer.

Deep Compression tables each stage by the storage it needs and the compression ratio
against a dense float32 model (32 bits per weight). For one weight tensor of n entries:

| stage | weight bits | index bits (sparse structure) | codebook bits |
|---|---|---|---|
| dense float32 | 32 n | 0 | 0 |
| pruned | 32 per stored entry | gap_bits per entry (``sparse_format``) | 0 |
| + weight sharing (k = 2^b) | b per stored entry | same | 32 k |
| + Huffman | Huffman bits of the index stream | Huffman bits of the gap stream | 32 k |
| int8 per channel | 8 n | 0 | 32 * 2 per channel (scale, zero point) |

Since every weight is read once per inference (at batch size 1), the total is also
the bytes a forward pass moves from memory for its weights: the lecture's point that
memory traffic, not arithmetic, dominates the energy of inference.

The tables count weights, as the paper does (``ratio``); biases, kept float32, are
one extra row, and ``ratio_with_biases`` includes them. Code tables for the Huffman
streams are not counted (a few hundred bits per layer). No torch import: a model is
read through ``named_parameters()`` and ``.detach().cpu().numpy()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gradkit.compress.huffman import encoded_bits
from gradkit.compress.sparse_format import relative_index

__all__ = ["LayerSize", "SizeLedger", "layer_size", "model_ledger"]

FLOAT_BITS = 32


@dataclass(frozen=True)
class LayerSize:
    """Storage of one tensor in one compressed form."""

    name: str
    n_weights: int
    n_entries: int  # stored entries (survivors, plus fillers for long zero runs)
    weight_bits: int
    index_bits: int
    codebook_bits: int

    @property
    def total_bits(self) -> int:
        return self.weight_bits + self.index_bits + self.codebook_bits

    @property
    def dense_bits(self) -> int:
        return FLOAT_BITS * self.n_weights


@dataclass(frozen=True)
class SizeLedger:
    """A list of weight rows plus the biases, with totals and ratios against float32."""

    rows: tuple[LayerSize, ...]
    bias_bits: int = 0

    @property
    def total_bits(self) -> int:
        return sum(r.total_bits for r in self.rows)

    @property
    def dense_bits(self) -> int:
        return sum(r.dense_bits for r in self.rows)

    @property
    def ratio(self) -> float:
        """Dense float32 weight bits / compressed weight bits (the paper's ratio)."""
        return self.dense_bits / self.total_bits

    @property
    def ratio_with_biases(self) -> float:
        return (self.dense_bits + self.bias_bits) / (self.total_bits + self.bias_bits)

    @property
    def bytes_per_inference(self) -> float:
        """Bytes of parameters one forward pass reads (every weight and bias once)."""
        return (self.total_bits + self.bias_bits) / 8

    def table(self) -> str:
        """A markdown table in the paper's layout, sizes in bits."""
        lines = ["| layer | weights | stored | weight bits | index bits | codebook bits | total bits | ratio |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.rows:
            lines.append(f"| {r.name} | {r.n_weights} | {r.n_entries} | {r.weight_bits} | {r.index_bits} "
                         f"| {r.codebook_bits} | {r.total_bits} | {r.dense_bits / r.total_bits:.1f}x |")
        lines.append(f"| **weights** | {sum(r.n_weights for r in self.rows)} | {sum(r.n_entries for r in self.rows)} "
                     f"| | | | {self.total_bits} | **{self.ratio:.1f}x** |")
        lines.append(f"| biases (float32) | | | | | | {self.bias_bits} | {self.ratio_with_biases:.1f}x with biases |")
        return "\n".join(lines)


def layer_size(name: str, n_weights: int, mask=None, value_bits: int = FLOAT_BITS, symbols=None,
               codebook_entries: int = 0, gap_bits: int = 5, huffman: bool = False) -> LayerSize:
    """Bits to store one tensor of ``n_weights`` entries.

    ``mask``: the pruning mask (None: dense, no index). ``value_bits``: bits per
    stored value (32 float, b for a 2^b codebook, 8 for int8). ``symbols``: the
    stored values' codebook indices, needed for ``huffman=True``. ``codebook_entries``:
    how many 32-bit numbers the layer keeps besides its values (centroids, scales).
    """
    if n_weights < 1:
        raise ValueError(f"layer_size: {name} has no weights")
    if huffman and symbols is None:
        raise ValueError(f"layer_size: Huffman coding of {name} needs its symbols (codebook indices)")
    if mask is None:
        n_stored, index_bits, n_entries = n_weights, 0, n_weights
    else:
        mask = np.asarray(mask).ravel() != 0
        if mask.size != n_weights:
            raise ValueError(f"layer_size: the mask of {name} has {mask.size} entries, expected {n_weights}")
        gaps = relative_index(mask, gap_bits)
        n_stored, n_entries = int(mask.sum()), int(gaps.size)
        index_bits = (encoded_bits(gaps) if huffman and gaps.size else gap_bits * gaps.size)
    if huffman:
        flat = np.asarray(symbols).ravel()
        if flat.size != n_stored:
            raise ValueError(f"layer_size: {name} has {n_stored} stored values but {flat.size} symbols")
        weight_bits = encoded_bits(flat) if flat.size else 0
    else:
        weight_bits = value_bits * n_stored
    return LayerSize(name, int(n_weights), n_entries, int(weight_bits), int(index_bits),
                     FLOAT_BITS * int(codebook_entries))


def model_ledger(model, masks=None, shared=None, int8: bool = False, gap_bits: int = 5,
                 huffman: bool = False) -> SizeLedger:
    """The ledger of a torch model at one stage of Deep Compression.

    ``masks``: {name: mask} from pruning; ``shared``: {name: SharedLayer} from weight
    sharing (implies its masks); ``int8``: per-channel int8 (dense); ``huffman``:
    Huffman-code the index and gap streams (needs ``shared``).
    """
    if int8 and (masks is not None or shared is not None):
        raise ValueError("model_ledger: int8 here is the dense per-channel form; pass no masks or shared")
    if huffman and shared is None:
        raise ValueError("model_ledger: huffman=True codes the codebook indices, so it needs shared=")
    rows, bias_bits = [], 0
    for name, param in model.named_parameters():
        values = param.detach().cpu().numpy()
        if values.ndim < 2:
            bias_bits += FLOAT_BITS * values.size
            continue
        if shared is not None and name in shared:
            layer = shared[name]
            mask = layer.mask.cpu().numpy()
            symbols = layer.indices.cpu().numpy()[mask]
            rows.append(layer_size(name, values.size, mask=mask, value_bits=max(1, math.ceil(math.log2(layer.k))),
                                   symbols=symbols, codebook_entries=layer.k, gap_bits=gap_bits, huffman=huffman))
        elif int8:
            rows.append(layer_size(name, values.size, value_bits=8, codebook_entries=2 * values.shape[0]))
        elif masks is not None and name in masks:
            rows.append(layer_size(name, values.size, mask=masks[name].cpu().numpy(), gap_bits=gap_bits))
        else:
            rows.append(layer_size(name, values.size))
    if not rows:
        raise ValueError(f"model_ledger: {type(model).__name__} has no weight matrices")
    return SizeLedger(tuple(rows), bias_bits)
