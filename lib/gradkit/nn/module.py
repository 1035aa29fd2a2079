"""``Module`` and ``Parameter``: the bookkeeping every layer shares.

A ``Module`` finds its trainable tensors by watching attribute assignment: writing
``self.weight = Parameter(...)`` registers a parameter and ``self.fc1 = Linear(...)``
registers a sub-module. That is the whole trick behind ``model.parameters()``, which
walks the tree and hands every ``Parameter`` to an optimizer.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator, Mapping

import numpy as np

from gradkit.autodiff.tensor import Tensor


class Parameter(Tensor):
    """A ``Tensor`` that a ``Module`` owns and an optimizer updates (always requires grad)."""

    def __init__(self, data: Any, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class of layers and models: subclasses define ``forward``.

    Calling a module calls ``forward``. Parameters and sub-modules assigned as
    attributes are registered in order, so names and iteration order are stable.
    """

    def __init__(self) -> None:
        # object.__setattr__ skips our own __setattr__, which needs these dicts to exist.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ----- registration ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() "
                f"before assigning attribute {name!r}"
            )
        # A name moves between the registries if it is re-assigned with another kind.
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def add_module(self, name: str, module: "Module") -> None:
        """Register ``module`` under ``name`` (for names that are not identifiers, like "0")."""
        if not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        setattr(self, name, module)

    # ----- calling --------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----- traversal ------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """Yield ``(dotted_name, module)`` for this module and every descendant."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def children(self) -> Iterator["Module"]:
        yield from self._modules.values()

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Yield ``(dotted_name, parameter)``, e.g. ``("layers.0.weight", ...)``.

        A parameter shared by two sub-modules is yielded once, under its first name.
        """
        seen: set[int] = set()
        for module_name, module in self.named_modules():
            for name, param in module._parameters.items():
                if id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self) -> list[Parameter]:
        """All parameters of this module and its sub-modules, in registration order."""
        return [param for _, param in self.named_parameters()]

    def num_parameters(self) -> int:
        """Total number of trainable scalars."""
        return int(sum(param.data.size for param in self.parameters()))

    # ----- modes and gradients --------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode here and below (layers such as dropout read ``training``)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget accumulated gradients (``backward`` adds into ``.grad``)."""
        for param in self.parameters():
            param.zero_grad()

    # ----- saving and loading ---------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Copies of every parameter's array, keyed by dotted name."""
        return OrderedDict((name, param.data.copy()) for name, param in self.named_parameters())

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Copy arrays from ``state`` into the parameters; keys and shapes must match exactly.

        Values may be numpy arrays, gradkit Tensors or anything ``np.asarray`` accepts
        (a torch CPU tensor works too, which is how a4 moves weights between libraries).
        Nothing is changed unless every key and shape checks out.
        """
        own = dict(self.named_parameters())
        missing = [name for name in own if name not in state]
        unexpected = [name for name in state if name not in own]
        if missing or unexpected:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        arrays = {}
        for name, param in own.items():
            value = state[name]
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            if array.shape != param.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: {name!r} expects shape "
                    f"{param.shape}, got {array.shape}"
                )
            arrays[name] = array
        for name, param in own.items():
            param.data[...] = arrays[name]  # in place: optimizers keep their references

    # ----- printing -------------------------------------------------------------------
    def extra_repr(self) -> str:
        """One-line description of this module's own settings (override in layers)."""
        return ""

    def __repr__(self) -> str:
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not self._modules:
            return head + ")"
        lines = [head]
        for name, child in self._modules.items():
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_text}")
        return "\n".join(lines) + "\n)"
