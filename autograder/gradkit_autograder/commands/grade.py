"""``gradkit grade``: autograde every submission of an assignment, one Ray task each.

The driver (this command) plans the run, starts or joins Ray, submits one task per
submission and stores each result as it arrives: it is the only process that
writes the gradebook. Per submission:

1. the *content hash* (submitted files + the released assignment + its settings)
   is compared with the grading ledger; unchanged submissions are skipped
   (``force`` regrades; ``grading.plan``);
2. a Ray task with the assignment's ``resources`` (CPUs, GPUs) runs nbgrader's
   autograde on it in a private folder and returns scores and reports
   (``grading.ray_batch``, ``grading.worker``);
3. the driver judges the result (``judging.decision``: reports vs the reference
   solution's reports from the same run, the solution cells' source vs the
   assignment's ``own_code`` list), writes the grades and autograded notebooks,
   then the ledger row (``grading.storing``).

After the run the late-day policy is applied to the whole gradebook
(``state.late_days.apply_late_days``): a new score or submission time changes this
assignment's penalty and, through the bank, later ones.

Each run draws a fresh seed for the hidden tests' inputs and grades the
reference solution with it first (one more task): every student of the run is
compared with the reference on the same inputs, and a hidden test that leaked
from an earlier run gives no answers that still apply.

Ctrl-C stops after the result being stored; a crashed worker fails only its own
submission. Either way the next run grades exactly what is not in the ledger.
"""

from __future__ import annotations

import os
import time

from gradkit_autograder.commands import course_ray
from gradkit_autograder.grading.plan import plan_run
from gradkit_autograder.grading.ray_batch import check_kernel_fits, run_batch
from gradkit_autograder.grading.run_summary import GradeError, GradeSummary, StudentOutcome
from gradkit_autograder.state.course import Course
from gradkit_autograder.state.late_days import apply_late_days

__all__ = ["GradeError", "GradeSummary", "StudentOutcome", "grade"]


def grade(course: Course, assignment: str, workers: int | None = None, address: str | None = None,
          force: bool = False, students: list[str] | None = None, progress: bool = True,
          seed: int | None = None) -> GradeSummary:
    """Grade new or changed submissions of ``assignment`` (all of them with ``force``).

    ``seed`` fixes the hidden tests' inputs (tests and benchmarks); by default each
    run draws a new one.
    """
    started = time.monotonic()
    plan = plan_run(course, assignment, force, students, seed)
    summary = GradeSummary(assignment)
    summary.outcomes += [StudentOutcome(student, "skipped") for student in plan.skipped]
    summary.timings["plan"] = time.monotonic() - started
    if not plan.jobs:
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
            check_kernel_fits(plan.settings)
            run_batch(course, plan, summary, progress)
            lap = time.monotonic()
    except RayStartError as err:
        raise GradeError(f"{err} (nothing graded earlier is lost: the ledger keeps it)") from err
    if ray_run.started:
        summary.timings["ray_stop"] = time.monotonic() - lap
    # new scores and submission times change penalties, here and in later assignments
    summary.late_days = apply_late_days(course).summary()
    summary.elapsed_s = time.monotonic() - started
    return summary
