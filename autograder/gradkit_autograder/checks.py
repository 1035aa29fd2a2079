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
    """None if ``got`` matches ``reference``; otherwise why not (no values are quoted)."""
    if "error" in got:
        return f"the result could not be converted to numbers ({got['error']})"
    if got.get("shape") != reference.get("shape"):
        return f"shape {tuple(got.get('shape') or ())} expected {tuple(reference['shape'])}"
    try:
        want = np.array([_decode(x) for x in reference["values"]], dtype=float)
        have = np.array([_decode(x) for x in got.get("values", [])], dtype=float)
    except (TypeError, ValueError):
        return "malformed report"
    if want.shape != have.shape:
        return "malformed report"
    rtol = float(reference.get("rtol", rtol))
    atol = float(reference.get("atol", atol))
    if not np.allclose(have, want, rtol=rtol, atol=atol, equal_nan=True):
        bad = int(np.count_nonzero(~np.isclose(have, want, rtol=rtol, atol=atol, equal_nan=True)))
        return f"{bad} of {want.size} values differ from the reference"
    return None


def check_cell(reference: dict[str, list[dict]], got: dict[str, list[dict]],
               rtol: float, atol: float) -> list[str]:
    """Problems with one grade cell's reports; an empty list means the check passed."""
    problems = []
    for key, ref_payloads in sorted(reference.items()):
        ref = ref_payloads[-1]
        if key not in got:
            problems.append(f"'{key}': no result reported")
            continue
        for payload in got[key]:
            why = compare(ref, payload, rtol, atol)
            if why:
                problems.append(f"'{key}': {why}")
                break
    return problems


def failed_cells(reference: CellReports, got: CellReports, rtol: float, atol: float,
                 cells: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Grade ids (with reasons) whose trusted check fails, among ``cells`` (default: all referenced)."""
    failures = {}
    for cell_id in (cells if cells is not None else reference):
        if cell_id in reference:
            problems = check_cell(reference[cell_id], got.get(cell_id, {}), rtol, atol)
            if problems:
                failures[cell_id] = problems
    return failures
