"""Build the assignment notebooks (and their wrong-answer mutants) from text sources.

    .venv/bin/python assignments/tools/build_notebooks.py            # write everything
    .venv/bin/python assignments/tools/build_notebooks.py --check    # exit 1 if a file is stale
    .venv/bin/python assignments/tools/build_notebooks.py a1_gradients

For each assignment id in ``ASSIGNMENTS`` this reads
``assignments/tools/sources/<id>.py`` (the cells, see ``nbsource.py``) and
``assignments/tools/sources/<id>.mutants.yaml`` (the wrong answers), and writes

- ``assignments/<id>/<notebook>.ipynb``: the nbgrader source notebook, without
  outputs or execution counts, with the point table filled into the intro;
- ``assignments/<id>/mutants/<mutant>/<notebook>.ipynb``: one full submission per
  mutant: the reference answers with one planted mistake, in the form a student
  hands in (solution markers and hidden tests removed);
- ``assignments/<id>/mutants/feedback.yaml``: per mutant, why it is wrong and the
  words its feedback must contain (``mentions``: the concept its hint points at),
  which ``gradkit verify`` checks on the rendered feedback page.
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbsource import CellSpec, SourceError, build_notebook, load_source, notebook_text  # noqa: E402

TOOLS = Path(__file__).resolve().parent
ASSIGNMENTS_DIR = TOOLS.parent
SOURCES = TOOLS / "sources"

# assignment id -> notebook file name (one notebook per assignment).
ASSIGNMENTS = {
    "a1_gradients": "gradients.ipynb",
    "a2_tensor_autodiff": "tensor_autodiff.ipynb",
    "a3_nets_sgd": "nets_sgd.ipynb",
    "a4_pytorch_gans": "pytorch_gans.ipynb",
    "a5_distributed_ray": "distributed_ray.ipynb",
    "a6_efficient_dl": "efficient_dl.ipynb",
}

POINTS_PLACEHOLDER = "{{points_table}}"
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


@dataclass(frozen=True)
class Mutant:
    """One planted mistake: replace ``old`` by ``new`` inside solution cell ``cell``."""

    name: str
    why: str
    cell: str
    old: str
    new: str
    mentions: tuple[str, ...] = ()


def points_table(cells: list[CellSpec]) -> str:
    """A markdown table of every graded cell and its points, with the total."""
    rows = ["| graded cell | points |", "|---|---:|"]
    total = 0.0
    for cell in cells:
        if cell.kind == "tests":
            points = float(cell.attrs["points"])
            total += points
            rows.append(f"| `{cell.grade_id}` | {points:g} |")
    rows.append(f"| **total** | **{total:g}** |")
    return "\n".join(rows)


def fill_points(cells: list[CellSpec]) -> list[CellSpec]:
    """Replace the points placeholder in markdown cells by the computed table."""
    table = points_table(cells)
    return [
        CellSpec(c.kind, c.text.replace(POINTS_PLACEHOLDER, table), c.line, dict(c.attrs))
        if c.kind == "markdown" else c
        for c in cells
    ]


def load_mutants(assignment: str) -> list[Mutant]:
    """Read ``<id>.mutants.yaml``: a list of {name, why, cell, old, new, mentions}."""
    path = SOURCES / f"{assignment}.mutants.yaml"
    if not path.exists():
        return []
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    mutants = []
    for k, entry in enumerate(entries):
        missing = {"name", "why", "cell", "old", "new"} - set(entry)
        if missing:
            raise SourceError(f"{path}: mutant #{k} lacks {sorted(missing)}")
        mentions = entry.get("mentions", [])
        if not isinstance(mentions, list) or not all(isinstance(m, str) and m.strip() for m in mentions):
            raise SourceError(f"{path}: mutant {entry['name']!r}: mentions must be a list of phrases")
        mutants.append(Mutant(**{key: str(entry[key]) for key in ("name", "why", "cell", "old", "new")},
                              mentions=tuple(mentions)))
    names = [m.name for m in mutants]
    if len(set(names)) != len(names):
        raise SourceError(f"{path}: mutant names must be unique, got {names}")
    return mutants


def apply_mutant(cells: list[CellSpec], mutant: Mutant) -> list[CellSpec]:
    """The cells with the mutant's replacement made (exactly once) in its solution cell."""
    out = []
    hits = 0
    for cell in cells:
        if cell.grade_id == mutant.cell:
            if cell.kind != "solution":
                raise SourceError(f"mutant {mutant.name}: cell {mutant.cell!r} is a {cell.kind} cell, not a solution")
            hits = cell.text.count(mutant.old)
            if hits != 1:
                raise SourceError(
                    f"mutant {mutant.name}: {mutant.old!r} occurs {hits} times in cell {mutant.cell!r}, expected once"
                )
            cell = CellSpec(cell.kind, cell.text.replace(mutant.old, mutant.new), cell.line, dict(cell.attrs))
        out.append(cell)
    if hits != 1:
        raise SourceError(f"mutant {mutant.name}: no solution cell with id {mutant.cell!r}")
    return out


def as_submission(cells: list[CellSpec]) -> list[CellSpec]:
    """What a student hands in: solution markers dropped, hidden tests gone."""
    out = []
    for cell in cells:
        text = cell.text
        if cell.kind == "solution":
            text = "\n".join(line for line in text.split("\n") if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))
        elif cell.kind == "tests":
            text = _drop_region(text, BEGIN_HIDDEN, END_HIDDEN)
        out.append(CellSpec(cell.kind, text, cell.line, dict(cell.attrs)))
    return out


def _drop_region(text: str, begin: str, end: str) -> str:
    kept, inside = [], False
    for line in text.split("\n"):
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept).rstrip()


def planned_files(assignment: str) -> dict[Path, str]:
    """Every file this assignment's build writes, with its exact text."""
    cells = fill_points(load_source(SOURCES / f"{assignment}.py"))
    notebook = ASSIGNMENTS[assignment]
    folder = ASSIGNMENTS_DIR / assignment
    files = {folder / notebook: notebook_text(build_notebook(cells))}
    mutants = load_mutants(assignment)
    for mutant in mutants:
        mutated = as_submission(apply_mutant(copy.deepcopy(cells), mutant))
        files[folder / "mutants" / mutant.name / notebook] = notebook_text(build_notebook(mutated))
    if mutants:
        expected = {m.name: {"why": m.why, "mentions": list(m.mentions)} for m in mutants}
        files[folder / "mutants" / "feedback.yaml"] = (
            "# Written by assignments/tools/build_notebooks.py from tools/sources: what each wrong\n"
            "# answer's feedback must mention (gradkit verify checks the rendered page).\n"
            + yaml.safe_dump(expected, sort_keys=True, allow_unicode=True, width=100))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*", help=f"ids to build (default: all of {list(ASSIGNMENTS)})")
    parser.add_argument("--check", action="store_true", help="only report files that differ from their source")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.assignments) - set(ASSIGNMENTS))
    if unknown:
        parser.error(f"unknown assignment(s) {unknown}; known: {list(ASSIGNMENTS)}")
    stale = []
    for assignment in args.assignments or ASSIGNMENTS:
        if not (SOURCES / f"{assignment}.py").exists():
            print(f"skip {assignment}: no source yet")
            continue
        for path, text in planned_files(assignment).items():
            if path.exists() and path.read_text(encoding="utf-8") == text:
                continue
            if args.check:
                stale.append(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(ASSIGNMENTS_DIR.parent)}")
    for path in stale:
        print(f"stale: {path.relative_to(ASSIGNMENTS_DIR.parent)} (run build_notebooks.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
