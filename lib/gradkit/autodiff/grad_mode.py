"""Switching graph recording off: ``no_grad`` and ``is_grad_enabled``.

Recording the graph costs time and memory: every op keeps its inputs and the
arrays its backward needs. Evaluation, parameter updates and anything else that
will never be differentiated should run inside ``no_grad``::

    with no_grad():
        for p in params:
            p.data -= lr * p.grad

    @no_grad()
    def accuracy(model, x, y): ...

The switch is per thread (as in PyTorch), so a background thread that
evaluates a model cannot turn recording off for the training thread.
"""

from __future__ import annotations

import functools
import threading

__all__ = ["is_grad_enabled", "no_grad"]

# One flag per thread; a thread that never touched it reads the default True.
_state = threading.local()


def is_grad_enabled() -> bool:
    """True when new Tensor ops record the graph needed by ``backward()``."""
    return getattr(_state, "enabled", True)


def _set_grad_enabled(enabled: bool) -> None:
    _state.enabled = enabled


class no_grad:  # noqa: N801 - lower case, like the context managers it mirrors
    """Context manager (and decorator) that turns graph recording off.

    Inside it, ops compute their values but record nothing: results have
    ``requires_grad=False`` and hold no references to their inputs. The previous
    setting is restored on exit, so ``no_grad`` blocks nest safely.
    """

    def __enter__(self) -> None:
        self._previous = is_grad_enabled()
        _set_grad_enabled(False)

    def __exit__(self, *exc_info) -> None:
        _set_grad_enabled(self._previous)

    def __call__(self, function):
        """Use as ``@no_grad()``: the whole call runs without recording."""

        @functools.wraps(function)
        def without_grad(*args, **kwargs):
            # A fresh context per call: calls from several threads, or a
            # decorated function calling itself, each save their own setting.
            with no_grad():
                return function(*args, **kwargs)

        return without_grad
