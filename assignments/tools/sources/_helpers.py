"""The set-up helpers every assignment notebook starts with (included by `# {{include _helpers.py}}`).

Everything before the marker line below is this docstring and is not included.
"""
# ---- include from here ----
import dis
import math
import types
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np


@contextmanager
def checking(name):
    """Report a missing or unfinished answer as a clear message instead of a traceback."""
    try:
        yield
    except NotImplementedError:
        raise NotImplementedError(
            f"{name}: not written yet. Replace `raise NotImplementedError()` in its cell "
            "with your code, run that cell, then run this one again"
        ) from None
    except NameError as err:
        raise AssertionError(f"{name}: {err}. Run the cell that defines it (and the cells above it) first") from None


def expect_close(what, got, expected, rtol=1e-6, atol=1e-9):
    """Assert that got is close to expected (numbers or arrays); the message shows both."""
    try:
        got_array = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise AssertionError(f"{what}: expected numbers like {expected!r}, got {got!r}") from None
    expected_array = np.asarray(expected, dtype=float)
    if got_array.shape != expected_array.shape:
        raise AssertionError(f"{what}: expected shape {expected_array.shape}, got shape {got_array.shape} ({got!r})")
    if not np.allclose(got_array, expected_array, rtol=rtol, atol=atol):
        raise AssertionError(f"{what}:\n  expected {expected!r}\n  got      {got!r}")


def expect_equal(what, got, expected):
    """Assert that got == expected (plain Python values); the message shows both."""
    if got != expected:
        raise AssertionError(f"{what}:\n  expected {expected!r}\n  got      {got!r}")


def gradkit_references(obj, allowed=(), _seen=None):
    """Names through which a function or class written here reaches the gradkit library.

    The hidden tests use this to check that a cell's answer is your own code: a
    non-empty list means the answer calls (or subclasses) gradkit's version.
    Objects in ``allowed`` (for example the library's Tensor, when a cell is meant
    to build on it) are not counted.
    """
    seen = set() if _seen is None else _seen
    found = set()
    if id(obj) in seen:
        return []
    seen.add(id(obj))

    def from_gradkit(value):
        if any(value is ok for ok in allowed):
            return False
        if isinstance(value, types.ModuleType):
            module = value.__name__
        elif isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType)):
            module = getattr(value, "__module__", "") or ""
        else:
            module = getattr(type(value), "__module__", "")
        return isinstance(module, str) and module.split(".")[0] == "gradkit"

    def visit_code(code, global_names):
        # Only names the code looks up as globals or imports; attribute names such
        # as the `.data` in `x.data` are not references to a global `data`.
        looked_up = {ins.argval for ins in dis.get_instructions(code)
                     if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "IMPORT_NAME")}
        for name in sorted(looked_up):
            name = name.split(".")[0]  # `import gradkit.nn` looks up gradkit
            if name == "gradkit" and not any(getattr(ok, "__name__", None) == "gradkit" for ok in allowed):
                found.add("gradkit")
            elif name in global_names:
                value = global_names[name]
                if from_gradkit(value):
                    found.add(name)
                elif getattr(value, "__module__", None) == "__main__" and isinstance(value, (type, types.FunctionType)):
                    found.update(gradkit_references(value, allowed, seen))  # helpers you wrote and call
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                visit_code(const, global_names)

    if isinstance(obj, type):
        for base in obj.__mro__:
            if from_gradkit(base):
                found.add(base.__name__)
        for member in vars(obj).values():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, property):
                member = member.fget
            if isinstance(member, types.FunctionType):
                found.update(gradkit_references(member, allowed, seen))
    elif isinstance(obj, types.FunctionType):
        if from_gradkit(obj):
            found.add(obj.__qualname__)
        visit_code(obj.__code__, obj.__globals__)
    elif from_gradkit(obj):
        found.add(type(obj).__name__)
    return sorted(found)
