"""Autograding throughput: ``gradkit grade --workers 2`` vs plain sequential ``nbgrader autograde``.

One class of submissions of one assignment (reference, blank and every stored wrong
answer, repeated under new student ids up to ``--students``) is graded three ways
in one run, each in a fresh copy of the course:

(a) ours: ``gradkit grade ASSIGNMENT --workers W`` in a child process (the CLI's
    code path, ``grade()``): embedded Ray start, one task per submission plus the
    reference run, the driver writing the gradebook;
(b) the peer: ``nbgrader autograde ASSIGNMENT``, nbgrader's own command, which
    grades the students one after another in one process with its fresh gradebook;
(c) bare: every notebook nbgrader graded in (b) (hidden tests included), outputs
    cleared, run with nbclient alone, one kernel per notebook, no grading at all.

It prints the speed-up (b)/(a), the per-notebook cost of each way against (c),
and where our time goes (from ``gradkit grade``'s own phase timings). Both
gradebooks must hold the same scores for honest work (reference and blank), or
the script fails; a stored wrong answer may only score lower with us (hidden
tests hold no expected values: only the grader's comparison with the reference
fails it, plain nbgrader gives it the hidden points).

    .venv/bin/python bench/bench_grading.py            # 16 submissions of a1_gradients
    .venv/bin/python bench/bench_grading.py --quick    # 16 submissions of a0_warmup
    .venv/bin/python bench/bench_grading.py --assignment a0_warmup --students 96

The default is a real assignment (a1_gradients: seconds of work per notebook, torch
imported by its hidden tests). The toy a0_warmup runs its cells in a fraction of a
second, so its total is dominated by fixed costs (Ray's start, kernel start-up) and
shows the worst case for a parallel grader.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ASSIGNMENT = "a1_gradients"
QUICK_ASSIGNMENT = "a0_warmup"
CHILD_FLAG = "--child-grade"


# --- the class -------------------------------------------------------------------------

def build_students(course, assignment: str, class_dir: Path, count: int) -> dict[str, str]:
    """``count`` submissions cycling through reference, blank and the mutants; id -> kind."""
    from gradkit_autograder.classbuilder import build_class

    models = class_dir.parent / "models"
    kinds = build_class(course, assignment, models)
    names = sorted(kinds)
    students = {}
    for i in range(count):
        model = names[i % len(names)]
        student = f"s{i:03d}-{model}"
        shutil.copytree(models / model, class_dir / student)
        students[student] = kinds[model]
    return students


def fresh_course(base: Path, assignment: str, class_dir: Path):
    """A scratch copy of the repository's course with ``assignment`` released and the class collected."""
    from gradkit_autograder.collect import collect
    from gradkit_autograder.course import Course
    from gradkit_autograder.release import release
    from gradkit_autograder.scratch import scratch_course

    course = scratch_course(Course.open(REPO / "course"), base, [assignment])
    release(course, [assignment])
    if class_dir.exists():
        got = collect(course, class_dir, assignment=assignment)
        assert not got.skipped, got.skipped
    return course


def gradebook_scores(course, assignment: str) -> dict[str, float]:
    with course.gradebook() as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(assignment)}


# --- (a) ours ------------------------------------------------------------------------------

def child_grade(course_dir: str, assignment: str, workers: int) -> None:
    """Run in a child process: what ``gradkit grade --workers W`` does, with Ray's start timed apart.

    ``grade()`` starts an embedded Ray itself when none is running; starting it just
    before is the same work, and separates the cost of Ray's start-up from grading on
    a Ray that is already up (as with ``--address`` on a running cluster).
    """
    from gradkit.distributed.ray_runtime import ray_session
    from gradkit_autograder.course import Course
    from gradkit_autograder.grade import grade

    start = time.perf_counter()
    with ray_session(None, num_cpus=workers, what="bench_grading"):
        ray_start = time.perf_counter() - start
        summary = grade(Course.open(course_dir), assignment, workers=workers, progress=False)
        start = time.perf_counter()
    ray_stop = time.perf_counter() - start
    print(json.dumps({"elapsed_s": summary.elapsed_s, "timings": summary.timings,
                      "ray_start": ray_start, "ray_stop": ray_stop,
                      "task_timings": summary.task_timings, "tasks": summary.tasks,
                      "failed": summary.count("failed"), "graded": summary.count("graded"),
                      "isolation": summary.isolation, "time_line": summary.time_line()}))


def run_ours(course, assignment: str, workers: int) -> tuple[float, dict]:
    cmd = [sys.executable, __file__, CHILD_FLAG, str(course.root), assignment, str(workers)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"gradkit grade failed:\n{proc.stdout}\n{proc.stderr}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


# --- (b) plain nbgrader --------------------------------------------------------------------------

def run_plain(course, assignment: str) -> float:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [str(Path(sys.executable).parent / "nbgrader"), "autograde", assignment, "--log-level=WARN"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=course.root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"nbgrader autograde failed:\n{proc.stdout}\n{proc.stderr}")
    return wall


# --- (c) bare execution ------------------------------------------------------------------------------

def run_bare(course, assignment: str, students: list[str], timeout: int) -> dict[str, float]:
    """Execute each autograded notebook of ``course`` again with nbclient; seconds per phase, summed."""
    import nbformat

    spent = {"kernel_start": 0.0, "execute": 0.0, "kernel_stop": 0.0}
    for student in students:
        for path in sorted(course.autograded_dir(student, assignment).glob("*.ipynb")):
            for phase, seconds in _run_bare_notebook(nbformat.read(str(path), as_version=4), timeout).items():
                spent[phase] += seconds
    return spent


def _run_bare_notebook(nb, timeout: int) -> dict[str, float]:
    """Run one notebook, outputs cleared, in a fresh kernel with nbclient; seconds per phase."""
    from nbclient import NotebookClient

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    with tempfile.TemporaryDirectory() as cwd:
        client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                                resources={"metadata": {"path": cwd}})
        t0 = time.perf_counter()
        with client.setup_kernel(stderr=subprocess.DEVNULL):   # ipykernel's start-up warnings
            t1 = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
            t2 = time.perf_counter()
        t3 = time.perf_counter()
    return {"kernel_start": t1 - t0, "execute": t2 - t1, "kernel_stop": t3 - t2}


# --- the report --------------------------------------------------------------------------------------------

def report(assignment: str, n: int, workers: int, ours_wall: float, ours: dict, plain_wall: float,
           bare: dict[str, float]) -> None:
    t, tasks, d = ours["task_timings"], ours["tasks"], ours["timings"]
    bare_nb = sum(bare.values()) / n
    warm = ours["elapsed_s"]
    per_task = sum(t.get(k, 0.0) for k in ("imports", "isolation", "prepare", "autograde", "collect")) / tasks
    kernel = (t.get("kernel_start", 0.0) + t.get("kernel_stop", 0.0)) / tasks
    execute = t.get("execute", 0.0) / tasks
    scratch = t.get("scratch", 0.0) / tasks
    nbgrader_rest = t.get("autograde", 0.0) / tasks - kernel - execute - scratch
    setup = sum(t.get(k, 0.0) for k in ("imports", "isolation", "prepare", "collect")) / tasks
    interpreter = ours_wall - ours["ray_start"] - warm - ours["ray_stop"]
    print(f"\n{n} submissions of {assignment}; {workers} Ray workers; {os.cpu_count()} CPUs; "
          f"isolation: {ours['isolation']}")
    print(f"(a) gradkit grade --workers {workers}          : {ours_wall:6.1f} s  "
          f"(starts and stops its embedded Ray; {tasks} tasks: {n} submissions + the reference)")
    print(f"    the same grade() on a running Ray      : {warm:6.1f} s  (as with --address on a cluster)")
    print(f"(b) nbgrader autograde, sequential         : {plain_wall:6.1f} s")
    print(f"    speed-up (b)/(a)                       : {plain_wall / ours_wall:6.2f}x   (target >= 1.6x)")
    print(f"    speed-up (b)/(grade() on a running Ray): {plain_wall / warm:6.2f}x")
    print(f"(c) bare nbclient, one kernel per notebook : {sum(bare.values()):6.1f} s  "
          f"= {bare_nb:.2f} s per notebook (kernel start {bare['kernel_start'] / n:.2f}, "
          f"cells {bare['execute'] / n:.2f}, kernel stop {bare['kernel_stop'] / n:.2f})")
    print("\nper notebook, seconds                     total   over bare")
    print(f"  bare execution (c)                     {bare_nb:6.2f}")
    print(f"  plain nbgrader (b): wall / n           {plain_wall / n:6.2f}   {plain_wall / n - bare_nb:+6.2f}")
    print(f"  ours: one Ray task (CPU-seconds)       {per_task:6.2f}   {per_task - bare_nb:+6.2f}")
    print(f"  ours (a): wall x workers / n           {ours_wall * workers / n:6.2f}   "
          f"{ours_wall * workers / n - bare_nb:+6.2f}")
    print("\nwhere our time goes")
    print(f"  once per run : interpreter and imports {interpreter:.1f} s, Ray start {ours['ray_start']:.1f} s, "
          f"Ray stop {ours['ray_stop']:.1f} s, planning {d.get('plan', 0.0):.1f} s, "
          f"gradebook writes {d.get('store', 0.0):.1f} s ({d.get('store', 0.0) / n * 1000:.0f} ms per submission)")
    print(f"  per task     : kernel start+stop {kernel:.2f} s, running the cells {execute:.2f} s, "
          f"other nbgrader steps (sanitising, its private gradebook, files) {nbgrader_rest:.2f} s, "
          f"grader set-up {setup + scratch:.2f} s")
    print(f"  set-up, summed over the {tasks} tasks: imports {t.get('imports', 0.0):.1f} s, isolation "
          f"probe {t.get('isolation', 0.0):.1f} s, private course {t.get('prepare', 0.0):.1f} s, "
          f"scratch copies {t.get('scratch', 0.0):.1f} s, reading back {t.get('collect', 0.0):.1f} s")
    busy = per_task * tasks / workers
    print(f"  grade() {warm:.1f} s = {busy:.1f} s of tasks per worker + planning and the rest "
          f"{warm - busy:.1f} s (Ray scheduling, worker processes starting, the last task alone)")


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == CHILD_FLAG:
        child_grade(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"grade {QUICK_ASSIGNMENT} instead")
    parser.add_argument("--assignment", help=f"assignment to grade (default {DEFAULT_ASSIGNMENT})")
    parser.add_argument("--students", type=int, default=16, help="number of submissions (at least 16)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.students
    assignment = args.assignment or (QUICK_ASSIGNMENT if args.quick else DEFAULT_ASSIGNMENT)
    if n < 16:
        parser.error(f"--students must be at least 16, got {n}")

    from gradkit_autograder.course import Course, ensure_tools_on_path

    ensure_tools_on_path()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        models = fresh_course(tmp / "models", assignment, tmp / "none")
        students = build_students(models, assignment, tmp / "class", n)
        ours_course = fresh_course(tmp / "ours", assignment, tmp / "class")
        plain_course = fresh_course(tmp / "plain", assignment, tmp / "class")
        timeout = int(Course.open(plain_course.root).config.Execute.timeout)
        print(f"grading {n} submissions three ways (this takes a few minutes)...", flush=True)
        ours_wall, ours = run_ours(ours_course, assignment, args.workers)
        plain_wall = run_plain(plain_course, assignment)
        bare = run_bare(plain_course, assignment, sorted(students), timeout)
        ours_scores = gradebook_scores(ours_course, assignment)
        plain_scores = gradebook_scores(plain_course, assignment)
        honest = [s for s, kind in students.items() if not kind.startswith("mutant")]
        caught = sum(ours_scores[s] < plain_scores[s] for s in students if s not in honest)
        if (ours["failed"] or any(ours_scores[s] != plain_scores[s] for s in honest)
                or any(ours_scores[s] > plain_scores[s] for s in students)):
            print(f"scores differ: ours {ours_scores} plain {plain_scores}", file=sys.stderr)
            return 1
        report(assignment, n, args.workers, ours_wall, ours, plain_wall, bare)
        print(f"  gradkit grade's own line: {ours['time_line']}")
        kinds = sorted(set(students.values()))
        print(f"honest work ({len(honest)} submissions) scores the same in both gradebooks; "
              f"{caught} of {n - len(honest)} wrong answers score lower with us than with plain "
              f"nbgrader (kinds {', '.join(kinds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
