"""Linear (fixed-point) quantization to int8: q = clamp(round(x / s) + z, -128, 127).

A real number x is stored as an 8-bit integer q with a float **scale** s (the step
between neighbouring levels) and an integer **zero point** z (the q that stands for
0.0), and read back as x_hat = s (q - z). The rules, the same as torch's quantized
tensors (``torch.quantize_per_tensor`` / ``quantize_per_channel`` with ``torch.qint8``):

- rounding: to the nearest integer, ties to even (``np.rint``);
- clamping: to the int8 range [-128, 127] after adding the zero point.

Two ways to choose (s, z) from the data:

- **symmetric**: z = 0, s = max|x| / 127. Zero is exact; one level (-128) is unused.
- **asymmetric** (affine): the range [lo, hi] = [min(x, 0), max(x, 0)] is mapped onto
  all 256 levels: s = (hi - lo) / 255, z = -128 - round(lo / s). Zero is still exactly
  representable (z is an integer) and a one-sided range (ReLU outputs) wastes no level.

Inside the range the error |x_hat - x| is at most s / 2. Per-tensor uses one (s, z)
for the whole array; per-channel one per output channel (axis 0 of a weight matrix),
which tracks rows of very different magnitude. An all-zero tensor (or channel) gets
s = 1 so nothing divides by zero.

Plain numpy: call with ``weight.detach().cpu().numpy()`` for a torch parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "QMIN",
    "QMAX",
    "QuantParams",
    "choose_qparams",
    "quantize",
    "dequantize",
    "quantize_dequantize",
]

QMIN, QMAX = -128, 127
SCHEMES = ("symmetric", "asymmetric")


@dataclass(frozen=True)
class QuantParams:
    """Scale(s) and zero point(s): scalars per tensor, arrays of length C per channel (axis 0)."""

    scale: np.ndarray
    zero_point: np.ndarray
    per_channel: bool


def _check_array(x, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{what}: got an empty array")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: values must be finite (no nan or inf)")
    return arr


def choose_qparams(x, scheme: str = "symmetric", per_channel: bool = False) -> QuantParams:
    """Scale and zero point for ``x`` under ``scheme`` ("symmetric" or "asymmetric").

    Per channel: one pair per slice ``x[c]`` along axis 0 (needs x.ndim >= 2).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"choose_qparams: scheme must be one of {SCHEMES}, got {scheme!r}")
    arr = _check_array(x, "choose_qparams")
    if per_channel:
        if arr.ndim < 2:
            raise ValueError(f"choose_qparams: per-channel needs at least 2 dimensions, got shape {arr.shape}")
        rows = arr.reshape(arr.shape[0], -1)
        lo, hi = rows.min(axis=1), rows.max(axis=1)
    else:
        lo, hi = np.asarray(arr.min()), np.asarray(arr.max())
    lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)  # the range always holds 0
    if scheme == "symmetric":
        scale = np.maximum(np.abs(lo), np.abs(hi)) / QMAX
        scale = np.where(scale > 0, scale, 1.0)
        zero_point = np.zeros_like(scale, dtype=np.int64)
    else:
        scale = (hi - lo) / (QMAX - QMIN)
        scale = np.where(scale > 0, scale, 1.0)
        zero_point = (QMIN - np.rint(lo / scale)).astype(np.int64)
        zero_point = np.clip(zero_point, QMIN, QMAX)
    return QuantParams(scale=scale, zero_point=zero_point, per_channel=per_channel)


def _broadcastable(params: QuantParams, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point shaped to broadcast against x (channels on axis 0)."""
    if params.per_channel:
        shape = (-1,) + (1,) * (ndim - 1)
        return params.scale.reshape(shape), params.zero_point.reshape(shape)
    return params.scale, params.zero_point


def quantize(x, params: QuantParams) -> np.ndarray:
    """int8 codes q = clamp(rint(x / s) + z, -128, 127)."""
    arr = _check_array(x, "quantize")
    scale, zero_point = _broadcastable(params, arr.ndim)
    q = np.rint(arr / scale) + zero_point
    return np.clip(q, QMIN, QMAX).astype(np.int8)


def dequantize(q, params: QuantParams) -> np.ndarray:
    """Real values back: x_hat = s (q - z), as float64."""
    codes = np.asarray(q)
    scale, zero_point = _broadcastable(params, codes.ndim)
    return scale * (codes.astype(np.int64) - zero_point)


def quantize_dequantize(x, scheme: str = "symmetric", per_channel: bool = False) -> tuple[np.ndarray, QuantParams]:
    """Round trip through int8 ("fake quantization"): what a model computes with after quantization."""
    params = choose_qparams(x, scheme, per_channel)
    return dequantize(quantize(x, params), params), params
