"""gradkit.torch_basics: the argument check, the device choice, the MLP builder, the batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from gradkit.torch_basics import check_count, choose_device, mlp, shuffled_batches, to_numpy


def test_check_count_names_the_function_and_the_argument():
    assert check_count(3, "steps", "f") == 3 and check_count(np.int64(2), "steps", "f") == 2
    assert type(check_count(np.int64(2), "steps", "f")) is int
    assert check_count(0, "every", "f", minimum=0) == 0
    for bad in (0, -1, True, 2.0, "3", None):
        with pytest.raises(ValueError, match=r"f: steps must be a positive int, got"):
            check_count(bad, "steps", "f")
    with pytest.raises(ValueError, match="f: every must be an int >= 0, got -1"):
        check_count(-1, "every", "f", minimum=0)


def test_choose_device():
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device(torch.device("cpu")) == torch.device("cpu")
    assert choose_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        choose_device("abacus")


def test_mlp_layers_names_activation_and_seed():
    model = mlp((4, 8, 8, 3))
    assert [type(m) for m in model] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [name for name, _ in model.named_parameters()] == [
        "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert model(torch.zeros(5, 4)).shape == (5, 3)
    leaky = mlp((2, 5, 1), lambda: nn.LeakyReLU(0.2))
    assert isinstance(leaky[1], nn.LeakyReLU) and leaky[1].negative_slope == 0.2
    assert len(mlp((2, 1))) == 1  # one layer, no activation
    first, second = mlp((3, 4, 2), seed=7), mlp((3, 4, 2), seed=7)
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))
    with pytest.raises(ValueError, match="at least"):
        mlp((3,))
    with pytest.raises(ValueError, match="mlp: every size must be a positive int"):
        mlp((3, 0, 2))


def test_shuffled_batches_cover_every_row_once_and_repeat_with_the_seed():
    batches = shuffled_batches(10, 4, torch.Generator().manual_seed(0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    generator = torch.Generator().manual_seed(0)
    first = shuffled_batches(10, 4, generator)
    assert all(torch.equal(a, b) for a, b in zip(first, batches))
    following = torch.cat(shuffled_batches(10, 4, generator))  # the next epoch: another order
    assert not torch.equal(following, torch.cat(first))


def test_to_numpy_takes_tensors_with_a_graph_and_array_likes():
    x = torch.ones(2, 3, requires_grad=True) * 2
    out = to_numpy(x)
    assert out.dtype == np.float64 and out.shape == (2, 3) and np.all(out == 2)
    assert to_numpy([[1, 2]], np.float32).dtype == np.float32
