"""``gradkit release``: student versions of assignments, via ``nbgrader generate_assignment``.

nbgrader does the work: it strips the solutions (``ClearSolutions``), removes the
hidden tests (``ClearHiddenTests``), records every cell and the checksum of every
locked cell in the gradebook (``SaveCells``, ``ComputeChecksums``) and writes
``release/<assignment>/``. This module runs it per assignment and then checks the
release it produced: no hidden-test delimiter or solution marker may remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from gradkit_autograder.state.conventions import hidden_test_delimiters, solution_delimiters
from gradkit_autograder.state.course import Course, CourseError


def leak_markers(config) -> tuple[str, ...]:
    """The solution and hidden-test markers of this course: none may survive a release."""
    return hidden_test_delimiters(config) + solution_delimiters(config)


@dataclass
class ReleaseSummary:
    assignment: str
    release_dir: Path
    notebooks: int
    graded_cells: int
    points: float
    locked_cells: int


def release_assignment(course: Course, assignment: str) -> ReleaseSummary:
    """Generate the student version of one assignment; raise with nbgrader's log on failure."""
    course.require_source(assignment)
    course.settings(assignment)  # fail early on a malformed assignment.yaml
    result = course.api().generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise CourseError(f"nbgrader generate_assignment failed for {assignment}:\n"
                          f"{result.get('log', '')}\n{result.get('error', '')}")
    release_dir = course.release_dir(assignment)
    for path in sorted(release_dir.glob("*.ipynb")):
        text = path.read_text()
        leaked = [m for m in leak_markers(course.config) if m in text]
        if leaked:
            raise CourseError(f"release {path} still contains {leaked}: check the markers in the source")
        nbformat.validate(nbformat.reads(text, as_version=4))
    with course.gradebook() as gb:
        nbs = gb.find_assignment(assignment).notebooks
        graded = [c for nb in nbs for c in nb.grade_cells + nb.task_cells]
        locked = [c for nb in nbs for c in nb.source_cells if c.locked and c.checksum]
        return ReleaseSummary(assignment, release_dir, len(nbs), len(graded),
                              sum(c.max_score for c in graded), len(locked))


def release(course: Course, assignments: list[str] | None = None) -> list[ReleaseSummary]:
    """Release the given assignments (default: every assignment in the source folder)."""
    return [release_assignment(course, a) for a in (assignments or course.source_assignments())]
