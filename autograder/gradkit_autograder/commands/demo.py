"""``gradkit demo``: the instructor's whole job, end to end, in a fresh temporary course.

Release every assignment, build a small class per assignment (reference, blank,
wrong answers), collect it, grade it in parallel on Ray, write feedback, export
grades (nbgrader CSV and Canvas CSV) and a report per assignment; print the grade
table and where every file went. The course is left in place (a new folder under
the system's temporary folder, or ``--keep DIR``) so that those files can be opened.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from nbgrader.api import MissingEntry

from gradkit_autograder.grading.class_builder import build_class
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course, CourseError
from gradkit_autograder.commands.export import export
from gradkit_autograder.commands.feedback import write_feedback
from gradkit_autograder.commands.grade import grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.commands.report import write_report
from gradkit_autograder.state.scratch_course import scratch_course


def _grade_table(course: Course, assignments: list[str]) -> list[str]:
    with course.gradebook() as gb:
        students = sorted(s.id for s in gb.students)
        name_width = max([len("student")] + [len(s) for s in students]) + 2
        widths = [max(len(a), 9) + 2 for a in assignments]
        lines = [f"{'student':<{name_width}}" + "".join(f"{a:>{w}}" for a, w in zip(assignments, widths))]
        for student in students:
            cells = []
            for a in assignments:
                try:
                    sub = gb.find_submission(a, student)
                    cells.append(f"{sub.score:g}/{sub.max_score:g}")
                except MissingEntry:   # no submission of this assignment
                    cells.append("-")
            lines.append(f"{student:<{name_width}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    return lines


SIMILARITY_DEMO = ("a0_warmup", "a1_gradients")   # the first one present gets a planted copy


def _renamed(source: str) -> str:
    """A copier's disguise: every name the cell assigns renamed, a comment added."""
    import ast
    import re

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg) and n.arg != "self"}
    for i, name in enumerate(sorted(names)):
        source = re.sub(rf"(?<![.\w]){re.escape(name)}\b", f"my_{i}", source)   # not attributes
    return "# my own work\n" + source


def _rank(csv_path: Path, student: str, copy: str) -> str:
    """Where the planted pair ranks in the similarity CSV."""
    import csv

    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for i, row in enumerate(rows, start=1):
        if {row["student_a"], row["student_b"]} == {student, copy}:
            return f"pair {i} of {len(rows)}, score {float(row['score']):.2f}"
    return "not found"


def plant_copy(course: Course, assignment: str, student: str, archive: Path) -> str:
    """Put a renamed copy of ``student``'s submission into ``archive`` as an earlier term's student."""
    import nbformat

    copy = f"{student}-copy"
    folder = archive / copy / assignment
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(course.submitted_dir(student, assignment).glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = _renamed(cell.source)
        nbformat.write(nb, str(folder / path.name))
    return f"{archive.name}/{copy}"


DEMO_MUTANTS = 6


def run_demo_in(course: Course, dest: Path, workers: int | None, db_url: str | None,
                out: TextIO) -> int:
    assignments = course.source_assignments()
    demo = scratch_course(course, dest, assignments, db_url)
    out.write(f"demo course: {demo.root}\n")
    for s in release(demo, assignments):
        out.write(f"released {s.assignment}: {s.graded_cells} graded cells, {s.points:g} points\n")
    for a in assignments:
        # the demo shows the pipeline and verify proves the tests: six wrong answers an assignment
        # (in name order) keep `make demo` short now that a4 and a5 store 17 and 11
        kinds = build_class(demo, a, dest / "class", most_mutants=DEMO_MUTANTS)
        mutants = sum(k.startswith("mutant") for k in kinds.values())
        out.write(f"class for {a}: reference, blank and {mutants} of its stored wrong answers (mutants/)\n")
    got = collect(demo, dest / "class")
    out.write(f"collected {len(got.imported)} submissions from {dest / 'class'}\n")
    failed = 0
    for a in assignments:
        summary = grade(demo, a, workers=workers, progress=True)
        failed += summary.count("failed")
        out.write(f"graded {a}: {summary.count('graded')} graded, {summary.count('failed')} failed "
                  f"in {summary.elapsed_s:.1f} s ({summary.isolation})\n")
        for o in summary.outcomes:
            for inc in o.incidents:
                out.write(f"    ! {o.student} {inc['cell']}: {inc['message']}\n")
    files = []
    for a in assignments:
        files += write_feedback(demo, a)
    exports = [export(demo, "csv"), export(demo, "canvas")]
    planted = next((a for a in SIMILARITY_DEMO if a in assignments), None)
    archive = dest / "earlier-term"
    if planted:
        student = next(s for s in demo.submitted_students(planted) if s.startswith("mutant-"))
        copy = plant_copy(demo, planted, student, archive)
    reports = [write_report(demo, a, archives=[archive] if a == planted else None) for a in assignments]
    out.write("\n".join(["", "grade table:"] + _grade_table(demo, assignments)) + "\n\n")
    root = demo.root
    out.write(f"releases:   {root / 'release'}/<assignment>/\n")
    out.write(f"submitted:  {root / 'submitted'}/<student>/<assignment>/\n")
    out.write(f"autograded: {root / 'autograded'}/<student>/<assignment>/\n")
    out.write(f"feedback:   {len(files)} pages, {root / 'feedback'}/<student>/<assignment>/<notebook>.html\n")
    for path in exports:
        out.write(f"export:     {path}\n")
    for r in reports:
        out.write(f"report:     {r.markdown_path}\n            {r.plot_path}\n")
    if planted:
        html = root / "reports" / planted / "similarity.html"
        out.write(f"similarity: {html} (planted: {copy}, a renamed copy of {student}'s {planted}, "
                  f"as an earlier term's submission: {_rank(html.with_name('similarity.csv'), student, copy)})\n")
    out.write(f"gradebook:  {demo.db_url}\n")
    return 1 if failed else 0


def run_demo(course_dir: str | None = None, db_url: str | None = None, workers: int | None = None,
             keep: str | None = None, out: TextIO = sys.stdout) -> int:
    """Run the demo in ``keep`` (an empty or new folder) or a new temporary folder; both are kept."""
    from gradkit.runtime import ray_session

    course = Course.open(course_dir)
    if keep:
        dest = Path(keep)
        if dest.exists() and any(dest.iterdir()):
            raise CourseError(f"--keep {dest}: the folder is not empty; give a new or empty folder")
    else:
        dest = Path(tempfile.mkdtemp(prefix="gradkit-demo-"))
    from gradkit_autograder.commands.course_ray import address_for

    with ray_session(address_for(course, None), num_cpus=workers or os.cpu_count() or 1, what="gradkit demo"):
        code = run_demo_in(course, dest, workers, db_url, out)
    out.write(f"the demo course stays in {dest} (remove it with: rm -rf {dest})\n")
    return code
