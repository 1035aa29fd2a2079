"""Layers with parameters (``Linear``) and the ``Sequential`` container."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

from gradkit.autodiff.tensor import Tensor, as_tensor
from gradkit.nn.activations import ReLU
from gradkit.nn.init import initial_weight
from gradkit.nn.module import Module, Parameter


def make_rng(seed: int | None, rng: np.random.Generator | None, where: str) -> np.random.Generator:
    """One generator from either a seed or an existing generator (not both)."""
    if seed is not None and rng is not None:
        raise ValueError(f"{where}: pass seed or rng, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{where}: rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    return np.random.default_rng(seed)


class Linear(Module):
    """Affine map ``y = x @ W.T + b``.

    ``weight`` has shape ``(out_features, in_features)``, the same layout as
    ``torch.nn.Linear``, so weights copy across libraries without transposing.
    The bias starts at zero; the weight is drawn by ``init`` ("xavier" or "he",
    uniform; "xavier_normal" and "he_normal" also work). Pass ``seed`` or a shared
    ``rng`` to make a whole network reproducible.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "xavier",
        seed: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        generator = make_rng(seed, rng, "Linear")
        self.weight = Parameter(initial_weight(init, (self.out_features, self.in_features), generator))
        self.bias = Parameter(np.zeros(self.out_features, dtype=np.float32)) if bias else None

    def forward(self, x: Any) -> Tensor:
        x = as_tensor(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self!r}: expected input of shape (..., {self.in_features}), got {x.shape}"
            )
        out = x @ self.weight.T
        return out + self.bias if self.bias is not None else out

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Sequential(Module):
    """Apply modules one after another; they are registered as "0", "1", ..."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int) -> Module:
        layers = list(self._modules.values())
        if not -len(layers) <= index < len(layers):
            raise IndexError(f"Sequential index {index} out of range for {len(layers)} modules")
        return layers[index]

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x


def mlp(sizes: Sequence[int], activation: Callable[[], Module] | None = None, init: str = "he",
        seed: int | None = None) -> Sequential:
    """A multilayer perceptron: ``Linear`` layers of ``sizes`` with an activation between them.

    ``mlp([64, 128, 10])`` is Linear(64, 128), ReLU(), Linear(128, 10); the last layer
    has no activation, so it outputs logits for ``cross_entropy``. ``activation`` is a
    module class or factory (default ``ReLU``); one ``seed`` initialises every layer.
    """
    if len(sizes) < 2:
        raise ValueError(f"mlp: sizes needs at least an input and an output size, got {list(sizes)}")
    make_activation = activation or ReLU
    rng = np.random.default_rng(seed)
    model = Sequential()
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        model.append(Linear(fan_in, fan_out, init=init, rng=rng))
        if i < len(sizes) - 2:
            model.append(make_activation())
    return model
