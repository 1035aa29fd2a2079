"""The course-local Ray (`gradkit ray start|status|stop`) and the batch gradebook writer.

One Ray head is started for a scratch course; `grade()` without an address joins
it (no start-up cost of its own) and stores the class in batches; `stop` ends the
processes of that Ray's temp folder and nothing else.

The course's head runs with Ray's token authentication (the machine's token), and a
later `gradkit grade` in a fresh process, which has no RAY_AUTH_MODE of its own, must
still join it (with Ray 2.59+, ``ray.init(address=...)`` alone never sends the token).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradkit.runtime.local_nodes import processes_of
from gradkit_autograder.commands import course_ray
from gradkit_autograder.state import grading_ledger
from gradkit_autograder.grading.class_builder import build_class
from gradkit_autograder.cli import main
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course
from gradkit_autograder.commands.grade import grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from support import REPO_COURSE

pytestmark = pytest.mark.slow
A = "a0_warmup"


def _naming(folder: str) -> list[int]:
    """Pids whose command line names ``folder`` (every process of a Ray names its temp folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and folder.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower()
    except OSError:
        return False


@pytest.fixture(scope="module")
def course_with_ray(tmp_path_factory):
    base = tmp_path_factory.mktemp("course-ray")
    course = scratch_course(Course.open(REPO_COURSE), base, [A])
    release(course, [A])
    kinds = build_class(course, A, base / "class")
    collect(course, base / "class", assignment=A)
    with pytest.MonkeyPatch.context() as env:
        # RAY_AUTH_MODE, which Ray sets in a process that started Ray (this one, after
        # earlier tests), would hide a join that does not send the token
        env.delenv("RAY_AUTH_MODE", raising=False)
        assert main(["ray", "start", "--workers", "2", "--course", str(course.root)]) == 0
        ray = course_ray.running(course)
        assert ray is not None and ray.token_auth
        yield course, kinds, ray
    course_ray.stop(course)


def test_grade_joins_the_course_ray_and_stores_the_class_in_batches(course_with_ray, capsys):
    course, kinds, ray = course_with_ray
    summary = grade(course, A, progress=False)
    assert summary.count("graded") == len(kinds) and summary.count("failed") == 0
    assert ray.address in summary.ray and "course's" in summary.ray
    assert "ray_start" not in summary.timings        # nothing started: the course's Ray was joined
    with course.gradebook() as gb:
        rows = {r["student"]: r for r in grading_ledger.rows(gb.engine, A)}
        scores = {s.student.id: s.score for s in gb.assignment_submissions(A)}
    assert set(rows) == set(kinds)
    assert all(rows[s]["score"] == scores[s] for s in kinds)     # ledger and grades committed together


def test_a_later_command_in_a_fresh_process_joins_the_course_ray_with_its_token(course_with_ray):
    """What an instructor does: `gradkit ray start`, then `gradkit grade` in a new shell."""
    course, kinds, ray = course_with_ray
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    done = subprocess.run([str(Path(sys.executable).parent / "gradkit"), "grade", A, "--force",
                           "--course", str(course.root)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"joined the Ray at {ray.address}" in done.stdout
    assert f"{len(kinds)} graded, 0 failed" in done.stdout


def test_stop_ends_only_the_course_ray(course_with_ray, tmp_path):
    course, _, ray = course_with_ray
    # a bystander that looks like a Ray process of another temp folder
    other = tmp_path / "someone-elses-ray"
    other.mkdir()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", f"--temp-dir={other}"])
    try:
        before = processes_of(ray.temp_dir)
        assert before, "the course's Ray has processes"
        assert main(["ray", "stop", "--course", str(course.root)]) == 0
        left = [pid for pid in before if _alive(pid)]
        assert left == [] and _naming(ray.temp_dir) == [], "processes of the course's Ray are left"
        assert course_ray.running(course) is None
        assert bystander.poll() is None, "a process of another Ray was stopped"
    finally:
        bystander.kill()
        bystander.wait()
