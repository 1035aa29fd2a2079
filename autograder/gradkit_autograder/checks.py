"""The grader side of the trusted channel: compare reported results with the reference.

Runs outside every student kernel (in the grading driver). The reference
results are what the instructor's source notebook reported when it was run;
a student's grade cell passes its trusted check when it reported, for every key
the reference reported in that cell, numbers of the same shape that agree
within the reference's tolerance. Every report of a key must agree, so sending
a good value and then a bad one (or the reverse) does not help.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from gradkit_autograder.channel import CHECK_MIME

# cell id -> key -> reference payload; one such map per notebook
CellReports = dict[str, dict[str, list[dict[str, Any]]]]


def _decode(x) -> float:
    if isinstance(x, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(x, math.nan)
    return float(x)


def cell_reports(cell: dict) -> dict[str, list[dict[str, Any]]]:
    """All channel payloads in one cell's outputs, grouped by key."""
    found: dict[str, list[dict[str, Any]]] = {}
    for output in cell.get("outputs", []):
        payload = output.get("data", {}).get(CHECK_MIME) if output.get("output_type") in (
            "display_data", "execute_result") else None
        if isinstance(payload, dict) and isinstance(payload.get("key"), str):
            found.setdefault(payload["key"], []).append(payload)
    return found


def notebook_reports(nb: dict) -> CellReports:
    """Channel payloads of every grade cell of a notebook, by grade id."""
    reports: CellReports = {}
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id"):
            found = cell_reports(cell)
            if found:
                reports[meta["grade_id"]] = found
    return reports


def compare(reference: dict[str, Any], got: dict[str, Any], rtol: float, atol: float) -> str | None:
    """None if ``got`` matches ``reference``; otherwise why not, without quoting any expected value."""
    if "error" in got:
        return f"could not be converted to numbers ({got['error']})"
    if got.get("shape") != reference.get("shape"):
        return (f"has shape {tuple(got.get('shape') or ())}, "
                f"but the test expected shape {tuple(reference['shape'])}")
    try:
        want = np.array([_decode(x) for x in reference["values"]], dtype=float)
        have = np.array([_decode(x) for x in got.get("values", [])], dtype=float)
    except (TypeError, ValueError):
        return "is a malformed report"
    if want.shape != have.shape:
        return "is a malformed report"
    rtol = float(reference.get("rtol", rtol))
    atol = float(reference.get("atol", atol))
    close = np.isclose(have, want, rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            error = np.abs(have - want)[~close]
            relative = (error / np.maximum(np.abs(want[~close]), 1e-300))
        size = (f"largest error {np.nanmax(error):.2g}, relative {np.nanmax(relative):.2g}"
                if np.isfinite(error).any() else "non-finite values where numbers were expected")
        return f"{int((~close).sum())} of {want.size} values differ from the expected result ({size})"
    return None


def check_cell(reference: dict[str, list[dict]], got: dict[str, list[dict]],
               rtol: float, atol: float) -> tuple[list[str], list[str]]:
    """(problems, forgeries) of one grade cell's reports; both empty means the check passed.

    Reports are bound to their cell: each key the reference reported in this
    cell must come exactly as often as the reference sent it (once, normally),
    and no other key may come. A report that is missing is a problem; one that
    comes twice or under a key the reference never used is also a forgery
    (student code emitting reports), named for the incident list.
    """
    problems, forgeries = [], []
    for key, ref_payloads in sorted(reference.items()):
        mine = got.get(key, [])
        if not mine:
            problems.append(f"result '{key}' was not reported (the cell stopped or raised before it)")
            continue
        if len(mine) != len(ref_payloads):
            problems.append(f"result '{key}' was reported {len(mine)} times, not {len(ref_payloads)}")
            forgeries.append(f"'{key}' reported {len(mine)} times")
            continue
        for ref, payload in zip(ref_payloads, mine):
            why = compare(ref, payload, rtol, atol)
            if why:
                problems.append(f"result '{key}' {why}")
                break
    for key in sorted(set(got) - set(reference)):
        problems.append(f"a result named '{key}' that this test does not report was sent")
        forgeries.append(f"unexpected report '{key}'")
    return problems, forgeries
