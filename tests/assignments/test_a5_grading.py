"""Grading a notebook that starts its own Ray: a5_distributed_ray's kernels.

Each a5 kernel starts a local Ray inside the grader's sandbox while the grader itself
runs on Ray. One scratch course grades two scripted a5 students at the same time
(the test's assignment.yaml reserves 1 CPU per grading task, so the grader's 2 CPUs
run both at once) and checks that:

- each kernel's Ray started inside grading (the set-up cell printed "Ray started")
  and saw only itself: one node, its own GCS address, never the other student's;
- nothing of either Ray outlives grading, neither for a notebook killed at its time
  limit while its Ray runs (it ignores interrupts) nor for one whose kernel exits
  without ``ray.shutdown()``: no new raylet, GCS, worker or kernel process is left,
  and /dev/shm holds no new file (an object store lives there outside bubblewrap).

The full reference/blank/mutant check of a5 is ``gradkit verify`` in
test_assignments_notebooks.py.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psutil
import pytest
import yaml

from gradkit.runtime import ray_session
from support.scripted_student import submission_with
from gradkit_autograder.grading.class_builder import write_submission
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course
from gradkit_autograder.commands.grade import grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from support import REPO

pytestmark = [pytest.mark.slow, pytest.mark.a5_grading]   # make test-a5
A = "a5_distributed_ray"
NOTEBOOK = "distributed_ray.ipynb"

# Printed by the students' first solution cell: what the kernel's Ray looks like from inside.
PROBE = (
    "import json, time, ray\n"
    "print('RAYPROBE' + json.dumps({'gcs': ray.get_runtime_context().gcs_address,\n"
    "                               'nodes': sorted(n['NodeID'] for n in ray.nodes() if n['Alive'])}))\n"
)
STUDENTS = {
    # keeps its Ray running and swallows every interrupt: the grader kills the kernel at the
    # cell's time limit
    "killed_at_time_limit": PROBE + (
        "while True:\n"
        "    try:\n"
        "        time.sleep(1)\n"
        "    except KeyboardInterrupt:\n"
        "        pass\n"),
    # holds its Ray a while (so both Rays overlap), then the kernel exits without ray.shutdown()
    "exits_without_shutdown": PROBE + "time.sleep(15)\nimport os\nos._exit(0)\n",
}
RAY_PROCESS = re.compile(r"raylet|gcs_server|plasma|default_worker|ray::|ray/dashboard|log_monitor|"
                         r"runtime_env|ipykernel|bwrap|kernel_launch")


def _short_limits(source: Path) -> None:
    """a5's real settings, with a cell time limit short enough for a test and 1 CPU per task.

    The reference solution is graded in the same run (the grader's oracle), so the limits
    must still let every one of its cells finish on a busy machine.
    """
    path = source / "assignment.yaml"
    settings = yaml.safe_load(path.read_text())
    settings["limits"].update(cell_timeout_s=60)
    settings["resources"]["num_cpus"] = 1
    path.write_text(yaml.safe_dump(settings))


def _ray_like_processes(grader_ray: set[int]) -> dict[int, str]:
    """pid -> command line of every process that looks like Ray, a kernel or a sandbox,
    except the grader's own Ray: its raylet and GCS (``grader_ray``) and their direct
    children (its workers and agents). A kernel, its sandbox or its Ray sit further
    down (worker -> bwrap -> kernel -> raylet), so one left running is counted."""
    out = {}
    for process in psutil.process_iter(["pid", "ppid", "cmdline"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            if not RAY_PROCESS.search(cmdline):
                continue
            if process.info["pid"] in grader_ray or process.info["ppid"] in grader_ray:
                continue
            out[process.info["pid"]] = cmdline[:200]
        except psutil.Error:
            continue
    return out


def _grader_ray_roots() -> set[int]:
    """The raylet and GCS of the grader's own Ray (children of this test process)."""
    return {child.pid for child in psutil.Process().children(recursive=True)
            if re.search(r"raylet|gcs_server", " ".join(child.cmdline()))}


def _shm() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def _outputs_of(notebook: Path, grade_id: str) -> str:
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
    raise AssertionError(f"no cell {grade_id} in {notebook}")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("a5grading")
    course = scratch_course(Course.open(REPO / "course"), base, [A])
    _short_limits(course.source_dir(A))
    release(course, [A])
    source, released = course.source_dir(A) / NOTEBOOK, course.release_dir(A) / NOTEBOOK
    for student, answer in STUDENTS.items():
        write_submission(base / "class" / student / A,
                         {NOTEBOOK: submission_with(source, released, {"ray_basics": answer})})
    collect(course, base / "class", assignment=A)
    with ray_session(None, num_cpus=2, what="a5 grading test", quiet=True):
        roots = _grader_ray_roots()
        before, shm_before = _ray_like_processes(roots), _shm()
        summary = grade(course, A, workers=2, progress=False)
        after, shm_after = _ray_like_processes(roots), _shm()
    yield course, summary, before, after, shm_before, shm_after


def test_each_kernel_started_its_own_ray_and_saw_only_itself(graded):
    course, summary, *_ = graded
    probes = {}
    for student in STUDENTS:
        notebook = course.root / "autograded" / student / A / NOTEBOOK
        setup = _outputs_of(notebook, "setup")
        assert "Ray started in" in setup, f"{student}: the kernel's Ray did not start:\n{setup[-2000:]}"
        line = next((ln for ln in _outputs_of(notebook, "ray_basics").splitlines()
                     if ln.startswith("RAYPROBE")), None)
        assert line, f"{student}: the probe did not run"
        probes[student] = json.loads(line.removeprefix("RAYPROBE"))
    first, second = probes.values()
    assert len(first["nodes"]) == 1 and len(second["nodes"]) == 1, probes
    assert first["gcs"] != second["gcs"] and first["nodes"] != second["nodes"], probes


def test_both_were_graded_and_their_incidents_recorded(graded):
    course, summary, *_ = graded
    outcomes = {o.student: o for o in summary.outcomes}
    assert set(STUDENTS) <= set(outcomes)
    for student in STUDENTS:
        assert outcomes[student].status == "graded", (student, outcomes[student])
    kinds = {student: {i["kind"] for i in outcomes[student].incidents} for student in STUDENTS}
    assert "kernel_died" in kinds["exits_without_shutdown"], kinds
    assert kinds["killed_at_time_limit"] & {"notebook_time_limit", "cell_time_limit", "kernel_hung"}, kinds


def test_nothing_of_the_kernels_rays_is_left(graded):
    _, _, before, after, shm_before, shm_after = graded
    left = {pid: cmd for pid, cmd in after.items() if pid not in before}
    assert not left, f"processes left after grading: {left}"
    assert not (shm_after - shm_before), f"/dev/shm files left: {sorted(shm_after - shm_before)}"
