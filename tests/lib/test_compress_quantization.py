"""k-means weight sharing (against brute force and autograd) and int8 linear quantization (against torch)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gradkit.compress.kmeans import assign_to_centroids, kmeans_1d, linear_init
from gradkit.compress.linear_quant import QMAX, QMIN, choose_qparams, dequantize, quantize, quantize_dequantize
from gradkit.compress.pruning import apply_masks, magnitude_masks
from gradkit.compress.weight_sharing import SharedWeightsSGD, centroid_gradients, share_weights


# ------------------------------------------------------------------ k-means
def brute_force_assign(values, centroids):
    out = []
    for v in values:
        best = 0
        for j, c in enumerate(centroids):
            if abs(v - c) < abs(v - centroids[best]):
                best = j
        out.append(best)
    return np.array(out)


@pytest.mark.parametrize("seed", range(5))
def test_assignment_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    values, centroids = rng.normal(size=300), rng.normal(size=rng.integers(1, 17))
    assert np.array_equal(assign_to_centroids(values, centroids), brute_force_assign(values, centroids))


def test_linear_init_spans_min_to_max():
    assert np.allclose(linear_init([3.0, -1.0, 0.5], 5), [-1.0, 0.0, 1.0, 2.0, 3.0])


@pytest.mark.parametrize("seed", range(3))
def test_kmeans_is_a_fixed_point_of_lloyd(seed):
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(-1, 0.1, 200), rng.normal(0.5, 0.2, 300)])
    centroids, labels = kmeans_1d(values, 8, iterations=200)
    assert np.array_equal(labels, brute_force_assign(values, centroids))
    for k in np.unique(labels):
        assert centroids[k] == pytest.approx(values[labels == k].mean(), abs=1e-9)
    # never worse than the linear initialisation it starts from
    start = linear_init(values, 8)
    assert np.sum((values - centroids[labels]) ** 2) <= np.sum((values - start[assign_to_centroids(values, start)]) ** 2)


def test_kmeans_recovers_well_separated_clusters():
    values = np.array([-2.0, -2.1, -1.9, 0.0, 0.1, -0.1, 3.0, 3.1, 2.9])
    centroids, labels = kmeans_1d(values, 3)
    assert np.allclose(np.sort(centroids), [-2.0, 0.0, 3.0])
    assert len(set(labels[:3])) == len(set(labels[3:6])) == len(set(labels[6:])) == 1


def test_numpy_modules_do_not_import_torch():
    code = ("import sys; import gradkit, gradkit.compress.kmeans, gradkit.compress.huffman, "
            "gradkit.compress.linear_quant, gradkit.compress.size_ledger, gradkit.compress.sparse_format; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------ weight sharing
def pruned_mlp(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4)).double()
    masks = magnitude_masks(model, 0.5)
    apply_masks(model, masks)
    return model, masks


def test_share_weights_keeps_pruned_zero_and_uses_k_values():
    model, masks = pruned_mlp()
    shared = share_weights(model, bits=2, masks=masks)
    for name, layer in shared.items():
        w = dict(model.named_parameters())[name].detach()
        assert torch.all(w[masks[name] == 0] == 0)
        assert set(w[masks[name] == 1].tolist()) <= set(layer.codebook.tolist())
        assert layer.k == 4


def test_centroid_gradient_is_the_sum_of_member_gradients_by_autograd():
    """Oracle: make W a function of the codebook, W = C[I] * m, and let autograd differentiate."""
    model, masks = pruned_mlp(1)
    shared = share_weights(model, bits=3, masks=masks)
    x = torch.randn(5, 10, dtype=torch.float64)
    model(x).pow(2).sum().backward()
    layer = shared["0.weight"]
    ours = centroid_gradients(model[0].weight.grad, layer)
    codebook = layer.codebook.clone().requires_grad_(True)
    weight = codebook[layer.indices] * layer.mask.double()
    out = torch.nn.functional.linear(x, weight, model[0].bias.detach())
    model[2](torch.tanh(out)).pow(2).sum().backward()
    assert torch.allclose(ours, codebook.grad, rtol=1e-10, atol=1e-12)


def test_shared_sgd_step_moves_codebook_and_keeps_sharing():
    model, masks = pruned_mlp(2)
    shared = share_weights(model, bits=2, masks=masks)
    before = {n: s.codebook.clone() for n, s in shared.items()}
    optimizer = SharedWeightsSGD(model, shared, lr=0.1)
    x = torch.randn(8, 10, dtype=torch.float64)
    model(x).pow(2).sum().backward()
    grads = {n: centroid_gradients(dict(model.named_parameters())[n].grad, s) for n, s in shared.items()}
    optimizer.step()
    for name, layer in shared.items():
        assert torch.allclose(layer.codebook, before[name] - 0.1 * grads[name])
        assert torch.equal(dict(model.named_parameters())[name].detach(), layer.weight())


# ------------------------------------------------------------------ linear quantization
def torch_codes(x, params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's quantized tensors are deprecated, still the reference
        t = torch.as_tensor(x, dtype=torch.float32)
        if params.per_channel:
            q = torch.quantize_per_channel(t, torch.as_tensor(params.scale, dtype=torch.float64),
                                           torch.as_tensor(params.zero_point), 0, torch.qint8)
        else:
            q = torch.quantize_per_tensor(t, float(params.scale), int(params.zero_point), torch.qint8)
        return q.int_repr().numpy(), q.dequantize().numpy()


@pytest.mark.parametrize("scheme", ["symmetric", "asymmetric"])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_codes_equal_torch_quantized_tensors(scheme, per_channel, seed):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(6, 17)) * rng.uniform(0.01, 5, size=(6, 1)) + rng.normal(size=(6, 1))).astype(np.float32)
    params = choose_qparams(x, scheme, per_channel)
    codes, values = torch_codes(x, params)
    assert np.array_equal(quantize(x, params), codes)
    assert np.allclose(dequantize(codes, params), values, rtol=1e-6, atol=1e-7)


def test_zero_point_maps_zero_exactly_and_uses_the_whole_range():
    x = np.array([-1.0, 0.0, 3.0])
    params = choose_qparams(x, "asymmetric")
    assert params.scale == pytest.approx(4.0 / 255)
    assert int(params.zero_point) == -128 - round(-1.0 / (4.0 / 255))
    q = quantize(x, params)
    assert q[0] == QMIN and q[2] == QMAX and dequantize(q, params)[1] == 0.0


def test_all_zero_tensor_does_not_divide_by_zero():
    q, params = quantize_dequantize(np.zeros((3, 4)), "asymmetric", per_channel=True)
    assert np.all(q == 0) and np.all(params.scale == 1.0)


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 9)),
                elements=st.floats(-1e4, 1e4, allow_nan=False, width=32)),
       scheme=st.sampled_from(["symmetric", "asymmetric"]), per_channel=st.booleans())
def test_error_is_at_most_half_a_step(x, scheme, per_channel):
    x_hat, params = quantize_dequantize(x, scheme, per_channel)
    scale = params.scale.reshape(-1, 1) if per_channel else params.scale
    bound = scale / 2 * (1 + 1e-9) + 1e-12 * np.abs(x)
    assert np.all(np.abs(x_hat - x) <= bound)
    codes = quantize(x, params)
    assert codes.dtype == np.int8


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="scheme"):
        choose_qparams(np.ones(3), "log")
    with pytest.raises(ValueError, match="per-channel"):
        choose_qparams(np.ones(3), per_channel=True)
    with pytest.raises(ValueError, match="finite"):
        kmeans_1d([1.0, np.nan], 2)


def test_int8_copy_puts_every_weight_row_on_its_int8_grid():
    from gradkit.compress.deep_compression import int8_copy
    from gradkit.torch_basics import mlp

    model = mlp((8, 6, 3), seed=1)
    quantized = int8_copy(model, "symmetric", per_channel=True)
    for (name, original), (_, copy_) in zip(model.named_parameters(), quantized.named_parameters()):
        if original.dim() < 2:
            assert torch.equal(original, copy_)  # biases stay float32
            continue
        params = choose_qparams(original.detach().numpy(), "symmetric", per_channel=True)
        steps = copy_.detach().double().numpy() / params.scale.reshape(-1, 1)
        assert np.allclose(steps, np.rint(steps), atol=1e-4)
        assert np.all(np.abs(copy_.detach().numpy() - original.detach().numpy())
                      <= params.scale.reshape(-1, 1) / 2 + 1e-6)
