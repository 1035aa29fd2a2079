"""Submissions made from the instructor's files, for ``gradkit verify`` and ``gradkit demo``.

- the *reference* submission: the released notebook with every solution cell
  filled in from the source notebook (what a perfect student hands in);
- the *blank* submission: the released notebook untouched;
- the *do-nothing* submission: the blank with every ``raise NotImplementedError()``
  stub replaced by ``return None`` (``pass`` outside a function): work not done
  that does not even raise, which no check may reward;
- the *mutants*: ``assignments/<id>/mutants/<name>/*.ipynb``, wrong answers
  stored as complete submissions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from gradkit_autograder.state.conventions import TIMESTAMP_FILE, solution_delimiters
from gradkit_autograder.state.course import Course

MUTANTS_DIR = "mutants"


def _solution_id(cell) -> str | None:
    meta = cell.metadata.get("nbgrader", {})
    return meta.get("grade_id") if meta.get("solution") else None


def reference_notebook(source_path: Path, release_path: Path, config=None):
    """The released notebook with the source's solution cells put in (markers removed)."""
    source = nbformat.read(str(source_path), as_version=4)
    markers = solution_delimiters(config or {})
    solutions = {}
    for cell in source.cells:
        cell_id = _solution_id(cell)
        if cell_id:
            lines = [ln for ln in cell.source.splitlines()
                     if not any(ln.strip() == f"### {m}" for m in markers)]
            solutions[cell_id] = "\n".join(lines)
    released = nbformat.read(str(release_path), as_version=4)
    for cell in released.cells:
        cell_id = _solution_id(cell)
        if cell_id in solutions:
            cell.source = solutions[cell_id]
    return released


def _does_nothing(source: str) -> str:
    """A solution cell's stub made silent: ``return None`` in a function, ``pass`` elsewhere."""
    lines = source.splitlines()
    stub = [i for i, ln in enumerate(lines) if ln.strip() in ("raise NotImplementedError()", "raise NotImplementedError")]
    for statement in ("return None", "pass"):
        out = list(lines)
        for i in stub:
            indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
            out[i] = indent + (statement if indent else "pass")
        try:
            compile("\n".join(out), "<cell>", "exec")
            return "\n".join(out)
        except SyntaxError:
            continue
    return source


def do_nothing_notebook(release_path: Path):
    """The released notebook with each solution stub returning None instead of raising."""
    released = nbformat.read(str(release_path), as_version=4)
    for cell in released.cells:
        if _solution_id(cell) and cell.cell_type == "code":
            cell.source = _does_nothing(cell.source)
    return released


def mutant_names(course: Course, assignment: str) -> list[str]:
    base = course.source_dir(assignment) / MUTANTS_DIR
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def write_submission(dest: Path, notebooks: dict[str, object], timestamp: str | None = None) -> None:
    """Write notebooks (name -> notebook node or path to copy) as one submission folder."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        if isinstance(nb, Path):
            shutil.copyfile(nb, dest / name)
        else:
            nbformat.write(nb, str(dest / name))
    if timestamp:
        (dest / TIMESTAMP_FILE).write_text(timestamp)


def build_class(course: Course, assignment: str, dest: Path, do_nothing: bool = False,
                most_mutants: int | None = None) -> dict[str, str]:
    """Lay out reference, blank and mutant submissions under ``dest/<student>/``.

    Returns student id -> kind ("reference", "blank", "do-nothing" or "mutant:<name>"). The
    folder is what ``gradkit collect`` takes.
    """
    release_dir = course.release_dir(assignment)
    source_dir = course.source_dir(assignment)
    notebooks = sorted(p.name for p in release_dir.glob("*.ipynb"))
    kinds = {}
    reference = {n: reference_notebook(source_dir / n, release_dir / n) for n in notebooks}
    write_submission(dest / "reference" / assignment, reference)
    kinds["reference"] = "reference"
    write_submission(dest / "blank" / assignment, {n: release_dir / n for n in notebooks})
    kinds["blank"] = "blank"
    if do_nothing:
        write_submission(dest / "do-nothing" / assignment,
                         {n: do_nothing_notebook(release_dir / n) for n in notebooks})
        kinds["do-nothing"] = "do-nothing"
    for name in mutant_names(course, assignment)[:most_mutants]:
        files = {p.name: p for p in sorted((source_dir / MUTANTS_DIR / name).glob("*.ipynb"))}
        student = f"mutant-{name}"
        write_submission(dest / student / assignment, files)
        kinds[student] = f"mutant:{name}"
    return kinds
