"""The a6_efficient_dl reference solution computes what gradkit.compress computes.

The grader compares a student's hidden-test results with the reference solution's;
this file shows the reference equals the library on random inputs, so the library
(tested against torch and brute force in tests/lib/test_compress_*.py) vouches for it.
The solution cells are read from the text source and run in a fresh namespace.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from gradkit.compress import huffman, kmeans, linear_quant, mixed_precision, pruning, weight_sharing

from nbsource import load_source  # noqa: E402
from support import REPO

pytestmark = pytest.mark.slow   # fine-tunes on several seeds: left to make test-all


@pytest.fixture(scope="module")
def solution():
    """The namespace after running every solution cell of the reference (with the set-up's imports)."""
    namespace = {"np": np, "torch": torch}
    for cell in load_source(REPO / "assignments" / "tools" / "sources" / "a6_efficient_dl.py"):
        if cell.kind == "solution":
            exec(compile(cell.text, f"a6_efficient_dl:{cell.grade_id}", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("seed", range(3))
def test_masks_equal_library(solution, seed):
    rng = np.random.default_rng(seed)
    weights = {"a": torch.as_tensor(rng.normal(size=(9, 14))), "b": torch.as_tensor(0.3 * rng.normal(size=(14, 5)))}
    for amount in (0.0, 0.35, 0.9):
        library = pruning.magnitude_masks(weights, amount, scope="layer")
        for name, w in weights.items():
            assert torch.equal(solution["magnitude_mask"](w, amount), library[name])
        library = pruning.magnitude_masks(weights, amount, scope="global")
        ours = solution["global_magnitude_masks"](weights, amount)
        assert all(torch.equal(ours[n], library[n]) for n in weights)


@pytest.mark.parametrize("seed", range(3))
def test_kmeans_and_centroid_gradients_equal_library(solution, seed):
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.normal(-1, 0.3, 300), rng.laplace(0, 0.5, 300)])
    for k in (2, 8, 16):
        ref_centroids, ref_labels = solution["kmeans_1d"](values, k, iterations=300)
        lib_centroids, lib_labels = kmeans.kmeans_1d(values, k, iterations=300, tol=0.0)
        assert np.allclose(ref_centroids, lib_centroids, rtol=1e-12, atol=1e-12)
        assert np.array_equal(ref_labels, lib_labels)
    grad = torch.as_tensor(rng.normal(size=(7, 11)))
    layer = weight_sharing.SharedLayer(codebook=torch.zeros(5, dtype=torch.float64),
                                       indices=torch.as_tensor(rng.integers(0, 5, size=(7, 11))),
                                       mask=torch.as_tensor(rng.random((7, 11)) > 0.5))
    assert torch.allclose(solution["centroid_gradients"](grad, layer.indices, layer.mask, 5),
                          weight_sharing.centroid_gradients(grad, layer))


@pytest.mark.parametrize("scheme", ["symmetric", "asymmetric"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_int8_equals_library(solution, scheme, per_channel):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6, 10)) * rng.uniform(0.1, 3, size=(6, 1)) + rng.normal(size=(6, 1))
    scale, zero_point = solution["int8_qparams"](x, scheme, per_channel)
    params = linear_quant.choose_qparams(x, scheme, per_channel)
    assert np.allclose(np.ravel(scale), np.ravel(params.scale), rtol=1e-15)
    assert np.array_equal(np.ravel(zero_point), np.ravel(params.zero_point))
    codes = solution["quantize_int8"](x, scale, zero_point)
    assert np.array_equal(codes, linear_quant.quantize(x, params))
    assert np.allclose(solution["dequantize_int8"](codes, scale, zero_point), linear_quant.dequantize(codes, params))


def test_huffman_equals_library(solution):
    rng = np.random.default_rng(3)
    for stream in ([5] * 9, (rng.geometric(0.2, size=800) - 1).tolist(), rng.integers(0, 16, 300).tolist()):
        counts = {s: stream.count(s) for s in sorted(set(stream))}
        code = solution["huffman_code"](counts)
        assert huffman.is_prefix_free(code)
        assert sum(counts[s] * len(code[s]) for s in counts) == huffman.encoded_bits(stream)
        data, n_bits = solution["huffman_encode"](stream, code)
        packed = huffman.encode(stream, code)
        assert (data, n_bits) == (packed.data, packed.n_bits)
        assert solution["huffman_decode"](data, n_bits, code) == list(huffman.decode(packed))


def test_loss_scaler_equals_library(solution):
    rng = np.random.default_rng(5)
    poisoned = set(np.flatnonzero(rng.random(25) < 0.3).tolist())
    histories = []
    for scaler in (solution["DynamicLossScaler"](init_scale=64.0, growth_interval=3),
                   mixed_precision.DynamicLossScaler(init_scale=64.0, growth_interval=3)):
        p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        optimizer = torch.optim.SGD([p], lr=0.1)
        history = []
        for step in range(25):
            c = torch.tensor([1.0, float("inf") if step in poisoned else -2.0, 0.5], dtype=torch.float64)
            optimizer.zero_grad()
            scaler.scale_loss((p * c).sum()).backward()
            history.append((scaler.step(optimizer), scaler.scale))
        histories.append((history, p.detach().clone()))
    assert histories[0][0] == histories[1][0]
    assert torch.equal(histories[0][1], histories[1][1])


# ------------------------------------------------------------- the fine-tuning check (issue 21)
FINETUNE_SHORTCUTS = {   # stored wrong answer -> the results its hidden test must fail on
    "masks_applied_only_at_end": {"finetune_0_largest_seen", "finetune_1_largest_seen"},
    "masks_not_reapplied": {"finetune_0_largest_seen", "finetune_1_largest_seen"},
    "no_finetuning": {"finetune_0_after", "finetune_1_after", "finetune_0_forward_passes", "finetune_predictions"},
}


def _finetune_namespace(mutant=None):
    """The set-up and solution cells of the reference (or of a stored wrong answer), run in-process."""
    import matplotlib

    matplotlib.use("Agg")
    import build_notebooks

    cells = load_source(REPO / "assignments" / "tools" / "sources" / "a6_efficient_dl.py")
    if mutant:
        cells = build_notebooks.apply_mutant(cells, next(m for m in build_notebooks.load_mutants("a6_efficient_dl")
                                                         if m.name == mutant))
    namespace = {"__name__": "__main__"}
    for cell in cells:
        if cell.kind == "locked" or cell.grade_id in ("pruning_masks", "finetune_pruned"):
            exec(compile(cell.text, f"a6_efficient_dl:{cell.grade_id}", "exec"), namespace)
    hidden = next(c.text for c in cells if c.grade_id == "test_finetune_pruned").split("### BEGIN HIDDEN TESTS")[1]
    return namespace, compile(hidden, "a6_efficient_dl:test_finetune_pruned (hidden)", "exec")


def _hidden_reports(namespace, code, seed, monkeypatch):
    from gradkit_autograder.kernel import channel

    reports: dict[str, list[dict]] = {}

    def report(key, value, **words):
        reports.setdefault(key, []).append(channel.encode_value(key, value, **words))

    monkeypatch.setattr(channel, "report", report)
    monkeypatch.setenv(channel.SEED_VARIABLE, str(seed))
    exec(code, namespace)
    return reports


def test_finetune_check_holds_for_the_reference_and_catches_each_shortcut(monkeypatch):
    """Class 6 of issue 21: the fine-tuning cell's rules hold for the reference on every grading seed
    tried (the old flags held on none), and each stored shortcut fails the results it should."""
    from gradkit_autograder.judging.trusted_checks import check_cell

    threads = torch.get_num_threads()   # the set-up cell sets one thread; this process gets its own back
    try:
        reference = _finetune_namespace()
        shortcuts = {name: _finetune_namespace(name) for name in FINETUNE_SHORTCUTS}
        for seed in range(8):
            expected = _hidden_reports(*reference, seed, monkeypatch)
            assert check_cell(expected, expected, 1e-7, 1e-9) == ([], []), f"seed {seed}: the reference fails its rules"
            for name, must_fail in FINETUNE_SHORTCUTS.items():
                problems, _ = check_cell(expected, _hidden_reports(*shortcuts[name], seed, monkeypatch), 1e-7, 1e-9)
                failed = {p.split("'")[1] for p in problems}
                assert must_fail <= failed, f"seed {seed}, {name}: failed only {sorted(failed)}"
    finally:
        torch.set_num_threads(threads)
