"""Interrupted runs: a grading worker killed by a submission, and Ctrl-C on the driver.

Whatever finished is in the gradebook, the rerun grades only the rest, and no
submission is stored twice (the ledger counts how often each result was stored).
The same Ray session also checks that the scheduler honours the resources an
assignment declares (``resources:`` in assignment.yaml).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradkit_autograder.state import grading_ledger
from support.scripted_student import submission_with
from gradkit_autograder.grading.class_builder import write_submission
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course
from gradkit.runtime import ray_session as embedded_ray
from gradkit_autograder.commands.grade import GradeError, grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from support import REPO_COURSE

pytestmark = pytest.mark.slow
A = "a0_warmup"


@pytest.fixture(scope="module")
def ray_session():
    with embedded_ray(None, num_cpus=2, what="resume tests"):
        yield


def _course(base: Path, settings: str, students: dict[str, dict]) -> Course:
    course = scratch_course(Course.open(REPO_COURSE), base, [A])
    (course.source_dir(A) / "assignment.yaml").write_text(settings)
    release(course, [A])
    src, rel = course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb"
    for student, answers in students.items():
        write_submission(base / "class" / student / A, {"warmup.ipynb": submission_with(src, rel, answers)})
    collect(course, base / "class")
    return course


def _runs(course: Course) -> dict[str, tuple[str, int]]:
    with course.gradebook() as gb:
        grading_ledger.ensure_tables(gb.engine)
        return {r["student"]: (r["status"], r["runs"]) for r in grading_ledger.rows(gb.engine, A)}


KILL_WORKER = ("import os, signal\n"
               "os.kill(os.getppid(), signal.SIGKILL)   # the parent is the Ray worker\n")


def test_killed_worker_fails_one_submission_and_rerun_resumes(tmp_path, ray_session):
    # sandbox off: the kernel runs as the grader's user, so it *can* kill its worker
    course = _course(tmp_path, "sandbox: off\n", {
        "honest1": {}, "honest2": {}, "honest3": {}, "killer": {"softplus": KILL_WORKER}})
    first = grade(course, A, workers=2, progress=False)
    status = {o.student: o.status for o in first.outcomes}
    assert status == {"honest1": "graded", "honest2": "graded", "honest3": "graded", "killer": "failed"}
    killer = next(o for o in first.outcomes if o.student == "killer")
    assert "grading task lost" in killer.error
    assert {o.score for o in first.outcomes if o.status == "graded"} == {9.0}
    second = grade(course, A, workers=2, progress=False)
    assert {o.student: o.status for o in second.outcomes} == {
        "honest1": "skipped", "honest2": "skipped", "honest3": "skipped", "killer": "failed"}
    runs = _runs(course)
    assert runs == {"honest1": ("graded", 1), "honest2": ("graded", 1), "honest3": ("graded", 1),
                    "killer": ("failed", 0)}


SLOW = {"softplus": ("import time\ntime.sleep(1.5)\n"
                     "def softplus(x):\n    x = np.asarray(x, dtype=float)\n"
                     "    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))\n")}


def test_ctrl_c_keeps_finished_results_and_rerun_grades_the_rest(tmp_path, ray_session):
    students = [f"s{i}" for i in range(4)]
    course = _course(tmp_path, "", {s: SLOW for s in students})
    cmd = [sys.executable, "-m", "gradkit_autograder", "grade", A, "--course", str(course.root),
           "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if any(status == "graded" for status, _ in _runs(course).values()):
            break
        time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    done = {s for s, (status, _) in _runs(course).items() if status == "graded"}
    assert 1 <= len(done) < len(students)
    rest = grade(course, A, workers=2, progress=False)
    assert {o.student for o in rest.outcomes if o.status == "skipped"} == done
    assert {o.student for o in rest.outcomes if o.status == "graded"} == set(students) - done
    assert _runs(course) == {s: ("graded", 1) for s in students}
    with course.gradebook() as gb:
        assert [gb.find_submission(A, s).score for s in students] == [9.0] * len(students)


WINDOW = {"softplus": ("import time\nprint('WINDOW START', time.time())\ntime.sleep(3.0)\n"
                       "print('WINDOW END', time.time())\n" + SLOW["softplus"].split("\n", 2)[2])}


def _windows(course: Course, students: list[str]) -> list[tuple[float, float]]:
    """(start, end) of the timed cell of each student, read from the autograded notebooks."""
    spans = []
    for student in students:
        text = (course.autograded_dir(student, A) / "warmup.ipynb").read_text()
        start = float(re.search(r"WINDOW START ([0-9.]+)", text).group(1))
        end = float(re.search(r"WINDOW END ([0-9.]+)", text).group(1))
        spans.append((start, end))
    return sorted(spans)


def _overlaps(spans: list[tuple[float, float]]) -> int:
    return sum(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))


@pytest.mark.parametrize("cpus, parallel", [(1, True), (2, False)])
def test_cpus_per_kernel_are_reserved_on_ray(tmp_path, ray_session, cpus, parallel):
    """On 2 Ray CPUs: 1 CPU per kernel lets two submissions run at once, 2 CPUs forbid it."""
    students = [f"s{i}" for i in range(4)]
    course = _course(tmp_path, f"resources:\n  num_cpus: {cpus}\n", {s: WINDOW for s in students})
    summary = grade(course, A, workers=2, progress=False)
    assert summary.count("graded") == len(students)
    overlaps = _overlaps(_windows(course, students))
    assert (overlaps > 0) == parallel, (cpus, _windows(course, students))


def test_resources_the_cluster_lacks_are_refused_with_the_fix(tmp_path, ray_session):
    course = _course(tmp_path, "resources:\n  num_gpus: 1\n", {"s0": {}})
    with pytest.raises(GradeError, match=r"GPU: 1.*short of GPU.*--address"):
        grade(course, A, workers=2, progress=False)
    (course.source_dir(A) / "assignment.yaml").write_text("resources:\n  num_cpus: 3\n")
    with pytest.raises(GradeError, match=r"CPU: 3.*CPU: 2.*short of CPU.*--workers >= 3"):
        grade(course, A, workers=2, progress=False)
