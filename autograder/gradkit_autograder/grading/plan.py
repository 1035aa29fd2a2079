"""Planning a grading run: what each task is told, and which submissions need a task.

``plan_run`` reads, once, everything the run's tasks share (the snapshot of the
released assignment, the source and released notebooks, the course's nbgrader
configuration, the folders the fallback sandbox modes hide, the gradebook's schema
stamp, the run's seed) and compares each submission's *content hash* (its files,
the released assignment and its settings) with the grading ledger: an unchanged
submission is skipped, unless ``force``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as random_source
from dataclasses import dataclass, field
from pathlib import Path

from gradkit_autograder.grading.run_summary import GradeError
from gradkit_autograder.sandbox.isolation import default_secrets
from gradkit_autograder.state import grading_ledger
from gradkit_autograder.state.contract import REFERENCE_STUDENT, GradingJob
from gradkit_autograder.state.course import Course
from gradkit_autograder.state.settings import AssignmentSettings
from gradkit_autograder.state.snapshot import snapshot_digest, take_snapshot


def job_files_from_dir(path: Path) -> dict[str, bytes]:
    """Regular files under ``path`` (symbolic links are skipped, never followed)."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d != ".ipynb_checkpoints"
                       and not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            files[os.path.relpath(full, path)] = Path(full).read_bytes()
    return files


def content_hash(release_digest: str, settings: AssignmentSettings, files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    h.update(release_digest.encode())
    h.update(json.dumps(settings.to_dict(), sort_keys=True).encode())
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return h.hexdigest()


def source_files(course: Course, assignment: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(source notebooks, other files nbgrader copies into every submission)."""
    src = course.require_source(assignment)
    ignored = set(course.coursedir().ignore)
    notebooks, others = {}, {}
    for rel, data in job_files_from_dir(src).items():
        parts = Path(rel).parts
        if any(p in ignored for p in parts):
            continue
        if rel.endswith(".ipynb") and len(parts) == 1:
            notebooks[rel] = data
        elif not rel.endswith(".ipynb"):
            others[rel] = data
    return notebooks, others


def schema_stamp(engine) -> str:
    """The alembic revision nbgrader stamped the course gradebook with ("" if none)."""
    from sqlalchemy import text

    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() or ""
    except Exception:   # no stamp table: the workers let nbgrader find the revision
        return ""


def course_config_dict(course: Course) -> dict:
    """The course's nbgrader config as plain nested dicts (shipped to workers)."""
    return json.loads(json.dumps(course.config, default=str))


@dataclass
class Plan:
    """Everything one run hands to its tasks, built once by the driver, and the tasks to run."""

    assignment: str
    settings: AssignmentSettings
    snapshot: dict
    source_notebooks: dict[str, bytes]
    source_files: dict[str, bytes]
    released: dict[str, bytes]
    config: dict
    secrets: object
    alembic_version: str
    seed: int
    jobs: list[GradingJob] = field(default_factory=list)   # the submissions to grade
    digests: dict[str, str] = field(default_factory=dict)  # student -> content hash of what is graded
    skipped: list[str] = field(default_factory=list)       # students graded before with the same content

    def job(self, student: str, files: dict[str, bytes]) -> GradingJob:
        # the reference is the instructor's source notebook: nothing to repair against the release
        released = {} if student == REFERENCE_STUDENT else self.released
        return GradingJob(assignment=self.assignment, student=student, snapshot=self.snapshot, files=files,
                          source_files=self.source_files, settings=self.settings.to_dict(),
                          course_config=self.config, seed=self.seed, released=released,
                          secrets=self.secrets, alembic_version=self.alembic_version)

    def reference_job(self) -> GradingJob:
        """The instructor's source notebooks, graded as the student ``REFERENCE_STUDENT``."""
        return self.job(REFERENCE_STUDENT, self.source_notebooks)


def plan_run(course: Course, assignment: str, force: bool = False, students: list[str] | None = None,
             seed: int | None = None) -> Plan:
    """The run's plan: one job per new or changed submission (every one with ``force``).

    ``seed`` fixes the hidden tests' inputs; by default a new one is drawn.
    """
    settings = course.settings(assignment)
    with course.gradebook() as gb:
        try:
            snapshot = take_snapshot(gb, assignment)
        except Exception as err:
            raise GradeError(f"assignment {assignment!r} is not in the gradebook: run "
                             f"`gradkit release {assignment}` first ({err})") from err
        grading_ledger.ensure_tables(gb.engine)
        done = grading_ledger.graded_hashes(gb.engine, assignment)
        alembic_version = schema_stamp(gb.engine)
    source_notebooks, other_files = source_files(course, assignment)
    release_digest = snapshot_digest(snapshot)
    plan = Plan(assignment, settings, snapshot, source_notebooks, other_files,
                {p.stem: p.read_bytes() for p in course.release_dir(assignment).glob("*.ipynb")},
                course_config_dict(course),
                default_secrets(str(course.root), str(course.source_dir(assignment).parent)),
                alembic_version, random_source.randbits(31) if seed is None else int(seed))
    for student in students or course.submitted_students(assignment):
        files = job_files_from_dir(course.submitted_dir(student, assignment))
        digest = content_hash(release_digest, settings, files)
        if not force and done.get(student) == (digest, "graded"):
            plan.skipped.append(student)
            continue
        plan.digests[student] = digest
        plan.jobs.append(plan.job(student, files))
    return plan
