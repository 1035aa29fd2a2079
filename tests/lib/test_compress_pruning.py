"""gradkit.compress.pruning against torch.nn.utils.prune, and masks that survive fine-tuning."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.utils import prune

from gradkit.compress.pruning import (
    apply_masks,
    iterative_pruning,
    keep_masks_applied,
    magnitude_masks,
    prunable_weights,
    sparsity,
)


def small_mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(12, 20), torch.nn.ReLU(), torch.nn.Linear(20, 7))


@pytest.mark.parametrize("amount", [0.0, 0.1, 0.5, 0.77, 0.9, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layer_masks_equal_torch_l1_unstructured(amount, seed):
    model = small_mlp(seed)
    masks = magnitude_masks(model, amount, scope="layer")
    twin = copy.deepcopy(model)
    for module in (twin[0], twin[2]):
        prune.l1_unstructured(module, "weight", amount=amount)
    assert torch.equal(masks["0.weight"], twin[0].weight_mask)
    assert torch.equal(masks["2.weight"], twin[2].weight_mask)


@pytest.mark.parametrize("amount", [0.2, 0.6, 0.95])
@pytest.mark.parametrize("seed", [0, 3])
def test_global_masks_equal_torch_global_unstructured(amount, seed):
    model = small_mlp(seed)
    with torch.no_grad():
        model[2].weight.mul_(0.1)  # very different scales, so a global threshold prunes unevenly
    masks = magnitude_masks(model, amount, scope="global")
    twin = copy.deepcopy(model)
    prune.global_unstructured([(twin[0], "weight"), (twin[2], "weight")], pruning_method=prune.L1Unstructured,
                              amount=amount)
    assert torch.equal(masks["0.weight"], twin[0].weight_mask)
    assert torch.equal(masks["2.weight"], twin[2].weight_mask)
    assert sparsity(masks) == pytest.approx(round(amount * 380) / 380)
    per_layer = [1 - float(masks[n].mean()) for n in ("0.weight", "2.weight")]
    assert per_layer[1] > per_layer[0]  # the small-scale layer loses more


def test_pruning_uses_absolute_values():
    weights = {"w": torch.tensor([[-5.0, 0.1, 3.0, -0.2]])}
    mask = magnitude_masks(weights, 0.5)["w"]
    assert mask.tolist() == [[1.0, 0.0, 1.0, 0.0]]


def test_masks_stay_applied_after_every_optimizer_step():
    model = small_mlp()
    masks = magnitude_masks(model, 0.8)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    keep_masks_applied(optimizer, model, masks)
    x, y = torch.randn(32, 12), torch.randint(0, 7, (32,))
    before = {n: p.detach().clone() for n, p in prunable_weights(model).items()}
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for name, param in prunable_weights(model).items():
            assert torch.all(param[masks[name] == 0] == 0), name
    changed = [not torch.equal(before[n][masks[n] == 1], p[masks[n] == 1]) for n, p in prunable_weights(model).items()]
    assert all(changed)  # the survivors did train


def test_without_the_hook_momentum_revives_pruned_weights():
    """The failure the hook prevents: masking once, then stepping, moves pruned weights."""
    model = small_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(32, 12), torch.randint(0, 7, (32,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()  # momentum buffers now hold gradients of every weight
    masks = magnitude_masks(model, 0.8)
    apply_masks(model, masks)
    optimizer.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    assert sparsity(model) < 0.8


def test_iterative_schedule_nests_masks_and_reaches_each_sparsity():
    model = small_mlp()
    x, y = torch.randn(64, 12), torch.randint(0, 7, (64,))

    def finetune(m, masks):
        optimizer = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
        handle = keep_masks_applied(optimizer, m, masks)
        for _ in range(3):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(m(x), y).backward()
            optimizer.step()
        handle.remove()
        return sparsity(m)

    rounds = iterative_pruning(model, [0.5, 0.7, 0.9], finetune)
    assert [r["sparsity"] for r in rounds] == pytest.approx([0.5, 0.7, 0.9], abs=0.01)
    assert [r["result"] for r in rounds] == pytest.approx([0.5, 0.7, 0.9], abs=0.01)
    for earlier, later in zip(rounds, rounds[1:]):
        for name in earlier["masks"]:
            assert torch.all(later["masks"][name] <= earlier["masks"][name])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="amount"):
        magnitude_masks(small_mlp(), 1.5)
    with pytest.raises(ValueError, match="scope"):
        magnitude_masks(small_mlp(), 0.5, scope="row")
    with pytest.raises(ValueError, match="schedule"):
        iterative_pruning(small_mlp(), [0.9, 0.5], lambda m, k: None)
