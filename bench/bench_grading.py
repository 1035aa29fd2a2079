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

For a large class (``--students 300``) (b) and (c) grade a sample (``--plain-sample``,
default 32, cycling through every kind of submission) and their times are scaled to
the class; the script says so. ``--scaling`` instead grades the class on a real
one-node Ray and a two-node Ray on this machine (one CPU per node, each node pinned
to a core of its own unless ``--no-pin``, loopback only) and prints the throughput
ratio and which node ran each task.

It prints the speed-up (b)/(a), the per-notebook cost of each way against (c),
and where our time goes (from ``gradkit grade``'s own phase timings). Both
gradebooks must hold the same scores for honest work (reference and blank), or
the script fails; a stored wrong answer may only score lower with us (hidden
tests hold no expected values: only the grader's comparison with the reference
fails it, plain nbgrader gives it the hidden points).

    .venv/bin/python bench/bench_grading.py            # 16 submissions of a1_gradients
    .venv/bin/python bench/bench_grading.py --quick    # 16 submissions of a0_warmup
    .venv/bin/python bench/bench_grading.py --assignment a0_warmup --students 96
    .venv/bin/python bench/bench_grading.py --students 300     # a class of 300; the sequential
                                                               # peers grade a sample of 32, scaled
    .venv/bin/python bench/bench_grading.py --students 60 --scaling   # 1 node vs 2 nodes of 1 core
    .venv/bin/python bench/bench_grading.py --students 60 --scaling --no-pin   # "1 CPU": Ray's count only
    .venv/bin/python bench/bench_grading.py --assignment a5_distributed_ray --students 8 --plain-sample 8
                        # the eight a5 submissions of `gradkit demo`, each kernel with its own Ray

It also prints each submission's task time (wall seconds while ``--workers`` tasks run
at once): the reference's, the blank's and the spread over the wrong answers.

The default is a real assignment (a1_gradients: seconds of work per notebook). The
toy a0_warmup runs its cells in a fraction of a second, so its total is dominated by
fixed costs (Ray's start, kernel start-up) and shows the worst case for a parallel grader.
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
    """``count`` submissions cycling through reference, blank and the mutants; id -> kind.

    The reference and the blank come first, then the wrong answers in name order: eight
    submissions are the class ``gradkit demo`` grades (reference, blank, six wrong answers).
    """
    from gradkit_autograder.grading.class_builder import build_class

    models = class_dir.parent / "models"
    kinds = build_class(course, assignment, models)
    names = sorted(kinds, key=lambda name: (name != "reference", name != "blank", name))
    students = {}
    for i in range(count):
        model = names[i % len(names)]
        student = f"s{i:03d}-{model}"
        shutil.copytree(models / model, class_dir / student)
        students[student] = kinds[model]
    return students


def fresh_course(base: Path, assignment: str, class_dir: Path):
    """A scratch copy of the repository's course with ``assignment`` released and the class collected."""
    from gradkit_autograder.commands.collect import collect
    from gradkit_autograder.state.course import Course
    from gradkit_autograder.commands.release import release
    from gradkit_autograder.state.scratch_course import scratch_course

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

def child_grade(course_dir: str, assignment: str, workers: int, address: str | None = None) -> None:
    """Run in a child process: what ``gradkit grade --workers W`` does, with Ray's start timed apart.

    ``grade()`` starts an embedded Ray itself when none is running; starting it just
    before is the same work, and separates the cost of Ray's start-up from grading on
    a Ray that is already up (as with ``--address`` on a running cluster). With
    ``address`` it joins that Ray instead (the scaling runs).
    """
    from gradkit.runtime import ray_session
    from gradkit_autograder.state.course import Course
    from gradkit_autograder.commands.grade import grade

    start = time.perf_counter()
    with ray_session(address, num_cpus=None if address else workers, what="bench_grading", quiet=True):
        ray_start = time.perf_counter() - start
        summary = grade(Course.open(course_dir), assignment, workers=workers, progress=False)
        start = time.perf_counter()
    ray_stop = time.perf_counter() - start
    print(json.dumps({"elapsed_s": summary.elapsed_s, "timings": summary.timings,
                      "ray_start": ray_start, "ray_stop": ray_stop,
                      "task_timings": summary.task_timings, "tasks": summary.tasks,
                      "task_seconds": summary.task_seconds,
                      "failed": summary.count("failed"), "graded": summary.count("graded"),
                      "isolation": summary.isolation, "time_line": summary.time_line(),
                      "task_nodes": summary.task_nodes,
                      "errors": sorted({o.error for o in summary.outcomes if o.status == "failed"})[:5],
                      "student_nodes": {o.student: o.node_id for o in summary.outcomes}}))


def run_ours(course, assignment: str, workers: int, address: str | None = None) -> tuple[float, dict]:
    cmd = [sys.executable, __file__, CHILD_FLAG, str(course.root), assignment, str(workers), address or ""]
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


def task_walls(seconds: dict[str, float], students: dict[str, str], workers: int) -> None:
    """Wall seconds of one submission's task while ``workers`` tasks ran at once: the reference's, and the spread."""
    import statistics

    by_kind: dict[str, list[float]] = {}
    for student, wall in seconds.items():
        kind = students.get(student, "the instructor's reference run")
        by_kind.setdefault("wrong answers" if kind.startswith("mutant") else kind, []).append(wall)
    print(f"\none submission's task, wall seconds, with {workers} graded at once:")
    for kind, walls in sorted(by_kind.items()):
        print(f"  {kind:32} {len(walls):4d} tasks: min {min(walls):6.1f}  median {statistics.median(walls):6.1f}  "
              f"max {max(walls):6.1f}")


def scaling(assignment: str, n: int, tmp: Path, class_dir: Path, pin: bool = True) -> int:
    """The same class graded on a real one-node Ray (1 CPU) and on a two-node Ray (1 CPU each).

    Both clusters run on this machine, loopback only (head 127.0.0.3, second node
    127.0.0.2), each node with its own temp dir, started with ``ray start`` and
    stopped by that dir. With ``pin`` each node is pinned to a core of its own (head:
    core 0, second node: core 1), as two one-core machines would be; without it
    "1 CPU" is only Ray's count, and the one-node run's task spreads its worker and
    kernel over both cores. The grading driver is never pinned: with two nodes it
    shares their cores. ``grade()`` joins each cluster by address; its time on the
    running Ray is compared (throughput ratio, target >= 1.8x), and every task's node
    is taken from the grading results.
    """
    from gradkit.runtime.local_nodes import processes_of, start_node, stop_processes

    env = dict(os.environ, RAY_AUTH_MODE="disabled", OMP_NUM_THREADS="1")
    env.pop("RAY_ADDRESS", None)
    cores = sorted(os.sched_getaffinity(0))
    if pin and len(cores) < 2:
        print(f"pinning needs 2 cores, this process may use {cores}", file=sys.stderr)
        return 1
    runs = {}
    for nodes in (1, 2):
        short = Path(tempfile.mkdtemp(prefix="gk-scale-", dir="/tmp"))   # Ray's socket paths must stay short
        dirs = [short / "h", short / "w"][:nodes]
        try:
            address = start_node(dirs[0], "127.0.0.3", env=env, cores=[cores[0]] if pin else None)
            if nodes == 2:
                start_node(dirs[1], "127.0.0.2", address, env=env, cores=[cores[1]] if pin else None)
            course = fresh_course(tmp / f"scale{nodes}", assignment, class_dir)
            how = f"pinned to core(s) {cores[:nodes]}" if pin else "not pinned"
            print(f"grading {n} submissions on {nodes} node(s) of 1 CPU ({how}) at {address}...", flush=True)
            wall, result = run_ours(course, assignment, nodes, address)
            runs[nodes] = (wall, result)
        finally:
            stop_processes(sorted({pid for d in dirs for pid in processes_of(d)}), grace_s=5)
            shutil.rmtree(short, ignore_errors=True)
    one, two = runs[1][1], runs[2][1]
    for nodes, (wall, result) in runs.items():
        if result["failed"]:
            print(f"{nodes} node(s): {result['failed']} submissions failed: {result['errors']}", file=sys.stderr)
            return 1
        per_node = ", ".join(f"{node[:8]}: {count} tasks" for node, count in sorted(result["task_nodes"].items()))
        print(f"{nodes} node(s) x 1 CPU: grade() {result['elapsed_s']:6.1f} s on the running Ray "
              f"({result['tasks'] / result['elapsed_s'] * 60:.1f} tasks/min); {per_node}")
        print(f"    {result['time_line']}")
    unrecorded = [s for s, node in two["student_nodes"].items() if not node]
    ratio = one["elapsed_s"] / two["elapsed_s"]
    print(f"throughput, two nodes / one node: {ratio:.2f}x   (target >= 1.8x); "
          f"every task's node recorded: {not unrecorded} ({len(two['student_nodes'])} submissions)")
    return 0


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == CHILD_FLAG:
        child_grade(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] or None)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"grade {QUICK_ASSIGNMENT} instead")
    parser.add_argument("--assignment", help=f"assignment to grade (default {DEFAULT_ASSIGNMENT})")
    parser.add_argument("--students", type=int, default=16,
                        help="number of submissions (at least 8: the reference, the blank and six wrong answers, "
                             "the class `gradkit demo` grades)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plain-sample", type=int, default=32,
                        help="grade only this many of the class with plain nbgrader and bare nbclient, "
                             "and scale their times to the class (default 32; the whole class when smaller)")
    parser.add_argument("--scaling", action="store_true",
                        help="instead: grade on a real one-node and a two-node Ray (1 CPU per node) on this "
                             "machine and print the throughput ratio")
    parser.add_argument("--no-pin", action="store_true",
                        help="with --scaling: do not pin each node to a core of its own (1 CPU is then "
                             "only Ray's count)")
    args = parser.parse_args()
    n = args.students
    assignment = args.assignment or (QUICK_ASSIGNMENT if args.quick else DEFAULT_ASSIGNMENT)
    if n < 8:
        parser.error(f"--students must be at least 8, got {n}")
    if args.plain_sample < 8:
        parser.error(f"--plain-sample must be at least 8, got {args.plain_sample}")

    from gradkit_autograder.state.course import Course, ensure_tools_on_path

    ensure_tools_on_path()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        tmp = Path(tmp)
        models = fresh_course(tmp / "models", assignment, tmp / "none")
        students = build_students(models, assignment, tmp / "class", n)
        if args.scaling:
            return scaling(assignment, n, tmp, tmp / "class", pin=not args.no_pin)
        # The sample for the sequential peers: the first K ids cycle through every kind.
        k = min(n, args.plain_sample)
        sample = sorted(students)[:k]
        sample_dir = tmp / "sample"
        for student in sample:
            shutil.copytree(tmp / "class" / student, sample_dir / student)
        ours_course = fresh_course(tmp / "ours", assignment, tmp / "class")
        plain_course = fresh_course(tmp / "plain", assignment, sample_dir)
        timeout = int(Course.open(plain_course.root).config.Execute.timeout)
        print(f"grading {n} submissions with gradkit grade, {k} of them with plain nbgrader and bare "
              f"nbclient (this takes a few minutes)...", flush=True)
        ours_wall, ours = run_ours(ours_course, assignment, args.workers)
        plain_wall = run_plain(plain_course, assignment) * n / k
        bare = {phase: seconds * n / k for phase, seconds in run_bare(plain_course, assignment, sample, timeout).items()}
        ours_scores = gradebook_scores(ours_course, assignment)
        plain_scores = gradebook_scores(plain_course, assignment)
        honest = [s for s in sample if not students[s].startswith("mutant")]
        wrong = [s for s in sample if s not in honest]
        caught = sum(ours_scores[s] < plain_scores[s] for s in wrong)
        # every copy of a model must score the same as the model's first copy (deterministic grading)
        by_kind = {}
        for student, kind in students.items():
            by_kind.setdefault(kind, set()).add(ours_scores[student])
        if (ours["failed"] or any(ours_scores[s] != plain_scores[s] for s in honest)
                or any(ours_scores[s] > plain_scores[s] for s in sample)
                or any(len(scores) > 1 for scores in by_kind.values())):
            print(f"scores differ: ours {ours_scores} plain {plain_scores}", file=sys.stderr)
            return 1
        if k < n:
            print(f"\nplain nbgrader and bare nbclient graded {k} of the {n} submissions; their times "
                  f"below are scaled by {n}/{k}")
        report(assignment, n, args.workers, ours_wall, ours, plain_wall, bare)
        task_walls(ours["task_seconds"], students, args.workers)
        print(f"  gradkit grade's own line: {ours['time_line']}")
        kinds = sorted(set(students.values()))
        print(f"honest work ({len(honest)} of the sample) scores the same in both gradebooks; "
              f"{caught} of {len(wrong)} wrong answers in the sample score lower with us than with plain "
              f"nbgrader; every copy of a model scores the same with us (kinds {', '.join(kinds)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
