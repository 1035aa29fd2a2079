"""The grader side of the trusted channel: compare reported results with the reference.

Runs outside every student kernel (in the grading driver). The reference
results are what the instructor's source notebook reported when it was run;
a student's grade cell passes its trusted check when it reported, for every key
the reference reported in that cell, numbers of the same shape that agree
within the reference's tolerance. Every report of a key must agree, so sending
a good value and then a bad one (or the reverse) does not help.

A report the reference made with a ``rule`` (``kernel.channel.Rule``) is judged by that
rule instead (``apply_rule``): the property is decided here, from raw numbers,
and every other key a rule names is read from the reference run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradkit_autograder.kernel.channel import CHECK_MIME

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


def _array(payload: dict[str, Any]) -> np.ndarray:
    """A payload's values as an array of its shape."""
    values = np.array([_decode(x) for x in payload.get("values", [])], dtype=float)
    return values.reshape(payload.get("shape") or values.shape)


def _fraction(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def _rows(a: np.ndarray) -> np.ndarray:
    """Samples as rows: a vector is one feature per sample; images are flattened."""
    return a.reshape(len(a), -1) if a.ndim > 1 else a.reshape(-1, 1)


def _nearest_distances(samples: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Distance of each sample row to its nearest point row, in blocks to bound memory."""
    out = np.empty(len(samples))
    for start in range(0, len(samples), 256):
        block = samples[start:start + 256]
        d2 = ((block[:, None, :] - points[None, :, :]) ** 2).sum(axis=2)
        out[start:start + 256] = np.sqrt(d2.min(axis=1))
    return out


def _percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def apply_rule(rule: dict[str, Any], got: dict[str, Any], reference_cell: dict[str, list[dict]],
               got_cell: dict[str, list[dict]]) -> str | None:
    """None if the student's payload ``got`` satisfies ``rule``; otherwise why not.

    ``reference_cell`` holds the reference run's payloads of the same grade cell: the keys a
    rule names (labels, centers, points, baseline, where) are read there, never from the
    student's kernel. Only ``near`` compares two of the student's own reports.
    """
    name = rule.get("name")
    values = _array(got)

    def ref(key_field: str) -> np.ndarray:
        key = rule.get(key_field)
        payloads = reference_cell.get(key or "")
        if not payloads:
            raise KeyError(f"the rule {name!r} names {key_field} {key!r}, which the reference did not report")
        return _array(payloads[0])

    def where_mask() -> np.ndarray:
        if rule.get("where") is None:
            return np.ones(values.shape, dtype=bool)
        return ref("where").reshape(values.shape) != 0

    if name == "bounds":
        low, high = rule.get("low"), rule.get("high")
        bad = np.isnan(values)
        if low is not None:
            bad |= values < low
        if high is not None:
            bad |= values > high
        if bad.any():
            span = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
            if values.size == 1:
                return f"the value lies outside {span}"
            return f"{int(bad.sum())} of {values.size} values lie outside {span}"
        return None
    if name == "accuracy":
        labels = ref("labels")
        if labels.shape != values.shape:
            return f"has shape {values.shape}, but the test expected one prediction per label {labels.shape}"
        share = _fraction(values == labels)
        if share < rule["at_least"]:
            return f"{_percent(share)} right on the test's fresh inputs; at least {_percent(rule['at_least'])} needed"
        return None
    if name in ("changed", "unchanged"):
        baseline = ref("baseline")
        if baseline.shape != values.shape:
            return f"has shape {values.shape}, but the test expected shape {baseline.shape}"
        mask = where_mask()
        moved = np.abs(values - baseline) > rule.get("atol", 0.0)
        moved = moved | np.isnan(values)
        if name == "unchanged":
            count = int((moved & mask).sum())
            return f"{count} of {int(mask.sum())} values changed where they must stay as they were" if count else None
        share = _fraction(moved[mask])
        if share < rule["at_least"]:
            return (f"only {_percent(share)} of the {int(mask.sum())} values that training should change "
                    f"moved; at least {_percent(rule['at_least'])} needed")
        return None
    if name == "decreases":
        flat = values.ravel()
        if flat.size < 2 or not flat[-1] < flat[0]:
            return "did not decrease from its first value to its last"
        return None
    if name == "modes":
        samples, centers = _rows(values), _rows(ref("centers"))
        if samples.shape[1] != centers.shape[1]:
            return f"samples have {samples.shape[1]} coordinates, the modes {centers.shape[1]}"
        d2 = ((samples[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        near = d2 <= rule["radius"] ** 2
        covered = int(((near.sum(axis=0)) >= rule.get("min_count", 1)).sum())
        if covered < rule["at_least"]:
            return f"the samples cover {covered} of {len(centers)} modes; at least {rule['at_least']} needed"
        return None
    if name == "apart":
        samples, points = _rows(values), _rows(ref("points"))
        if samples.shape[1] != points.shape[1]:
            return f"samples have {samples.shape[1]} numbers each, the training points {points.shape[1]}"
        share = _fraction(_nearest_distances(samples, points) > rule["min_distance"])
        if share < rule["at_least"]:
            return (f"only {_percent(share)} of the samples differ from every training point; at least "
                    f"{_percent(rule['at_least'])} needed (samples should be new, not copies)")
        return None
    if name == "near":
        # the other result is named by its check's words, never by its key (a student reads this)
        words = (reference_cell.get(rule.get("other") or "") or [{}])[0].get("check") or {}
        other_name = f"your {words['inputs']}" if words.get("inputs") else "another result of this test"
        other = got_cell.get(rule.get("other") or "")
        if not other:
            return f"needs {other_name}, which was not reported"
        target = _array(other[0])
        if target.shape != values.shape:
            return f"has shape {values.shape}, but {other_name} has shape {target.shape}"
        close = np.isclose(values, target, rtol=rule.get("rtol", 0.0), atol=rule["atol"])
        if not close.all():
            with np.errstate(invalid="ignore"):
                error = np.nanmax(np.abs(values - target)) if values.size else 0.0
            return f"differs from {other_name} by up to {error:.2g} (allowed {rule['atol']:g})"
        return None
    raise KeyError(f"unknown rule {name!r}")


@dataclass
class Finding:
    """One report of a grade cell that did not pass, in words that never quote an expected value.

    ``kind``: missing, repeated, unexpected, unconvertible, shape, differs or rule;
    ``detail`` completes a sentence whose subject is the report ("has shape (3,), but ...").
    For ``differs``, ``bad`` of ``total`` values differ and ``error`` is the largest gap.
    """

    key: str
    kind: str
    detail: str
    bad: int = 1
    total: int = 1
    error: float | None = None


def _difference(key: str, reference: dict[str, Any], got: dict[str, Any], rtol: float,
                atol: float) -> Finding | None:
    """None if ``got`` matches ``reference``; otherwise the finding."""
    if "error" in got:
        return Finding(key, "unconvertible", f"could not be converted to numbers ({got['error']})")
    if got.get("shape") != reference.get("shape"):
        return Finding(key, "shape", f"has shape {tuple(got.get('shape') or ())}, "
                                     f"but the test expected shape {tuple(reference['shape'])}")
    try:
        want = np.array([_decode(x) for x in reference["values"]], dtype=float)
        have = np.array([_decode(x) for x in got.get("values", [])], dtype=float)
    except (TypeError, ValueError):
        return Finding(key, "unconvertible", "is a malformed report")
    if want.shape != have.shape:
        return Finding(key, "unconvertible", "is a malformed report")
    rtol = float(reference.get("rtol", rtol))
    atol = float(reference.get("atol", atol))
    close = np.isclose(have, want, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return None
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        error = np.abs(have - want)[~close]
        scale = np.abs(want[~close])
        relative = error[scale > 0] / scale[scale > 0]
    finite = np.isfinite(error).any()
    size = (f"largest error {np.nanmax(error):.2g}"
            + (f", relative {np.nanmax(relative):.2g}" if np.isfinite(relative).any() else "")
            if finite else "non-finite values where numbers were expected")
    return Finding(key, "differs", f"{int((~close).sum())} of {want.size} values differ from the "
                                   f"expected result ({size})", int((~close).sum()), int(want.size),
                   float(np.nanmax(error)) if finite else math.inf)


def compare(reference: dict[str, Any], got: dict[str, Any], rtol: float, atol: float) -> str | None:
    """None if ``got`` matches ``reference``; otherwise why not, without quoting any expected value."""
    found = _difference(str(reference.get("key", "")), reference, got, rtol, atol)
    return found.detail if found else None


def cell_findings(reference: dict[str, list[dict]], got: dict[str, list[dict]],
                  rtol: float, atol: float) -> tuple[list[Finding], list[str]]:
    """(findings, forgeries) of one grade cell's reports; both empty means the check passed.

    Reports are bound to their cell: each key the reference reported in this
    cell must come exactly as often as the reference sent it (once, normally),
    and no other key may come. A report that is missing is a finding; one that
    comes twice or under a key the reference never used is also a forgery
    (student code emitting reports), named for the incident list.
    """
    findings, forgeries = [], []
    for key, ref_payloads in reference.items():     # in the order the reference reported them
        mine = got.get(key, [])
        if not mine:
            findings.append(Finding(key, "missing", "was not reported (the cell stopped or raised before it)"))
            continue
        if len(mine) != len(ref_payloads):
            findings.append(Finding(key, "repeated", f"was reported {len(mine)} times, not {len(ref_payloads)}"))
            forgeries.append(f"'{key}' reported {len(mine)} times")
            continue
        for ref, payload in zip(ref_payloads, mine):
            if "error" in payload:
                found = Finding(key, "unconvertible", f"could not be converted to numbers ({payload['error']})")
            elif isinstance(ref.get("rule"), dict):
                if payload.get("shape") != ref.get("shape"):
                    found = Finding(key, "shape", f"has shape {tuple(payload.get('shape') or ())}, "
                                                  f"but the test expected shape {tuple(ref['shape'])}")
                else:
                    try:
                        why = apply_rule(ref["rule"], payload, reference, got)
                    except (KeyError, TypeError, ValueError) as err:
                        why = f"could not be checked ({err})"
                    found = Finding(key, "rule", why) if why else None
            else:
                found = _difference(key, ref, payload, rtol, atol)
            if found:
                findings.append(found)
                break
    for key in sorted(set(got) - set(reference)):
        findings.append(Finding(key, "unexpected", "was sent, but this test does not report it"))
        forgeries.append(f"unexpected report '{key}'")
    return findings, forgeries


def check_cell(reference: dict[str, list[dict]], got: dict[str, list[dict]],
               rtol: float, atol: float) -> tuple[list[str], list[str]]:
    """(problems, forgeries) of one grade cell, in the author's terms (report keys named).

    For the instructor (a reference that fails its own rules, the incident list);
    what a student reads is built from ``cell_findings`` by ``judging.reasons``.
    """
    findings, forgeries = cell_findings(reference, got, rtol, atol)
    return [f"result '{f.key}' {f.detail}" for f in findings], forgeries
