"""The set-up helpers every assignment notebook starts with (included by `# {{include _helpers.py}}`).

Everything before the marker line below is this docstring and is not included.
"""
# ---- include from here ----
import math
import os
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np

# nbgrader sets NBGRADER_EXECUTION while it grades or validates a notebook: the
# demonstration cells (plots and timings, no points) are skipped then.
GRADING = bool(os.environ.get("NBGRADER_EXECUTION"))


def _short(error):
    """Show ``error`` as its message alone, without a traceback through these helpers.

    IPython (JupyterLab, Validate, ``nbgrader validate``) prints what an exception's
    ``_render_traceback_()`` returns instead of the traceback when it has one; the
    message already says what was expected, what came back and what to try.
    """
    error._render_traceback_ = lambda: [f"{type(error).__name__}: {error}"]
    return error


def _passed(what):
    print(f"passed: {what}")


@contextmanager
def checking(name):
    """Report a missing or unfinished answer as a clear message instead of a traceback."""
    try:
        yield
    except NotImplementedError as err:
        if str(err):   # not the stub: a withheld library function, say, which names itself
            raise
        raise _short(NotImplementedError(
            f"{name}: not written yet. Replace `raise NotImplementedError()` in its cell "
            "with your code, run that cell, then run this one again"
        )) from None
    except NameError as err:
        raise _short(AssertionError(
            f"{name}: {err}. Run the cell that defines it (and the cells above it) first")) from None


def _ratio_hint(got, expected):
    """A hint when every value is off by the same factor (a missing 2, a flipped sign)."""
    nonzero = expected != 0
    if got.shape != expected.shape or not nonzero.any() or not np.all(np.isfinite(got)):
        return ""
    ratios = got[nonzero] / expected[nonzero]
    if np.allclose(ratios, ratios.flat[0], rtol=1e-6) and not np.isclose(ratios.flat[0], 1.0):
        return f"\n  hint: every value is {ratios.flat[0]:.4g} times the expected one (a factor or a sign?)"
    return ""


def expect_close(what, got, expected, rtol=1e-6, atol=1e-9):
    """Assert that got is close to expected (numbers or arrays); the message shows both."""
    try:
        got_array = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        raise _short(AssertionError(f"{what}: expected numbers like {expected!r}, got {got!r}")) from None
    expected_array = np.asarray(expected, dtype=float)
    if got_array.shape != expected_array.shape:
        raise _short(AssertionError(
            f"{what}: expected shape {expected_array.shape}, got shape {got_array.shape} ({got!r})"))
    if not np.allclose(got_array, expected_array, rtol=rtol, atol=atol):
        raise _short(AssertionError(f"{what}:\n  expected {expected!r}\n  got      {got!r}"
                                    + _ratio_hint(got_array, expected_array)))
    _passed(what)


def expect_equal(what, got, expected):
    """Assert that got == expected (plain Python values); the message shows both."""
    if got != expected:
        raise _short(AssertionError(f"{what}:\n  expected {expected!r}\n  got      {got!r}"))
    _passed(what)
