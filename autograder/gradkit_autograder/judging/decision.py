"""What decides points, in the grader: one graded submission against the reference run.

nbgrader scores each grade cell by whether it raised in the student's kernel;
that is only the first word. The driver then decides, outside every kernel:

1. **trusted checks** (``judging.trusted_checks.check_cell``): every grade cell in which the
   reference solution reported results must have reported the same keys, once
   each, with numbers that agree; a report the reference never made is a forgery;
2. **own code and trusted names** (``judging.own_code``, ``judging.tampering``, from
   the cells' source): a grade cell whose solution cells use what the assignment
   does not allow scores 0, and so does one that reads a name a student cell
   rebound, or that comes after a student cell that changed a module;
3. **reasons** (``judging.reasons``): each grade cell that lost points gets a reason in
   the student's terms, in ``cell.metadata["gradkit"]`` of the autograded notebook
   (``reason``: the summary of at most three lines, ``reason_details``, ``reason_label``),
   in an error output of the cell (what formgrader shows) and in the auto comment of the
   solution cells it tests. Reasons never quote a hidden test or an expected value.
"""

from __future__ import annotations

import nbformat

from gradkit_autograder.judging.own_code import own_code_problems
from gradkit_autograder.judging.reasons import (Raised, Reason, build_reason, cell_hints, hidden_text,
                                                raised_in)
from gradkit_autograder.judging.source_facts import Notebook, solutions_tested_by
from gradkit_autograder.judging.tampering import tampering_problems
from gradkit_autograder.judging.trusted_checks import cell_findings
from gradkit_autograder.state.contract import GradingResult, NotebookResult
from gradkit_autograder.state.settings import AssignmentSettings

DEFAULT_HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")   # nbgrader's ClearHiddenTests defaults


def _stopped_words(kind: str, settings: AssignmentSettings) -> str | None:
    """An incident that ends a cell, in words with the limit's value."""
    limits = settings.limits
    return {
        "cell_time_limit": f"ran out of time (each cell may run {limits.cell_timeout_s:g} s)",
        "kernel_hung": f"ran out of time (each cell may run {limits.cell_timeout_s:g} s) and ignored the interrupt",
        "memory_limit": f"ran out of memory (the kernel and its processes may use {limits.memory_mb} MiB)",
        "kernel_died": "the kernel died (a crash, exit() or os._exit)",
        "notebook_time_limit": (f"not run: the notebook used its whole time budget "
                                f"({limits.notebook_timeout_s:g} s) before this cell"),
    }.get(kind)


def _stopped_reasons(nb: NotebookResult, cells: list[dict], settings: AssignmentSettings) -> dict[str, str]:
    """Grade cell -> the incident that stopped it (in the cell or in a cell it tests)."""
    by_cell: dict[str, str] = {}
    for incident in nb.incidents:
        text = _stopped_words(incident.get("kind", ""), settings)
        if text and incident.get("cell"):
            by_cell.setdefault(incident["cell"], text)
    reasons = {}
    for grade_cell, solutions in solutions_tested_by(cells).items():
        if grade_cell in by_cell:
            reasons[grade_cell] = f"this test {by_cell[grade_cell]}"
        for solution in solutions:
            if solution in by_cell and grade_cell not in reasons:
                reasons[grade_cell] = f"your cell '{solution}', which this test needs, {by_cell[solution]}"
    return reasons


def _first_cause(cell: dict, solutions: list[dict], by_count: dict, markers: tuple[str, str],
                 secret: str) -> Raised | None:
    """The exception to tell the student about: the test's own when it came from their code,
    else the one a solution cell it tests (``solutions``) ended with (the stub's
    ``NotImplementedError``, a ``NameError`` in their cell), else the test's (its visible message)."""
    raised = raised_in(cell, by_count, markers, secret)
    if raised is not None and raised.where in ("solution", "hidden"):
        return raised
    for solution in solutions:
        own = raised_in(solution, by_count, markers, secret)
        if own is not None:   # without frames (a helper's short message) it is still this cell's
            return own if own.where == "solution" else Raised(
                own.ename, own.message, "solution", solution["metadata"]["nbgrader"]["grade_id"])
    return raised


def judge_notebook(nb: NotebookResult, reference: dict, settings: AssignmentSettings,
                   hidden_markers: tuple[str, str] = DEFAULT_HIDDEN_MARKERS) -> None:
    """Apply the trusted checks and the own-code check to one notebook; write each lost cell's reason."""
    if nb.notebook_json is None:
        return
    # nbformat's v4 reader and writer, without the schema validation of nbformat.reads/writes
    # (a1's notebook: read 1.0 ms instead of 3.7, write 2.1 ms instead of 3.0): the worker
    # wrote this notebook with nbformat from nbgrader's output, and only metadata and
    # outputs are added here
    notebook = nbformat.v4.reads(nb.notebook_json)
    cells = [dict(c) for c in notebook.cells]
    findings, zeroed = {}, set()
    for cell_id in nb.grades:
        expected = reference.get(cell_id, {})
        got = nb.reports.get(cell_id, {})
        if not expected and not got:
            continue
        found, forgeries = cell_findings(expected, got, settings.checks.rtol, settings.checks.atol)
        if forgeries:
            nb.incidents.append({"kind": "forged_report", "cell": cell_id, "message": (
                "reports this test does not send came from the cell (" + "; ".join(forgeries)
                + "); scored 0")})
        if found:
            zeroed.add(cell_id)
            findings[cell_id] = found
    book = Notebook(cells)     # the cells' source read once, for both checks
    own_code = own_code_problems(cells, settings.withheld, settings.own_code, book)
    tampered = {k: v for k, v in tampering_problems(cells, book).items() if k not in own_code}
    for kind, found in (("not_own_code", own_code), ("tests_tampered_with", tampered)):
        for cell_id, why in found.items():
            if cell_id in nb.grades:
                zeroed.add(cell_id)
                nb.incidents.append({"kind": kind, "cell": cell_id, "message": why})
    judged = {**tampered, **own_code}
    stopped = _stopped_reasons(nb, cells, settings)
    by_count = {c.get("execution_count"): c for c in cells if c.get("execution_count")}
    by_id = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): c for c in cells}
    tested_by = solutions_tested_by(cells)
    secret = None     # the hidden regions' text, read once a cell needs a reason
    reasons: dict[str, Reason] = {}
    for cell in cells:
        cell_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        grade = nb.grades.get(cell_id)
        if grade is None or (cell_id not in zeroed and (grade["auto_score"] or 0) >= grade["max_score"]):
            continue
        secret = hidden_text(cells, hidden_markers) if secret is None else secret
        mine = tested_by.get(cell_id, [])
        related = [h for other, solutions in tested_by.items() if other != cell_id and set(solutions) & set(mine)
                   for h in cell_hints(reference.get(other, {}))]
        cause = _first_cause(cell, [by_id[s] for s in mine if s in by_id], by_count, hidden_markers, secret)
        reasons[cell_id] = build_reason(cell_id, findings.get(cell_id, []), reference.get(cell_id, {}), cause,
                                        stopped.get(cell_id), judged.get(cell_id), related)
    forged = {i["cell"] for i in nb.incidents if i["kind"] == "forged_report"}
    for cell_id in zeroed:
        grade = nb.grades[cell_id]
        if grade["auto_score"] and cell_id not in forged and cell_id not in judged:
            nb.incidents.append({"kind": "trusted_check_overruled", "cell": cell_id, "message": (
                "the cell ran without error in the kernel, but the grader's check failed: "
                + "; ".join(f"result '{f.key}' {f.detail}" for f in findings.get(cell_id, []))
                + "; scored 0")})
        grade["auto_score"] = 0.0
    _write_reasons(notebook, nb, reasons, zeroed, tested_by)
    nb.notebook_json = nbformat.v4.writes(notebook)


def _write_reasons(notebook, nb: NotebookResult, reasons: dict[str, Reason], zeroed: set[str],
                   tested_by: dict[str, list[str]]) -> None:
    """Each reason into its cell's metadata (the feedback page reads it), the cell's output
    (formgrader shows it) and the auto comment of the solution cells it tests."""
    for cell in notebook.cells:
        cell_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        reason = reasons.get(cell_id)
        if reason is None:
            continue
        cell.metadata.setdefault("gradkit", {}).update(
            reason=reason.text, reason_details=reason.details, reason_label=reason.label)
        if cell_id in zeroed and cell.cell_type == "code":
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename="GradingCheckFailed", evalue=reason.text,
                traceback=[f"GradingCheckFailed: {reason.text}"]))
        for solution in tested_by.get(cell_id, []):
            if solution in nb.comments:
                earlier = nb.comments[solution]
                line = f"{cell_id} " + " / ".join(reason.summary)
                nb.comments[solution] = f"{earlier}\n{line}" if earlier else line


def judge(result: GradingResult, reference: dict[str, dict], settings: AssignmentSettings,
          hidden_markers: tuple[str, str] = DEFAULT_HIDDEN_MARKERS) -> None:
    """Decide every notebook of ``result`` in place against the reference run's reports."""
    for nb in result.notebooks:
        judge_notebook(nb, reference.get(nb.name, {}), settings, hidden_markers)
