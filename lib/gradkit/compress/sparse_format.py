"""Relative (gap) indexing of a sparse weight tensor, as Deep Compression stores it.

A pruned layer stores only its surviving weights, in flattened order, each with the
number of zeros skipped since the previous stored one, in ``gap_bits`` bits (the
paper uses 5 bits for fully connected layers, 8 for convolutions). A run of zeros
longer than a gap code can say needs a filler. The paper stores a filler *zero
weight*; here the top code 2^gap_bits - 1 is reserved to mean "skip that many zeros,
no weight follows", which costs the same index bits and saves the filler's weight.

    skips = relative_index(mask, gap_bits=5)     # one code per entry
    assert (mask_from_relative_index(skips, 5, mask.size) == mask.ravel()).all()

Plain numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["relative_index", "mask_from_relative_index"]


def _check_bits(gap_bits: int, what: str) -> int:
    if not isinstance(gap_bits, (int, np.integer)) or not 1 <= gap_bits <= 16:
        raise ValueError(f"{what}: gap_bits must be an int in [1, 16], got {gap_bits!r}")
    return int(gap_bits)


def relative_index(mask, gap_bits: int = 5) -> np.ndarray:
    """Gap codes of a 0/1 mask (any shape, read flattened), int64.

    A code c < 2^gap_bits - 1 means "skip c zeros, then a stored weight"; the code
    2^gap_bits - 1 means "skip that many zeros" with no weight (a filler). Zeros after
    the last stored weight are not encoded (the length is known from the shape).
    """
    gap_bits = _check_bits(gap_bits, "relative_index")
    jump = 2**gap_bits - 1
    positions = np.flatnonzero(np.asarray(mask).ravel() != 0)
    skips = np.diff(positions, prepend=-1) - 1  # zeros before each stored weight
    codes = []
    for skip in skips.tolist():
        codes.extend([jump] * (skip // jump))  # fillers
        codes.append(skip % jump)
    return np.asarray(codes, dtype=np.int64)


def mask_from_relative_index(codes, gap_bits: int, size: int) -> np.ndarray:
    """The flat boolean mask of length ``size`` that ``relative_index`` encoded (its inverse)."""
    jump = 2 ** _check_bits(gap_bits, "mask_from_relative_index") - 1
    mask = np.zeros(int(size), dtype=bool)
    position = 0
    for code in np.asarray(codes, dtype=np.int64).tolist():
        if not 0 <= code <= jump:
            raise ValueError(f"mask_from_relative_index: code {code} is outside [0, {jump}]")
        position += code
        if code != jump:
            if position >= size:
                raise ValueError(f"mask_from_relative_index: the codes run past size {size}")
            mask[position] = True
            position += 1
    return mask
