"""What one Ray task does: autograde one submission with nbgrader, privately.

``grade_submission(job)`` receives everything as data (the submission's files,
the snapshot of the released assignment, the settings; ``state.contract``),
screens the files (``judging.screening``), builds a throw-away nbgrader course in
a private workspace (``grading.workspace``), runs nbgrader's own ``autograde``
there with the configuration of ``grading.nbgrader_setup`` (its sanitize and
autograde preprocessors, with ``Execute`` swapped for ``GuardedExecute``), and
returns the scores, comments, autograded notebooks, trusted-channel reports and
incidents as data (``grading.read_back``). It never touches the course
gradebook: the driver, the single writer, stores the result.

The same function runs the instructor's source notebook to get the reference
reports (the "student" is then the reference solution itself).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from gradkit_autograder.grading.nbgrader_setup import autograde_config
from gradkit_autograder.grading.read_back import failure_reason, nothing_submitted, read_results
from gradkit_autograder.grading.workspace import gradebook_from_snapshot, private_workspace, write_files
from gradkit_autograder.judging.screening import screen_submission
from gradkit_autograder.sandbox.isolation import Secrets, decide_isolation
from gradkit_autograder.sandbox.library_view import library_view
from gradkit_autograder.state.contract import GradingJob, GradingResult
from gradkit_autograder.state.conventions import TIMESTAMP_FILE, course_id
from gradkit_autograder.state.course import ensure_tools_on_path, quiet_nbgrader
from gradkit_autograder.state.settings import AssignmentSettings


def _node_id() -> str:
    """The Ray node this task runs on ('' outside Ray)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    except Exception:
        return ""


def grade_submission(job: GradingJob) -> GradingResult:
    """Autograde one submission with nbgrader in a private folder; return the outcome as data."""
    start = time.monotonic()
    timings: dict[str, float] = {}
    lap = [start]

    def clock(phase: str) -> None:   # seconds since the previous phase ended
        now = time.monotonic()
        timings[phase] = timings.get(phase, 0.0) + now - lap[0]
        lap[0] = now

    from nbgrader.apps import NbGraderAPI   # slow only in a fresh worker process
    from nbgrader.coursedir import CourseDirectory

    ensure_tools_on_path()
    quiet_nbgrader()
    clock("imports")
    settings = AssignmentSettings.from_dict(job.settings)
    isolation = decide_isolation(settings.sandbox, job.secrets or Secrets())   # cached per worker process
    clock("isolation")
    outcome = GradingResult(job.assignment, job.student, ok=False, isolation=isolation.describe(),
                            node_id=_node_id(), timings=timings)
    files, outcome.incidents = screen_submission(job.files, job.snapshot, job.released)
    if TIMESTAMP_FILE in files:
        outcome.timestamp = files[TIMESTAMP_FILE].decode(errors="replace").strip() or None
    expected = {nb["name"] for nb in job.snapshot["notebooks"]}
    if not any(f"{name}.ipynb" in files for name in expected):
        # nbgrader refuses a submission without any known notebook; score it as it
        # scores a missing notebook: 0 on every cell, nothing left to grade by hand
        outcome.notebooks = nothing_submitted(job.snapshot)
        outcome.ok = True
        clock("prepare")
        outcome.duration_s = time.monotonic() - start
        return outcome
    with private_workspace() as tmp:
        root = tmp / "course"
        root.mkdir(mode=0o700)
        for name in ("workdir", "runtime"):
            (tmp / name).mkdir()
            os.chmod(tmp / name, 0o711)   # passable by the kernel's uid, not listable
        isolation = dataclasses.replace(isolation, library_view=library_view(tuple(settings.withheld),
                                                                             tmp / "view"))
        write_files(root / "submitted" / job.student / job.assignment, files)
        (root / "source" / job.assignment).mkdir(parents=True, exist_ok=True)
        write_files(root / "source" / job.assignment, job.source_files)
        gradebook_from_snapshot(job.snapshot, course_id(job.course_config), root / "gradebook.db",
                                job.alembic_version)
        config = autograde_config(job, root, tmp, isolation)
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        clock("prepare")
        status = api.autograde(job.assignment, job.student, force=True, create=True)
        clock("autograde")
        outcome.log = status.get("log", "")[-20000:]
        present = {Path(rel).stem for rel in files if rel.endswith(".ipynb") and "/" not in rel}
        try:
            outcome.notebooks = read_results(root, job, present, timings)
        except Exception as err:  # nbgrader failed before creating the submission
            status.setdefault("error", f"{type(err).__name__}: {err}")
            status["success"] = False
        outcome.ok = bool(status["success"])
        if not outcome.ok:
            outcome.error = failure_reason(status.get("log", ""), status.get("error", ""))
    clock("collect")   # reading the results back and removing the private folder
    outcome.duration_s = time.monotonic() - start
    return outcome
