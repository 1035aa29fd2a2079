"""A grading run's batch on Ray: one task per submission, results stored as they arrive.

``run_batch`` queues the reference run and one task (``grading.worker.grade_submission``)
per job of the plan, with the assignment's ``resources`` (CPUs, GPUs); results that
are ready together are stored in one batch (``grading.storing``) once the
reference's reports are known. A reference run that fails is queued once more (a
busy machine can fail it once); a second failure stops the batch. The first Ctrl-C
stops after the batch in hand (``deferred_interrupt``), the rest is cancelled, and
a crashed task fails only its own submission.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

from gradkit_autograder.grading.plan import Plan
from gradkit_autograder.grading.run_summary import GradeError, GradeSummary, StudentOutcome
from gradkit_autograder.grading.storing import crash_result, reference_reports, store_batch
from gradkit_autograder.grading.worker import grade_submission
from gradkit_autograder.state import grading_ledger
from gradkit_autograder.state.contract import REFERENCE_STUDENT, GradingResult
from gradkit_autograder.state.course import Course
from gradkit_autograder.state.settings import AssignmentSettings


def check_kernel_fits(settings: AssignmentSettings) -> None:
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



def run_batch(course: Course, plan: Plan, summary: GradeSummary, progress: bool) -> None:
    """Queue the reference run and every job; judge and store results as they arrive."""
    import ray
    from tqdm import tqdm

    settings, assignment = plan.settings, plan.assignment
    task = ray.remote(grade_submission).options(
        num_cpus=settings.resources.num_cpus, num_gpus=settings.resources.num_gpus,
        max_retries=1, retry_exceptions=False)
    with course.gradebook() as gb:
        reference = None
        pending = {task.remote(plan.reference_job()): REFERENCE_STUDENT}
        for job in plan.jobs:
            pending[task.remote(job)] = job.student
        waiting: list[GradingResult] = []   # results that arrived before the reference
        bar = tqdm(total=len(plan.jobs), desc=f"grading {assignment}", unit="sub", disable=not progress,
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
                        result = crash_result(assignment, student, err)
                    summary.add_task(result)
                    if student == REFERENCE_STUDENT:
                        try:
                            reference = reference_reports(result)
                        except GradeError as err:
                            if not any(o.student == REFERENCE_STUDENT for o in summary.outcomes):
                                # once more: a busy machine can fail it once; the failure stays on record
                                summary.outcomes.append(StudentOutcome(REFERENCE_STUDENT, "retried", incidents=[
                                    {"kind": "reference_retried", "cell": "-", "message": f"run again after: {err}"}]))
                                pending[task.remote(plan.reference_job())] = REFERENCE_STUDENT
                                continue
                            for other in pending:
                                ray.cancel(other, force=True)
                            bar.close()
                            raise GradeError(f"{err} (failed twice: not a passing fault of a busy machine)") from err
                        grading_ledger.store_reference(gb.db, assignment, f"seed-{plan.seed}", reference)
                        gb.db.commit()
                        summary.isolation = result.isolation
                    else:
                        waiting.append(result)
                if reference is None or not waiting:
                    continue
                store_batch(course, gb, waiting, reference, settings, plan.digests, summary, bar)
                waiting = []
            if pending:
                summary.interrupted = True
                for ref in pending:
                    ray.cancel(ref, force=True)
        bar.close()
