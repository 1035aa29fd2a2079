"""A scripted student: the reference submission with some cells changed (tests only)."""

from __future__ import annotations

from pathlib import Path

from gradkit_autograder.grading.class_builder import reference_notebook


def submission_with(source_path: Path, release_path: Path, answers: dict[str, str] | None = None,
                    tests: dict[str, str | None] | None = None):
    """The reference submission with some cells changed: a scripted student.

    ``answers`` replaces solution cells (by grade id); ``tests`` replaces locked
    cells, or deletes them when the value is None (what a student might try).
    """
    nb = reference_notebook(source_path, release_path)
    changes = {**(answers or {}), **(tests or {})}
    cells = []
    for cell in nb.cells:
        cell_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell_id in changes:
            if changes[cell_id] is None:
                continue
            cell.source = changes[cell_id]
        cells.append(cell)
    nb.cells = cells
    return nb
