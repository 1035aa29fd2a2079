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
3. **reasons**: each grade cell that lost points gets a reason a student can read
   (``cell.metadata["gradkit"]["reason"]`` in the autograded notebook, which the
   feedback page shows): which result differed and by how much, that a withheld
   module was used, that the kernel ran out of time or memory or died. Reasons
   never quote a hidden test or an expected value.
"""

from __future__ import annotations

import nbformat

from gradkit_autograder.judging.trusted_checks import check_cell
from gradkit_autograder.state.contract import GradingResult, NotebookResult
from gradkit_autograder.judging.own_code import own_code_problems
from gradkit_autograder.judging.source_facts import solutions_tested_by
from gradkit_autograder.judging.tampering import tampering_problems
from gradkit_autograder.state.settings import AssignmentSettings

# incident kinds that explain why a cell lost points, and how to say it to a student
INCIDENT_REASONS = {
    "cell_time_limit": "ran out of time",
    "kernel_hung": "ran out of time and ignored the interrupt",
    "memory_limit": "ran out of memory",
    "kernel_died": "the kernel died",
    "notebook_time_limit": "the notebook used its whole time budget before this point",
}


def _incident_reasons(nb: NotebookResult, cells: list[dict]) -> dict[str, str]:
    """Grade cell -> the incident that explains it (in the cell or in a cell it tests)."""
    by_cell: dict[str, str] = {}
    for incident in nb.incidents:
        text = INCIDENT_REASONS.get(incident.get("kind", ""))
        if text and incident.get("cell"):
            by_cell.setdefault(incident["cell"], text)
    reasons = {}
    for grade_cell, solutions in solutions_tested_by(cells).items():
        if grade_cell in by_cell:
            reasons[grade_cell] = f"this test {by_cell[grade_cell]}"
        for solution in solutions:
            if solution in by_cell and grade_cell not in reasons:
                reasons[grade_cell] = f"in the cell '{solution}' that this test checks: {by_cell[solution]}"
    return reasons


def judge_notebook(nb: NotebookResult, reference: dict, settings: AssignmentSettings) -> None:
    """Apply the trusted checks and the own-code check to one notebook; record reasons."""
    if nb.notebook_json is None:
        return
    # nbformat's v4 reader and writer, without the schema validation of nbformat.reads/writes
    # (a1's notebook: read 1.0 ms instead of 3.7, write 2.1 ms instead of 3.0): the worker
    # wrote this notebook with nbformat from nbgrader's output, and only metadata and
    # outputs are added here
    notebook = nbformat.v4.reads(nb.notebook_json)
    cells = [dict(c) for c in notebook.cells]
    reasons: dict[str, str] = {}
    zeroed: set[str] = set()
    for cell_id in nb.grades:
        expected = reference.get(cell_id, {})
        got = nb.reports.get(cell_id, {})
        if not expected and not got:
            continue
        problems, forgeries = check_cell(expected, got, settings.checks.rtol, settings.checks.atol)
        if forgeries:
            nb.incidents.append({"kind": "forged_report", "cell": cell_id, "message": (
                "reports this test does not send came from the cell (" + "; ".join(forgeries)
                + "); scored 0")})
        if problems:
            zeroed.add(cell_id)
            reasons[cell_id] = "; ".join(problems)
    own_code = own_code_problems(cells, settings.withheld, settings.own_code)
    tampered = {k: v for k, v in tampering_problems(cells).items() if k not in own_code}
    for kind, found in (("not_own_code", own_code), ("tests_tampered_with", tampered)):
        for cell_id, why in found.items():
            if cell_id in nb.grades:
                zeroed.add(cell_id)
                reasons[cell_id] = why
                nb.incidents.append({"kind": kind, "cell": cell_id, "message": why})
    own_code.update(tampered)
    for cell_id, why in _incident_reasons(nb, cells).items():
        if cell_id in nb.grades and (cell_id in zeroed or not nb.grades[cell_id]["auto_score"]):
            reasons[cell_id] = why + (f"; {reasons[cell_id]}" if cell_id in reasons else "")
    forged = {i["cell"] for i in nb.incidents if i["kind"] == "forged_report"}
    for cell_id in zeroed:
        grade = nb.grades[cell_id]
        if grade["auto_score"] and cell_id not in forged and cell_id not in own_code:
            nb.incidents.append({"kind": "trusted_check_overruled", "cell": cell_id, "message": (
                "the cell ran without error in the kernel, but the grader's check failed: "
                + reasons[cell_id] + "; scored 0")})
        grade["auto_score"] = 0.0
    for cell in notebook.cells:
        cell_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell_id in reasons:
            cell.metadata.setdefault("gradkit", {})["reason"] = reasons[cell_id]
            if cell_id in zeroed and cell.cell_type == "code":
                cell.outputs.append(nbformat.v4.new_output(
                    "error", ename="GradingCheckFailed", evalue=reasons[cell_id],
                    traceback=[f"GradingCheckFailed: {reasons[cell_id]}"]))
    nb.notebook_json = nbformat.v4.writes(notebook)


def judge(result: GradingResult, reference: dict[str, dict], settings: AssignmentSettings) -> None:
    """Decide every notebook of ``result`` in place against the reference run's reports."""
    for nb in result.notebooks:
        judge_notebook(nb, reference.get(nb.name, {}), settings)
