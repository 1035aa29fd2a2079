"""``gradkit grade``: autograde every submission of an assignment, one Ray task each.

The driver (this module) plans the run, starts or joins Ray, submits one task per
submission (``worker.grade_submission``) and stores each result as it arrives:
it is the only process that writes the gradebook. Per submission:

1. the *content hash* (submitted files + the released assignment + its settings)
   is compared with the ledger; unchanged submissions are skipped (``force`` regrades);
2. a Ray task with the assignment's ``resources`` (CPUs, GPUs) runs nbgrader's
   autograde on it in a private folder and returns scores and reports;
3. the driver judges the result (``judge``: reports vs the reference solution's
   reports from the same run, solution sources vs the withheld modules), writes
   the grades and autograded notebooks, then the ledger row.

After the run the late-day policy is applied to the whole gradebook
(``latedays.apply_late_days``): a new score or submission time changes this
assignment's penalty and, through the bank, later ones.

Each run draws a fresh seed for the hidden tests' inputs and grades the
reference solution with it first (one more task): every student of the run is
compared with the reference on the same inputs, and a hidden test that leaked
from an earlier run gives no answers that still apply.

Ctrl-C stops after the result being stored; a crashed worker fails only its own
submission. Either way the next run grades exactly what is not in the ledger.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as random_source
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from gradkit_autograder.commands import course_ray
from gradkit_autograder.state import grading_ledger as ledger
from gradkit_autograder.judging.trusted_checks import check_cell
from gradkit_autograder.grading.contract import REFERENCE_STUDENT, GradingJob, GradingResult, NotebookResult
from gradkit_autograder.state.course import Course
from gradkit_autograder.judging.decision import judge
from gradkit_autograder.state.late_days import apply_late_days
from gradkit_autograder.sandbox.isolation import default_secrets
from gradkit_autograder.state.settings import AssignmentSettings
from gradkit_autograder.state.snapshot import snapshot_digest, take_snapshot
from gradkit_autograder.state.gradebook import save_autograded_files, save_grades
from gradkit_autograder.grading.worker import grade_submission, job_files_from_dir


class GradeError(RuntimeError):
    """Grading cannot start or cannot continue (message says why and what to do)."""


@dataclass
class StudentOutcome:
    student: str
    status: str                    # graded | failed | skipped
    score: float | None = None
    max_score: float | None = None
    incidents: list[dict] = field(default_factory=list)
    error: str | None = None
    node_id: str = ""              # the Ray node that ran the grading task ("" when none ran)


@dataclass
class GradeSummary:
    assignment: str
    outcomes: list[StudentOutcome] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0
    isolation: str = ""
    # wall seconds of the driver's phases: plan, store (gradebook writes) and, when
    # this run started or joined Ray itself, ray_start and ray_stop
    timings: dict[str, float] = field(default_factory=dict)
    # seconds per worker phase (GradingResult.timings), summed over the tasks that returned
    task_timings: dict[str, float] = field(default_factory=dict)
    tasks: int = 0                       # tasks that returned, the reference run included
    task_nodes: dict[str, int] = field(default_factory=dict)   # Ray node id -> tasks it ran
    ray: str = ""                        # which Ray graded: embedded, the course's, or a cluster
    late_days: str = ""                  # what applying the late-day policy after the run found

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def add_task(self, result: GradingResult) -> None:
        self.tasks += 1
        if result.node_id:
            self.task_nodes[result.node_id] = self.task_nodes.get(result.node_id, 0) + 1
        for phase, seconds in result.timings.items():
            self.task_timings[phase] = self.task_timings.get(phase, 0.0) + seconds

    def time_line(self) -> str:
        """Where the time went, in one line (printed by ``gradkit grade``)."""
        if not self.tasks:
            return ""
        t, n = self.task_timings, self.tasks
        kernel = t.get("kernel_start", 0.0) + t.get("kernel_stop", 0.0)
        nbgrader = t.get("autograde", 0.0) - kernel - t.get("execute", 0.0) - t.get("scratch", 0.0)
        setup = sum(t.get(k, 0.0) for k in ("imports", "isolation", "prepare", "collect", "scratch"))
        once = [f"{label} {self.timings[key]:.1f} s" for key, label in (
            ("ray_start", "Ray start"), ("store", "gradebook writes"), ("ray_stop", "Ray stop"))
            if key in self.timings]
        line = (f"time: {', '.join(once)}; per task ({n}): kernel start/stop {kernel / n:.2f} s, "
                f"cells {t.get('execute', 0.0) / n:.2f} s, other nbgrader steps {nbgrader / n:.2f} s, "
                f"grader set-up {setup / n:.2f} s")
        if len(self.task_nodes) > 1:
            line += "; tasks per node: " + ", ".join(
                f"{node[:8]} {count}" for node, count in sorted(self.task_nodes.items()))
        return line


# --- planning -----------------------------------------------------------------------------

def content_hash(release_digest: str, settings: AssignmentSettings, files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    h.update(release_digest.encode())
    h.update(json.dumps(settings.to_dict(), sort_keys=True).encode())
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return h.hexdigest()


def _source_files(course: Course, assignment: str) -> tuple[dict[str, bytes], dict[str, bytes]]:
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


def _course_config_dict(course: Course) -> dict:
    """The course's nbgrader config as plain nested dicts (shipped to workers)."""
    return json.loads(json.dumps(course.config, default=str))


# --- Ray ---------------------------------------------------------------------------------------

def _check_resources(settings: AssignmentSettings) -> None:
    """Refuse, before anything is queued, kernels that no node of the cluster can host."""
    from gradkit.runtime import InsufficientResourcesError, check_resources

    need = settings.resources
    per_kernel = {name: amount for name, amount in (("CPU", need.num_cpus), ("GPU", need.num_gpus))
                  if amount}
    try:
        check_resources("assignment.yaml resources (one grading kernel)", per_kernel, count=1)
    except InsufficientResourcesError as err:
        fix = ("grade on a cluster with GPUs (--address)" if need.num_gpus
               else f"use --workers >= {need.num_cpus:g}")
        raise GradeError(f"{err} To grade this assignment: {fix}.") from err


@contextmanager
def deferred_interrupt() -> Iterator[dict]:
    """First Ctrl-C asks the loop to stop at a safe point; a second one interrupts at once."""
    state = {"stop": False}
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if state["stop"]:
            raise KeyboardInterrupt
        state["stop"] = True

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not in the main thread: Ctrl-C keeps its default behaviour
        pass
    try:
        yield state
    finally:
        try:
            signal.signal(signal.SIGINT, previous)
        except ValueError:
            pass


# --- storing --------------------------------------------------------------------------------------

def _reference_reports(result: GradingResult) -> dict:
    """The reference run must be clean and earn full marks: its reports become the oracle.

    Otherwise the error names each check (grade cell) that lost points and why.
    """
    if not result.ok:
        raise GradeError(f"the reference solution could not be graded: {result.error}")
    lost = [f"{nb.name}: {cell} ({g['auto_score'] or 0:g} of {g['max_score']:g}, {_why_lost(nb, cell)})"
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


def _why_lost(nb: NotebookResult, cell: str) -> str:
    """Why a cell of the reference run lost points: its incidents, else its error output."""
    found = [i["message"] for i in nb.incidents if i["cell"] == cell]
    if not found and nb.notebook_json:
        outputs = [o for c in json.loads(nb.notebook_json)["cells"]
                   if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == cell for o in c.get("outputs", [])]
        found = [f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"]
    return "; ".join(found) or "no error output"


def _store(course, gb, result, reference, settings, digest) -> StudentOutcome:
    """Judge one result and write it (grades, autograded files, ledger row) in the open transaction."""
    if not result.ok:
        reason = (result.error or "unknown error").strip().splitlines()[-1][:300]
        incidents = result.all_incidents() + [{"kind": "grader_error", "cell": "-", "message": reason}]
        ledger.record(gb.db, result.assignment, result.student, digest, "failed", None, None,
                      incidents, result.isolation, result.duration_s)
        return StudentOutcome(result.student, "failed", incidents=incidents, error=reason,
                              node_id=result.node_id)
    judge(result, reference, settings)
    save_grades(gb, result)
    save_autograded_files(course, result)
    incidents = result.all_incidents()
    ledger.record(gb.db, result.assignment, result.student, digest, "graded", result.score,
                  result.max_score, incidents, result.isolation, result.duration_s)
    return StudentOutcome(result.student, "graded", result.score, result.max_score, incidents,
                          node_id=result.node_id)


def _store_batch(course, gb, results, reference, settings, digests, summary, bar) -> None:
    """Store the results that arrived together in one transaction.

    Our own writes (the ledger rows, the grades' fields) wait for one commit at the
    end of the batch. nbgrader's gradebook methods commit as they go (creating the
    student and the submission each commit), so
    a batch is not one transaction: a crash mid-batch can keep a student's new
    grades without that student's ledger row. The next run then grades that student
    again and overwrites them: nothing is lost and nothing counted twice.
    """
    lap = time.monotonic()
    outcomes = [_store(course, gb, r, reference, settings, digests[r.student]) for r in results]
    gb.db.commit()
    summary.timings["store"] = summary.timings.get("store", 0.0) + time.monotonic() - lap
    for result, outcome in zip(results, outcomes):
        summary.outcomes.append(outcome)
        summary.isolation = summary.isolation or result.isolation
    bar.update(len(outcomes))
    bar.set_postfix(graded=summary.count("graded"), failed=summary.count("failed"))


def _crash_result(assignment: str, student: str, err: Exception) -> GradingResult:
    name = type(err).__name__
    text = str(err).strip().splitlines()
    return GradingResult(assignment, student, ok=False,
                         error=f"grading task lost ({name}): {text[-1] if text else ''}")


# --- the run --------------------------------------------------------------------------------------------

@dataclass
class _Plan:
    """Everything one run hands to its tasks, built once by the driver."""

    settings: AssignmentSettings
    snapshot: dict
    source_notebooks: dict[str, bytes]
    source_files: dict[str, bytes]
    released: dict[str, bytes]
    config: dict
    secrets: object
    alembic_version: str
    seed: int

    def job(self, student: str, files: dict[str, bytes], assignment: str) -> GradingJob:
        # the reference is the instructor's source notebook: nothing to repair against the release
        released = {} if student == REFERENCE_STUDENT else self.released
        return GradingJob(assignment=assignment, student=student, snapshot=self.snapshot, files=files,
                          source_files=self.source_files, settings=self.settings.to_dict(),
                          course_config=self.config, seed=self.seed, released=released,
                          secrets=self.secrets, alembic_version=self.alembic_version)


def grade(course: Course, assignment: str, workers: int | None = None, address: str | None = None,
          force: bool = False, students: list[str] | None = None, progress: bool = True,
          seed: int | None = None) -> GradeSummary:
    """Grade new or changed submissions of ``assignment`` (all of them with ``force``).

    ``seed`` fixes the hidden tests' inputs (tests and benchmarks); by default each
    run draws a new one.
    """
    started = time.monotonic()
    settings = course.settings(assignment)
    with course.gradebook() as gb:
        try:
            snapshot = take_snapshot(gb, assignment)
        except Exception as err:
            raise GradeError(f"assignment {assignment!r} is not in the gradebook: run "
                             f"`gradkit release {assignment}` first ({err})") from err
        ledger.ensure_tables(gb.engine)
        done = ledger.graded_hashes(gb.engine, assignment)
        alembic_version = schema_stamp(gb.engine)
    source_notebooks, source_files = _source_files(course, assignment)
    release_digest = snapshot_digest(snapshot)
    plan = _Plan(settings, snapshot, source_notebooks, source_files,
                 {p.stem: p.read_bytes() for p in course.release_dir(assignment).glob("*.ipynb")},
                 _course_config_dict(course),
                 default_secrets(str(course.root), str(course.source_dir(assignment).parent)),
                 alembic_version, random_source.randbits(31) if seed is None else int(seed))

    summary = GradeSummary(assignment)
    jobs, digests = [], {}
    for student in students or course.submitted_students(assignment):
        files = job_files_from_dir(course.submitted_dir(student, assignment))
        digest = content_hash(release_digest, settings, files)
        if not force and done.get(student) == (digest, "graded"):
            summary.outcomes.append(StudentOutcome(student, "skipped"))
            continue
        digests[student] = digest
        jobs.append(plan.job(student, files, assignment))
    summary.timings["plan"] = time.monotonic() - started
    if not jobs:
        summary.elapsed_s = time.monotonic() - started
        return summary

    from gradkit.runtime import RayStartError, ray_session

    lap = time.monotonic()
    joined = course_ray.address_for(course, address)
    try:
        with ray_session(joined, num_cpus=workers or os.cpu_count() or 1, what="gradkit grade") as ray_run:
            if ray_run.started:   # not when a caller (demo, verify, tests) runs Ray around us
                summary.timings["ray_start"] = time.monotonic() - lap
            summary.ray = (f"embedded, started and stopped by this command ({ray_run.address})"
                           if ray_run.started else
                           f"joined the Ray at {ray_run.address}" + (
                               " (the course's, from `gradkit ray start`)" if joined and not address else ""))
            _check_resources(settings)
            _run(course, assignment, plan, jobs, digests, summary, progress)
            lap = time.monotonic()
    except RayStartError as err:
        raise GradeError(f"{err} (nothing graded earlier is lost: the ledger keeps it)") from err
    if ray_run.started:
        summary.timings["ray_stop"] = time.monotonic() - lap
    # new scores and submission times change penalties, here and in later assignments
    summary.late_days = apply_late_days(course).summary()
    summary.elapsed_s = time.monotonic() - started
    return summary


def _run(course: Course, assignment: str, plan: _Plan, jobs: list[GradingJob], digests: dict[str, str],
         summary: GradeSummary, progress: bool) -> None:
    """Queue the reference run and every job; judge and store results as they arrive."""
    import ray
    from tqdm import tqdm

    settings = plan.settings
    task = ray.remote(grade_submission).options(
        num_cpus=settings.resources.num_cpus, num_gpus=settings.resources.num_gpus,
        max_retries=1, retry_exceptions=False)
    with course.gradebook() as gb:
        reference = None
        pending = {task.remote(plan.job(REFERENCE_STUDENT, plan.source_notebooks, assignment)):
                   REFERENCE_STUDENT}
        for job in jobs:
            pending[task.remote(job)] = job.student
        waiting: list[GradingResult] = []   # results that arrived before the reference
        bar = tqdm(total=len(jobs), desc=f"grading {assignment}", unit="sub", disable=not progress,
                   dynamic_ncols=True)
        with deferred_interrupt() as interrupt:
            while pending and not interrupt["stop"]:
                # every result that is ready within half a second: one batch, one commit
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0.5)
                for ref in ready:
                    student = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as err:   # worker died, task lost, cancelled
                        result = _crash_result(assignment, student, err)
                    summary.add_task(result)
                    if student == REFERENCE_STUDENT:
                        try:
                            reference = _reference_reports(result)
                        except GradeError as err:
                            if not any(o.student == REFERENCE_STUDENT for o in summary.outcomes):
                                # once more: a busy machine can fail it once; the failure stays on record
                                summary.outcomes.append(StudentOutcome(REFERENCE_STUDENT, "retried", incidents=[
                                    {"kind": "reference_retried", "cell": "-", "message": f"run again after: {err}"}]))
                                pending[task.remote(plan.job(REFERENCE_STUDENT, plan.source_notebooks,
                                                             assignment))] = REFERENCE_STUDENT
                                continue
                            for other in pending:
                                ray.cancel(other, force=True)
                            bar.close()
                            raise GradeError(f"{err} (failed twice: not a passing fault of a busy machine)") from err
                        ledger.store_reference(gb.db, assignment, f"seed-{plan.seed}", reference)
                        gb.db.commit()
                        summary.isolation = result.isolation
                    else:
                        waiting.append(result)
                if reference is None or not waiting:
                    continue
                _store_batch(course, gb, waiting, reference, settings, digests, summary, bar)
                waiting = []
            if pending:
                summary.interrupted = True
                for ref in pending:
                    ray.cancel(ref, force=True)
        bar.close()
