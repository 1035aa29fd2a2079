"""Write one grading result into the course gradebook: the single writer's job.

Only the grading driver calls this (``grading.storing``), so nbgrader's gradebook
(SQLite or PostgreSQL) is never written by two processes at once. The driver commits
a batch of results (their grades and grading-ledger rows) in one transaction.
It sets what nbgrader's ``SaveAutoGrades`` would have set (auto scores, "needs
manual grade", auto comments) but keeps manual scores a grader already entered,
and writes the autograded notebooks where ``nbgrader autograde`` puts them. Late
penalties are not a grading result: ``state.late_days.apply_late_days``, their one writer,
sets them after the run from the whole term's submissions.
"""

from __future__ import annotations

import os
import stat

from nbgrader.api import BaseCell, Comment, Grade

from gradkit_autograder.state.course import Course
from gradkit_autograder.state.contract import GradingResult
from gradkit_autograder.state.conventions import TIMESTAMP_FILE


def _rows_by_cell(gb, model, sub_nb) -> dict:
    """Cell name -> the ``model`` row (nbgrader's Grade or Comment) of one submitted notebook.

    One query per notebook, where ``gb.find_grade`` makes one (a seven-table join) per
    cell: a class of 300 with 30 cells a notebook is 9000 queries fewer.
    """
    query = (gb.db.query(BaseCell.name, model).join(model, model.cell_id == BaseCell.id)
             .filter(model.notebook_id == sub_nb.id))
    return dict(query.all())


def save_grades(gb, result: GradingResult) -> None:
    """Write scores and comments of ``result`` into the nbgrader gradebook ``gb`` (the caller commits)."""
    gb.update_or_create_student(result.student)
    if result.timestamp:
        gb.update_or_create_submission(result.assignment, result.student, timestamp=result.timestamp)
    else:
        gb.update_or_create_submission(result.assignment, result.student)
    for nb in result.notebooks:
        sub_nb = gb.find_submission_notebook(nb.name, result.assignment, result.student)
        grades = _rows_by_cell(gb, Grade, sub_nb)
        comments = _rows_by_cell(gb, Comment, sub_nb)
        for cell, g in nb.grades.items():
            # a cell the gradebook lacks: nbgrader's lookup raises its own MissingEntry naming it
            grade = grades.get(cell) or gb.find_grade(cell, nb.name, result.assignment, result.student)
            grade.auto_score = g["auto_score"]
            # a manual score entered earlier stays, and asks for a new look
            grade.needs_manual_grade = g["needs_manual_grade"] or grade.manual_score is not None
        for cell, text in nb.comments.items():
            comment = comments.get(cell) or gb.find_comment(cell, nb.name, result.assignment, result.student)
            comment.auto_comment = text


def _replace_file(path, text: str) -> None:
    """nbgrader leaves autograded files read-only; replace them."""
    if path.exists():
        os.chmod(path, stat.S_IWUSR | stat.S_IRUSR)
        path.unlink()
    path.write_text(text)
    os.chmod(path, 0o444)


def save_autograded_files(course: Course, result: GradingResult) -> None:
    """``autograded/<student>/<assignment>/<notebook>.ipynb`` and the timestamp, as nbgrader lays them out."""
    dest = course.autograded_dir(result.student, result.assignment)
    dest.mkdir(parents=True, exist_ok=True)
    for nb in result.notebooks:
        if nb.notebook_json is not None:
            _replace_file(dest / f"{nb.name}.ipynb", nb.notebook_json)
    if result.timestamp:
        _replace_file(dest / TIMESTAMP_FILE, result.timestamp)
