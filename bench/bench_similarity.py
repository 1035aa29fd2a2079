"""``gradkit similarity`` on a class of 300 a1_gradients submissions, against copydetect.

The class is generated (``tests/similarity_class.py``): honest students built from
a1's reference, its stored wrong answers and hand-written variants, and disguised
copies of a few of them (renamed, re-ordered, dead code, functions split, loops
rewritten, everything at once). Two measurements in one run:

(a) ours: ``gradkit similarity a1_gradients`` in a child process (the CLI's code
    path): wall time and peak memory (the child's max RSS), every pair (about
    45,000), and the separation: the lowest disguised copy's score against the
    highest honest pair's;
(b) the peer: copydetect (winnowing on pygments tokens, pair by pair), on the
    same students' solution code extracted by us into one .py file each, the
    release's code as its boilerplate, default settings: its time for every pair
    and the same separation with its score (the larger of the two directed
    shares). copydetect is not a dependency of the kit: give an interpreter that
    has it with ``--peer-python`` (``python -m venv /tmp/cd && /tmp/cd/bin/pip
    install copydetect``), else (b) is skipped with a note.

Target: 300 submissions in at most 30 s on 2 cores.

    .venv/bin/python bench/bench_similarity.py                    # 300 submissions
    .venv/bin/python bench/bench_similarity.py --quick            # 60 submissions
    .venv/bin/python bench/bench_similarity.py --peer-python /tmp/cd/bin/python
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
A1 = "a1_gradients"
TARGET_S = 30.0
COPIES_OF = 3

PEER = r"""
import itertools, json, sys, time
from pathlib import Path
from copydetect import CodeFingerprint, compare_files, defaults
folder = Path(sys.argv[1])
t0 = time.perf_counter()
boiler = CodeFingerprint(str(folder / "boilerplate.py"), defaults.NOISE_THRESHOLD, 1).hashes
prints = {p.stem: CodeFingerprint(str(p), defaults.NOISE_THRESHOLD, 1, boilerplate=list(boiler))
          for p in sorted((folder / "students").glob("*.py"))}
t1 = time.perf_counter()
scores = {}
for a, b in itertools.combinations(sorted(prints), 2):
    _, (sa, sb), _ = compare_files(prints[a], prints[b])
    scores[a + "|" + b] = max(float(sa), float(sb))
t2 = time.perf_counter()
json.dump({"fingerprint_s": t1 - t0, "compare_s": t2 - t1, "scores": scores}, sys.stdout)
"""


def build_course(dest: Path, students: int):
    """A scratch course with a1 released and ``students`` generated submissions; their kinds."""
    import nbformat

    import similarity_class as gen
    from gradkit_autograder.state.course import Course
    from gradkit_autograder.commands.release import release
    from gradkit_autograder.state.scratch_course import scratch_course

    course = scratch_course(Course.open(REPO / "course"), dest, [A1])
    release(course, [A1])
    n_copies = COPIES_OF * len(gen.DISGUISES)
    honest, copies = gen.build(course.source_dir(A1), course.release_dir(A1), students - n_copies, COPIES_OF)
    kinds = {}
    for student, nb in honest.items():
        kinds[student] = "honest"
        _write(course, student, nb, nbformat)
    for student, (original, nb) in copies.items():
        kinds[student] = original
        _write(course, student, nb, nbformat)
    return course, kinds


def _write(course, student, nb, nbformat):
    folder = course.submitted_dir(student, A1)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / "gradients.ipynb"))


def separation(scores: dict[tuple[str, str], float], kinds: dict[str, str]) -> tuple[float, float, str]:
    """(highest honest pair, lowest copy-with-its-original, which copy)."""
    honest = max(s for (a, b), s in scores.items() if kinds.get(a) == kinds.get(b) == "honest")
    copies = {c: scores.get((c, o), scores.get((o, c), 0.0)) for c, o in kinds.items() if o != "honest"}
    lowest = min(copies, key=copies.get)
    return honest, copies[lowest], lowest


def run_ours(course, cpus: str | None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of ``gradkit similarity`` in a child process.

    The CPU time does not grow when other jobs share the cores; the wall time does.
    """
    cmd = [sys.executable, "-m", "gradkit_autograder", "similarity", A1, "--course", str(course.root)]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"gradkit similarity failed:\n{proc.stderr}")
    print(proc.stdout.split("files:")[0].splitlines()[1])
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, after.ru_maxrss / 1024


def read_scores(course) -> dict[tuple[str, str], float]:
    with open(course.root / "reports" / A1 / "similarity.csv") as fh:
        return {(r["student_a"], r["student_b"]): float(r["score"]) for r in csv.DictReader(fh)}


def run_peer(course, peer_python: str, dest: Path):
    """copydetect on the extracted code: (seconds, scores) or None when it is not installed."""
    from gradkit_autograder.similarity import student_code as sim

    check = subprocess.run([peer_python, "-c", "import copydetect"], capture_output=True)
    if check.returncode != 0:
        return None
    released = sim.release_cells(course, A1)
    (dest / "students").mkdir(parents=True)
    (dest / "boilerplate.py").write_text("\n\n".join(c["source"] for cells in released.values() for c in cells))
    for student in course.submitted_students(A1):
        cells = sim.submission_cells(course.submitted_dir(student, A1), released)
        (dest / "students" / f"{student}.py").write_text("\n\n".join(src for _, src, _ in cells))
    start = time.perf_counter()
    proc = subprocess.run([peer_python, "-c", PEER, str(dest)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"copydetect failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    scores = {tuple(k.split("|")): v for k, v in out["scores"].items()}
    return wall, out, scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="60 submissions")
    parser.add_argument("--peer-python", default=sys.executable, help="an interpreter with copydetect")
    parser.add_argument("--cpus", default="0,1" if (os.cpu_count() or 1) > 2 else None,
                        help="CPUs for our child (taskset list; default: two when the machine has more)")
    args = parser.parse_args()
    n = 60 if args.quick else args.students
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as tmp:
        t = time.perf_counter()
        course, kinds = build_course(Path(tmp) / "class", n)
        print(f"class: {n} submissions of {A1} ({sum(k == 'honest' for k in kinds.values())} honest, "
              f"{sum(k != 'honest' for k in kinds.values())} disguised copies of {COPIES_OF}), "
              f"built in {time.perf_counter() - t:.0f} s")
        wall, cpu, rss = run_ours(course, args.cpus)
        honest, copy, which = separation(read_scores(course), kinds)
        pairs = n * (n - 1) // 2
        print(f"ours: {wall:.1f} s for {pairs} pairs (target <= {TARGET_S:g} s on 2 cores: "
              f"{'met' if wall <= TARGET_S else 'NOT met'}; CPU {cpu:.1f} s, load average "
              f"{os.getloadavg()[0]:.1f}), peak memory {rss:.0f} MiB")
        print(f"ours: highest honest pair {honest:.3f}, lowest disguised copy {copy:.3f} ({which}): "
              f"margin {copy - honest:+.3f}")
        separated = copy > honest
        peer = run_peer(course, args.peer_python, Path(tmp) / "peer")
        if peer is None:
            print(f"peer: copydetect is not installed for {args.peer_python}; skipped (see --peer-python)")
            return 0 if separated else 1
        peer_wall, out, scores = peer
        p_honest, p_copy, p_which = separation(scores, kinds)
        print(f"copydetect: {peer_wall:.1f} s (fingerprints {out['fingerprint_s']:.1f} s, "
              f"{pairs} compare_files {out['compare_s']:.1f} s): ours is {peer_wall / wall:.1f}x faster")
        print(f"copydetect: highest honest pair {p_honest:.3f}, lowest disguised copy {p_copy:.3f} "
              f"({p_which}): margin {p_copy - p_honest:+.3f}")
    return 0 if separated else 1


if __name__ == "__main__":
    sys.exit(main())
