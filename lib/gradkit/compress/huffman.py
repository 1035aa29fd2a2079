"""Huffman coding of small-integer streams (codebook indices, sparse-index gaps).

Deep Compression's last stage: after weight sharing the stored symbols (indices into
a codebook of 2^b centroids, and the gaps between surviving weights) are far from
uniformly distributed, so a variable-length prefix code spends fewer bits on the
frequent ones. Huffman's construction is optimal among prefix codes: repeatedly
merge the two least frequent subtrees; a symbol's code is its path from the root
(0 = left, 1 = right). The expected length L satisfies H <= L < H + 1 bits per symbol,
H the entropy of the histogram.

Plain Python and numpy, no torch::

    code = huffman_code(symbols)                # {symbol: "0101"}
    packed = encode(symbols, code)              # HuffmanEncoded(data=bytes, n_bits=...)
    assert list(decode(packed)) == list(symbols)
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

__all__ = [
    "HuffmanEncoded",
    "huffman_code",
    "is_prefix_free",
    "encode",
    "decode",
    "encoded_bits",
]


@dataclass(frozen=True)
class HuffmanEncoded:
    """A packed bit stream: ``n_bits`` meaningful bits in ``data`` (the last byte padded with 0s)."""

    data: bytes
    n_bits: int
    code: dict  # symbol -> bit string, needed to decode
    n_symbols: int


def _symbol_counts(symbols) -> Counter:
    if isinstance(symbols, Mapping):  # already a histogram
        counts = Counter({s: int(c) for s, c in symbols.items() if int(c) > 0})
    else:
        counts = Counter(int(s) for s in np.asarray(symbols).ravel())
    if any(c < 0 for c in counts.values()):
        raise ValueError("huffman_code: counts must be non-negative")
    return counts


def huffman_code(symbols: Iterable[int] | Mapping[int, int]) -> dict[int, str]:
    """The Huffman code of a stream of integers (or of a histogram {symbol: count}).

    Ties are broken by insertion order (symbols sorted first), so the code is
    deterministic. A stream with a single distinct symbol gets the one-bit code "0"
    (a zero-length code could not be decoded to a symbol count).
    """
    counts = _symbol_counts(symbols)
    if not counts:
        raise ValueError("huffman_code: need at least one symbol, got an empty stream")
    if len(counts) == 1:
        return {next(iter(counts)): "0"}
    # heap entries: (count, tie-breaker, {symbol: code-so-far}); merging two subtrees
    # prepends 0 to every code on the left and 1 on the right.
    heap = [(count, order, {symbol: ""}) for order, (symbol, count) in enumerate(sorted(counts.items()))]
    heapq.heapify(heap)
    order = len(heap)
    while len(heap) > 1:
        count_left, _, left = heapq.heappop(heap)
        count_right, _, right = heapq.heappop(heap)
        merged = {s: "0" + c for s, c in left.items()}
        merged.update({s: "1" + c for s, c in right.items()})
        heapq.heappush(heap, (count_left + count_right, order, merged))
        order += 1
    return dict(sorted(heap[0][2].items()))


def is_prefix_free(code: Mapping[int, str]) -> bool:
    """True when no code word is a prefix of another (so a stream decodes one way only)."""
    words = sorted(code.values())
    if any(word == "" for word in words):
        return False
    # In sorted order every word that starts with `a` comes right after `a` (or after
    # another word that starts with `a`), so checking neighbours is enough.
    return all(not b.startswith(a) for a, b in zip(words, words[1:]))


def encoded_bits(symbols, code: Mapping[int, str] | None = None) -> int:
    """Size in bits of the stream under ``code`` (its Huffman code when not given)."""
    counts = _symbol_counts(symbols)
    code = huffman_code(counts) if code is None else code
    missing = set(counts) - set(code)
    if missing:
        raise ValueError(f"encoded_bits: symbols {sorted(missing)[:5]} have no code word")
    return int(sum(count * len(code[s]) for s, count in counts.items()))


def encode(symbols, code: Mapping[int, str] | None = None) -> HuffmanEncoded:
    """Pack the stream into bytes with ``code`` (built from the stream when not given)."""
    flat = [int(s) for s in np.asarray(symbols).ravel()]
    if code is None:
        code = huffman_code(flat)
    if not is_prefix_free(code):
        raise ValueError("encode: the code is not prefix-free, so it could not be decoded")
    try:
        bits = "".join(code[s] for s in flat)
    except KeyError as err:
        raise ValueError(f"encode: symbol {err.args[0]} has no code word") from None
    n_bits = len(bits)
    padded = bits + "0" * (-n_bits % 8)
    data = int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""
    return HuffmanEncoded(data=data, n_bits=n_bits, code=dict(code), n_symbols=len(flat))


def decode(packed: HuffmanEncoded) -> np.ndarray:
    """The symbols back from ``encode``'s output: walk the bits, emit at each complete word."""
    lookup = {word: symbol for symbol, word in packed.code.items()}
    if len(lookup) != len(packed.code):
        raise ValueError("decode: two symbols share a code word")
    bits = bin(int.from_bytes(packed.data, "big"))[2:].zfill(8 * len(packed.data))[: packed.n_bits]
    out = []
    word = ""
    for bit in bits:
        word += bit
        if word in lookup:  # prefix-free: the first match is the only one
            out.append(lookup[word])
            word = ""
    if word or len(out) != packed.n_symbols:
        raise ValueError(f"decode: stream ends mid-word or has {len(out)} symbols, expected {packed.n_symbols}")
    return np.asarray(out, dtype=np.int64)
