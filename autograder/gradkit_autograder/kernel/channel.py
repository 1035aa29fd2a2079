"""The kernel side of the trusted channel: hidden tests report results with ``report``.

An ``assert`` inside the student's kernel can be defeated by the student's own
code: an object whose ``__eq__`` always returns True (nbgrader issue 1379), a
monkeypatched ``np.allclose``, a rebound ``AssertionError``. So hidden tests do
not only assert; they also *report* the student's results::

    from gradkit_autograder.kernel.channel import report
    report("softplus_big", softplus(x_big))

``report`` converts the value to plain floats *here*, with
``np.asarray(value, dtype=float)``: whatever class the student returned, only
numbers leave the kernel (an object that cannot become floats is reported as
unconvertible). The numbers travel in the cell's output under a MIME type of
their own, and the grader, outside the kernel, compares them with the numbers
the reference solution reported for the same key (``gradkit_autograder.judging.trusted_checks``).
A student who rewrites ``report`` cannot pass either: the grader needs the right
numbers for every key the reference reported.

``rtol``/``atol`` are read only from the reference run: a tolerance sent by the
student's kernel is ignored.

Some properties are not "the same numbers as the reference": a classifier must
be right on 95% of a fresh test set, a generator's samples must cover the modes
and not be copies of its training points, fine-tuning must move the surviving
weights. A hidden test then reports the *raw behaviour* (predictions, samples,
weights) with a ``rule`` made by :class:`Rule`, and the grader applies the rule
outside the kernel::

    report("digits_labels", y_test)                     # compared with the reference
    report("digits_predictions", predicted,
           rule=Rule.accuracy(labels="digits_labels", at_least=0.95))

A rule, like a tolerance, is read only from the reference run, and the
reference itself must satisfy it. A rule that names another key reads that
key's values from the *reference* run (``labels``, ``centers``, ``points``,
``baseline``, ``where``), so the student's kernel cannot choose them; only
``Rule.near`` compares two of the student's own results.

What the feedback page says when a check fails is written by the test's author,
never derived from a key: each report names its :class:`Check` (the function under
test, what its inputs are, and a hint that points at the concept without giving
the code), and may carry one ``example`` input in words::

    _quotient = Check("Dual.__truediv__", "random quotients u/v of dual numbers",
                      hint="the quotient rule: (u/v)' = (u'v - uv') / v^2; mind the sign")
    report(f"dual_quotient_{k}", [q.value, q.tangent], check=_quotient,
           example=f"u = Dual({a:.2f}, 1), v = Dual({b:.2f}, 0)")

The grader reads the words, like tolerances and rules, only from the reference run,
and shows them grouped per check: "Dual.__truediv__: 7 of 10 random quotients u/v of
dual numbers differ; largest error 0.31", then the hint (``judging.reasons``). Report
keys never reach a student.

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


class Rule:
    """The rules a hidden test may attach to a report; the grader applies them (``judging.trusted_checks``)."""

    @staticmethod
    def bounds(low: float | None = None, high: float | None = None) -> dict:
        """Every value lies in ``[low, high]`` (either side may be open)."""
        return {"name": "bounds", "low": low, "high": high}

    @staticmethod
    def accuracy(labels: str, at_least: float) -> dict:
        """At least this fraction of the values equal the reference's values of key ``labels``."""
        return {"name": "accuracy", "labels": str(labels), "at_least": float(at_least)}

    @staticmethod
    def changed(baseline: str, at_least: float, where: str | None = None, atol: float = 1e-12) -> dict:
        """At least this fraction of the values moved by more than ``atol`` from the reference's
        ``baseline`` values, counting only positions where the reference's ``where`` is non-zero."""
        return {"name": "changed", "baseline": str(baseline), "at_least": float(at_least),
                "where": where, "atol": float(atol)}

    @staticmethod
    def unchanged(baseline: str, where: str | None = None, atol: float = 0.0) -> dict:
        """Every value (where the reference's ``where`` is non-zero) stays within ``atol`` of the
        reference's ``baseline`` values."""
        return {"name": "unchanged", "baseline": str(baseline), "where": where, "atol": float(atol)}

    @staticmethod
    def decreases() -> dict:
        """The last value is below the first (a loss curve that went down)."""
        return {"name": "decreases"}

    @staticmethod
    def modes(centers: str, radius: float, at_least: int, min_count: int = 1) -> dict:
        """Rows are samples; at least ``at_least`` of the reference's ``centers`` rows have
        ``min_count`` samples within ``radius`` of them."""
        return {"name": "modes", "centers": str(centers), "radius": float(radius),
                "at_least": int(at_least), "min_count": int(min_count)}

    @staticmethod
    def apart(points: str, min_distance: float, at_least: float) -> dict:
        """Rows are samples; at least this fraction lie farther than ``min_distance`` from every row
        of the reference's ``points`` (samples that are not copies of training points)."""
        return {"name": "apart", "points": str(points), "min_distance": float(min_distance),
                "at_least": float(at_least)}

    @staticmethod
    def near(other: str, atol: float, rtol: float = 0.0) -> dict:
        """The values agree within ``atol + rtol*|other|`` with the student's own report ``other``
        in the same cell (two routes to one result, such as a sum computed two ways)."""
        return {"name": "near", "other": str(other), "atol": float(atol), "rtol": float(rtol)}


class Check:
    """The words the feedback shows for one hidden check: what is tested, on what, and a hint.

    ``function``: the name the student wrote (``"derivative"``, ``"Dual.__truediv__"``,
    ``"Value.backward"``); ``inputs``: what one reported item is, as a plural noun
    phrase (a check of several reports counts reports, a check of one report counts
    its values: "random cubic+sine functions"); ``hint``: shown when the check fails,
    the concept to revisit in the student's terms, never the code or an expected value.
    """

    MAX_CHARS = 300

    def __init__(self, function: str, inputs: str, hint: str | None = None):
        for name, text in (("function", function), ("inputs", inputs)):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"Check {name} must be a non-empty string, got {text!r}")
        if hint is not None and (not isinstance(hint, str) or not hint.strip()):
            raise ValueError(f"Check hint must be a non-empty string or None, got {hint!r}")
        self.function, self.inputs = function.strip(), inputs.strip()
        self.hint = hint.strip() if hint else None

    def as_dict(self) -> dict:
        out = {"function": self.function[:self.MAX_CHARS], "inputs": self.inputs[:self.MAX_CHARS]}
        if self.hint:
            out["hint"] = self.hint[:self.MAX_CHARS]
        return out

    def __repr__(self) -> str:
        return f"Check({self.function!r}, {self.inputs!r}, hint={self.hint!r})"


def encode_value(key: str, value, rtol: float | None = None, atol: float | None = None,
                 rule: dict | None = None, check: Check | None = None, example: str | None = None) -> dict:
    """The payload for ``value``: key, shape and flat float values (or the conversion error)."""
    import numpy as np

    payload: dict = {"key": str(key)}
    if check is not None:
        if not isinstance(check, Check):
            raise TypeError(f"report(check=...) takes a Check, got {type(check).__name__}")
        payload["check"] = check.as_dict()
    if example is not None:
        payload["example"] = str(example)[:Check.MAX_CHARS]
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
    if rule is not None:
        payload["rule"] = dict(rule)
    return payload


def report(key: str, value, *, rtol: float | None = None, atol: float | None = None,
           rule: dict | None = None, check: Check | None = None, example: str | None = None) -> None:
    """Send ``value`` (converted to floats) out of the kernel for the grader to check.

    Without ``rule`` the grader compares it with the reference's report of ``key``;
    with one (``Rule.accuracy(...)`` and the like) it applies that rule instead.
    ``check`` and ``example`` are the words a student reads when it fails.
    """
    from IPython.display import display

    payload = encode_value(key, value, rtol, atol, rule, check, example)
    display({CHECK_MIME: payload, "text/plain": f"[result '{payload['key']}' recorded for grading]"},
            raw=True)
