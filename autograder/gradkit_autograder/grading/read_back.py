"""Reading one task's outcome back from its private nbgrader course, as plain data.

After nbgrader's ``autograde`` has run, ``read_results`` takes from the private
gradebook each notebook's scores and comments, and from each autograded notebook
its trusted-channel reports (``judging.trusted_checks.notebook_reports``), the
incidents ``GuardedExecute`` noted and its phase timings. ``nothing_submitted``
is the outcome when no expected notebook came in; ``failure_reason`` the line
that says why nbgrader failed.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from gradkit_autograder.judging.trusted_checks import notebook_reports
from gradkit_autograder.state.contract import GradingJob, NotebookResult
from gradkit_autograder.state.conventions import course_id


def read_results(root: Path, job: GradingJob, present: set[str],
                 timings: dict[str, float]) -> list[NotebookResult]:
    """Grades, comments and notebooks from the private course; adds GuardedExecute's timings."""
    from nbgrader.api import Gradebook

    results = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id(job.course_config)) as gb:
        submission = gb.find_submission(job.assignment, job.student)
        by_name = {nb.notebook.name: nb for nb in submission.notebooks}
        for nb_snap in job.snapshot["notebooks"]:
            name = nb_snap["name"]
            sub_nb = by_name[name]
            result = NotebookResult(name=name, submitted=name in present)
            for grade in sub_nb.grades:
                result.grades[grade.cell.name] = {"auto_score": grade.auto_score,
                                                  "max_score": grade.max_score,
                                                  "needs_manual_grade": bool(grade.needs_manual_grade)}
            for comment in sub_nb.comments:
                result.comments[comment.cell.name] = comment.auto_comment
            path = root / "autograded" / job.student / job.assignment / f"{name}.ipynb"
            if path.exists():
                # nbgrader's exporter validated this notebook when it wrote it: read it back
                # with nbformat's v4 reader and writer, which skip a second schema validation
                nb = nbformat.v4.reads(path.read_text(encoding="utf-8"))
                result.reports = notebook_reports(nb)
                result.incidents = list(nb.metadata.get("gradkit", {}).get("incidents", []))
                spent = nb.metadata.get("gradkit", {}).pop("timings", {})
                for phase, seconds in spent.items():
                    timings[phase] = timings.get(phase, 0.0) + seconds
                result.notebook_json = nbformat.v4.writes(nb)
            results.append(result)
    return results


def nothing_submitted(snapshot: dict) -> list[NotebookResult]:
    """Every graded cell at 0, as nbgrader scores a missing notebook (nothing left to grade by hand)."""
    results = []
    for nb in snapshot["notebooks"]:
        result = NotebookResult(name=nb["name"], submitted=False)
        for cell in nb["grade_cells"] + nb["task_cells"]:
            result.grades[cell["name"]] = {"auto_score": 0.0, "max_score": cell["max_score"],
                                           "needs_manual_grade": False}
        results.append(result)
    return results


def failure_reason(log: str, error: str) -> str:
    """The last exception line nbgrader logged (its final message only says "see above")."""
    found = re.findall(r"^\s*([A-Za-z_.]*(?:Error|Exception)\b.*)$", log + "\n" + error, re.M)
    useful = [f for f in found if not f.startswith("nbgrader.converters.base.NbGraderException")]
    return (useful or found or ["nbgrader autograde failed"])[-1].strip()[:500]
