"""The kernel side of the trusted channel: hidden tests report results with ``report``.

An ``assert`` inside the student's kernel can be defeated by the student's own
code: an object whose ``__eq__`` always returns True (nbgrader issue 1379), a
monkeypatched ``np.allclose``, a rebound ``AssertionError``. So hidden tests do
not only assert; they also *report* the student's results::

    from gradkit_autograder.channel import report
    report("softplus_big", softplus(x_big))

``report`` converts the value to plain floats *here*, with
``np.asarray(value, dtype=float)``: whatever class the student returned, only
numbers leave the kernel (an object that cannot become floats is reported as
unconvertible). The numbers travel in the cell's output under a MIME type of
their own, and the grader, outside the kernel, compares them with the numbers
the reference solution reported for the same key (``gradkit_autograder.checks``).
A student who rewrites ``report`` cannot pass either: the grader needs the right
numbers for every key the reference reported.

``rtol``/``atol`` are read only from the reference run: a tolerance sent by the
student's kernel is ignored.

Hidden tests draw their inputs from ``grading_rng(label)``: a generator seeded
from the seed the grader draws for each grading run (``GRADKIT_GRADING_SEED`` in
the kernel's environment; 0 when a notebook runs outside grading) and the label.
The reference solution and every student get the same inputs in one run, and a
different run gets different ones, so a leaked hidden test gives no reusable
answers. The expected values are never in the kernel: the grader compares.
"""

from __future__ import annotations

import math
import os
import zlib

CHECK_MIME = "application/vnd.gradkit.check+json"


SEED_VARIABLE = "GRADKIT_GRADING_SEED"


def grading_seed() -> int:
    """This grading run's seed (0 outside grading)."""
    try:
        return int(os.environ.get(SEED_VARIABLE, "0"))
    except ValueError:
        return 0


def grading_rng(label: str):
    """A NumPy generator for one hidden test's inputs: the run's seed mixed with ``label``."""
    import numpy as np

    return np.random.default_rng([grading_seed(), zlib.crc32(str(label).encode())])


def _encode(x: float):
    """JSON has no NaN or infinity: send those as strings."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def encode_value(key: str, value, rtol: float | None = None, atol: float | None = None) -> dict:
    """The payload for ``value``: key, shape and flat float values (or the conversion error)."""
    import numpy as np

    payload: dict = {"key": str(key)}
    try:
        arr = np.array(value, dtype=float, copy=True)
    except Exception as err:  # any class the student made up: record why it is not a number
        payload["error"] = f"{type(err).__name__}: {err}"[:200]
        return payload
    payload["shape"] = [int(n) for n in arr.shape]
    payload["values"] = [_encode(float(x)) for x in arr.ravel()]
    if rtol is not None:
        payload["rtol"] = float(rtol)
    if atol is not None:
        payload["atol"] = float(atol)
    return payload


def report(key: str, value, *, rtol: float | None = None, atol: float | None = None) -> None:
    """Send ``value`` (converted to floats) out of the kernel for the grader to check."""
    from IPython.display import display

    payload = encode_value(key, value, rtol, atol)
    display({CHECK_MIME: payload, "text/plain": f"[result '{payload['key']}' recorded for grading]"},
            raw=True)
