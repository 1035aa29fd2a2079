"""Huffman coding (round trips, optimality against brute force), gap indices and the size ledger."""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradkit.compress.huffman import decode, encode, encoded_bits, huffman_code, is_prefix_free
from gradkit.compress.pruning import apply_masks, magnitude_masks
from gradkit.compress.size_ledger import layer_size, model_ledger
from gradkit.compress.sparse_format import mask_from_relative_index, relative_index
from gradkit.compress.weight_sharing import share_weights


def optimal_cost(counts):
    """Minimum total bits of a prefix code, by the classic merge-cost identity (independent of code words)."""
    heap = list(counts)
    if len(heap) == 1:
        return heap[0]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        cost += a + b
        heapq.heappush(heap, a + b)
    return cost


ADVERSARIAL = {
    "one_symbol": [7],
    "all_equal": [3] * 1000,
    "two_symbols": [0, 1, 1, 1],
    "very_skewed": [0] * 10000 + [1] + [2] * 2 + [3] * 4 + [4] * 8,
    "fibonacci": list(itertools.chain.from_iterable([k] * f for k, f in enumerate([1, 1, 2, 3, 5, 8, 13, 21, 34, 55])))
    ,
    "uniform_16": list(range(16)) * 5,
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_round_trip_on_adversarial_inputs(name):
    symbols = np.array(ADVERSARIAL[name])
    packed = encode(symbols)
    assert np.array_equal(decode(packed), symbols)
    assert packed.n_bits == encoded_bits(symbols)
    assert len(packed.data) == math.ceil(packed.n_bits / 8)
    assert is_prefix_free(packed.code)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=400))
def test_round_trip_and_optimal_length_on_random_streams(symbols):
    code = huffman_code(symbols)
    assert is_prefix_free(code)
    assert np.array_equal(decode(encode(symbols, code)), symbols)
    counts = np.bincount(symbols)
    counts = counts[counts > 0]
    assert encoded_bits(symbols, code) == optimal_cost(counts.tolist())


def test_length_is_within_one_bit_of_entropy():
    rng = np.random.default_rng(0)
    symbols = rng.geometric(0.3, size=5000)
    p = np.bincount(symbols)[np.bincount(symbols) > 0] / symbols.size
    entropy = -np.sum(p * np.log2(p))
    per_symbol = encoded_bits(symbols) / symbols.size
    assert entropy <= per_symbol < entropy + 1


def test_known_code_lengths():
    code = huffman_code({0: 5, 1: 2, 2: 1, 3: 1})
    assert sorted(len(w) for w in code.values()) == [1, 2, 3, 3]


def test_is_prefix_free_rejects_a_prefix():
    assert not is_prefix_free({0: "0", 1: "01", 2: "11"})
    assert not is_prefix_free({0: "1", 1: "1"})
    assert is_prefix_free({0: "0", 1: "10", 2: "11"})
    with pytest.raises(ValueError, match="prefix-free"):
        encode([0, 1], {0: "0", 1: "01"})


def test_empty_stream_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        huffman_code([])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=300), st.integers(1, 6))
def test_relative_index_round_trip(mask, bits):
    mask = np.array(mask)
    codes = relative_index(mask, bits)
    assert np.all((codes >= 0) & (codes < 2**bits))
    assert np.array_equal(mask_from_relative_index(codes, bits, mask.size), mask)
    assert np.sum(codes != 2**bits - 1) == mask.sum()


def test_relative_index_fillers():
    mask = np.zeros(20, dtype=bool)
    mask[[0, 12]] = True
    # 3-bit gaps: code 7 is a filler that skips 7 zeros; 11 zeros = filler + 4
    assert relative_index(mask, 3).tolist() == [0, 7, 4]


def test_ledger_of_dense_and_pruned_models():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(30, 20), torch.nn.ReLU(), torch.nn.Linear(20, 10))
    dense = model_ledger(model)
    assert dense.total_bits == 32 * (600 + 200) and dense.ratio == 1.0
    assert dense.bias_bits == 32 * 30
    masks = magnitude_masks(model, 0.9)
    apply_masks(model, masks)
    pruned = model_ledger(model, masks=masks, gap_bits=5)
    entries = sum(relative_index(m.numpy(), 5).size for m in masks.values())
    assert pruned.total_bits == 32 * 80 + 5 * entries
    shared = share_weights(model, bits=2, masks=masks)
    coded = model_ledger(model, shared=shared, gap_bits=5)
    assert coded.total_bits == 2 * 80 + 5 * entries + 32 * 4 * 2
    huff = model_ledger(model, shared=shared, huffman=True)
    assert huff.total_bits <= coded.total_bits
    assert huff.ratio > pruned.ratio > 1
    int8 = model_ledger(model, int8=True)
    assert int8.total_bits == 8 * 800 + 64 * (20 + 10)
    assert "| **weights** |" in huff.table()
    assert huff.bytes_per_inference == (huff.total_bits + huff.bias_bits) / 8


def test_layer_size_errors_name_the_layer():
    with pytest.raises(ValueError, match="fc1"):
        layer_size("fc1", 10, mask=np.ones(9))
    with pytest.raises(ValueError, match="fc1"):
        layer_size("fc1", 10, huffman=True)
