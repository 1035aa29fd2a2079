"""Storing a grading run's results: the reference as the oracle, then each student's result.

The driver is the only writer of the course gradebook. For the reference run it
requires a clean run with full marks whose reports pass their own rules
(``reference_reports``), and keeps those reports as what every student of the run
is compared with. For each student it judges the result (``judging.decision``),
writes the grades and autograded notebooks (``state.gradebook``) and then the
ledger row (``state.grading_ledger``), a batch of results per commit.
"""

from __future__ import annotations

import json
import time

from gradkit_autograder.grading.run_summary import GradeError, GradeSummary, StudentOutcome
from gradkit_autograder.judging.decision import judge
from gradkit_autograder.judging.trusted_checks import check_cell
from gradkit_autograder.state import grading_ledger
from gradkit_autograder.state.conventions import hidden_test_delimiters
from gradkit_autograder.state.contract import GradingResult, NotebookResult
from gradkit_autograder.state.gradebook import save_autograded_files, save_grades
from gradkit_autograder.state.settings import AssignmentSettings


def reference_reports(result: GradingResult) -> dict:
    """The reference run must be clean and earn full marks: its reports become the oracle.

    Otherwise the error names each check (grade cell) that lost points and why.
    """
    if not result.ok:
        raise GradeError(f"the reference solution could not be graded: {result.error}")
    lost = [f"{nb.name}: {cell} ({g['auto_score'] or 0:g} of {g['max_score']:g}, {why_lost(nb, cell)})"
            for nb in result.notebooks for cell, g in nb.grades.items()
            if (g["auto_score"] or 0) < g["max_score"]]
    if lost:
        raise GradeError(f"the reference solution does not earn full marks on {'; '.join(lost)}; fix the "
                         f"source notebook (gradkit verify shows the details)")
    # a rule the reference itself breaks would fail every honest student (and pass nobody for the right reason)
    broken = [f"{nb.name}: {cell} ({'; '.join(problems)})" for nb in result.notebooks
              for cell, reports in nb.reports.items()
              for problems in [check_cell(reports, reports, 0.0, 0.0)[0]] if problems]
    if broken:
        raise GradeError(f"the reference solution fails its own checks on {'; '.join(broken)}; fix the "
                         f"hidden test's rule or the reference")
    return {nb.name: nb.reports for nb in result.notebooks}


def why_lost(nb: NotebookResult, cell: str) -> str:
    """Why a cell of the reference run lost points: its incidents, else its error output."""
    found = [i["message"] for i in nb.incidents if i["cell"] == cell]
    if not found and nb.notebook_json:
        outputs = [o for c in json.loads(nb.notebook_json)["cells"]
                   if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == cell for o in c.get("outputs", [])]
        found = [f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"]
    return "; ".join(found) or "no error output"


def store_result(course, gb, result: GradingResult, reference: dict, settings: AssignmentSettings,
                 digest: str) -> StudentOutcome:
    """Judge one result and write it (grades, autograded files, ledger row) in the open transaction."""
    if not result.ok:
        reason = (result.error or "unknown error").strip().splitlines()[-1][:300]
        incidents = result.all_incidents() + [{"kind": "grader_error", "cell": "-", "message": reason}]
        grading_ledger.record(gb.db, result.assignment, result.student, digest, "failed", None, None,
                              incidents, result.isolation, result.duration_s)
        return StudentOutcome(result.student, "failed", incidents=incidents, error=reason,
                              node_id=result.node_id)
    judge(result, reference, settings, hidden_test_delimiters(course.config))
    save_grades(gb, result)
    save_autograded_files(course, result)
    incidents = result.all_incidents()
    grading_ledger.record(gb.db, result.assignment, result.student, digest, "graded", result.score,
                          result.max_score, incidents, result.isolation, result.duration_s)
    return StudentOutcome(result.student, "graded", result.score, result.max_score, incidents,
                          node_id=result.node_id)


def store_batch(course, gb, results: list[GradingResult], reference: dict, settings: AssignmentSettings,
                digests: dict[str, str], summary: GradeSummary, bar) -> None:
    """Store the results that arrived together in one transaction.

    Our own writes (the ledger rows, the grades' fields) wait for one commit at the
    end of the batch. nbgrader's gradebook methods commit as they go (creating the
    student and the submission each commit), so
    a batch is not one transaction: a crash mid-batch can keep a student's new
    grades without that student's ledger row. The next run then grades that student
    again and overwrites them: nothing is lost and nothing counted twice.
    """
    lap = time.monotonic()
    outcomes = [store_result(course, gb, r, reference, settings, digests[r.student]) for r in results]
    gb.db.commit()
    summary.timings["store"] = summary.timings.get("store", 0.0) + time.monotonic() - lap
    for result, outcome in zip(results, outcomes):
        summary.outcomes.append(outcome)
        summary.isolation = summary.isolation or result.isolation
    bar.update(len(outcomes))
    bar.set_postfix(graded=summary.count("graded"), failed=summary.count("failed"))


def crash_result(assignment: str, student: str, err: Exception) -> GradingResult:
    """The result of a task that never answered (its worker died, the task was lost or cancelled)."""
    name = type(err).__name__
    text = str(err).strip().splitlines()
    return GradingResult(assignment, student, ok=False,
                         error=f"grading task lost ({name}): {text[-1] if text else ''}")
