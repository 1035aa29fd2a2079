"""The driver-worker contract: what a grading task receives and what it returns.

Both sides are plain data classes so that Ray can ship them between processes
and a reader can see, in one place, everything a worker is told and everything
it may answer. The driver (``commands.grade``, with ``grading.plan``) builds
``GradingJob``s; the worker (``grading.worker.grade_submission``) returns a
``GradingResult``; the driver judges it (``judging.decision``) and is the only
one to write it into the gradebook (``state.gradebook``). It lives in ``state``,
below every room that reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REFERENCE_STUDENT = "__reference__"     # the instructor's source notebook, graded as a student


@dataclass(frozen=True)
class GradingJob:
    """One submission to grade, as plain data (it is shipped to a Ray worker)."""

    assignment: str
    student: str
    snapshot: dict[str, Any]             # the released assignment (state.snapshot.take_snapshot)
    files: dict[str, bytes]              # relative path -> content, as collected
    source_files: dict[str, bytes]       # non-notebook files of the source folder
    settings: dict[str, Any]             # AssignmentSettings.to_dict()
    course_config: dict[str, Any]        # the course's nbgrader configuration
    seed: int                            # this run's seed for the hidden tests' inputs
    released: dict[str, bytes] = field(default_factory=dict)   # notebook name -> released .ipynb
    secrets: Any = None                  # sandbox.isolation.Secrets: folders hidden in the fallback modes
    alembic_version: str = ""            # the course gradebook's schema stamp ("": nbgrader finds it)


@dataclass
class NotebookResult:
    """One notebook of a graded submission."""

    name: str
    submitted: bool
    grades: dict[str, dict[str, Any]] = field(default_factory=dict)   # cell -> auto_score, max_score, needs_manual_grade
    comments: dict[str, str | None] = field(default_factory=dict)
    notebook_json: str | None = None     # the autograded notebook
    reports: dict[str, dict[str, list]] = field(default_factory=dict)   # grade cell -> key -> payloads
    incidents: list[dict[str, str]] = field(default_factory=list)


@dataclass
class GradingResult:
    """What a worker returns for one submission (scores, reports, incidents, timings)."""

    assignment: str
    student: str
    ok: bool
    error: str | None = None
    timestamp: str | None = None
    notebooks: list[NotebookResult] = field(default_factory=list)
    incidents: list[dict[str, str]] = field(default_factory=list)
    isolation: str = ""
    log: str = ""
    duration_s: float = 0.0
    node_id: str = ""
    # seconds per phase inside the worker: isolation (deciding it, once per worker
    # process), prepare (private course and gradebook), autograde (nbgrader's whole
    # run), of which kernel_start, kernel_stop, execute, scratch (copying the kernels'
    # working folders); collect (reading back)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(g["auto_score"] or 0.0 for nb in self.notebooks for g in nb.grades.values())

    @property
    def max_score(self) -> float:
        return sum(g["max_score"] for nb in self.notebooks for g in nb.grades.values())

    def all_incidents(self) -> list[dict[str, str]]:
        return self.incidents + [dict(i, notebook=nb.name) for nb in self.notebooks for i in nb.incidents]
