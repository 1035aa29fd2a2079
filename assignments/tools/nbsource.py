"""Turn a percent-format Python source into an nbgrader source notebook.

Instructors edit plain text (``assignments/tools/sources/<assignment>.py``) and the
notebook is generated from it, so a change reviews as a readable diff instead of a
JSON blob, and the stored notebook never carries outputs or execution counts.

A source is a sequence of cells; each starts with a marker line::

    # %% [markdown]                 a text cell; every line starts with "# " (stripped)
    # %% [code]                     a code cell the student may edit freely (demos, plots)
    # %% [locked id=setup]          a read-only code cell (imports, helpers, given code)
    # %% [solution id=value_class]  a cell the student fills in (### BEGIN/END SOLUTION)
    # %% [tests id=test_value points=5]  an autograded test cell worth ``points``

Everything before the first marker is a module docstring for the instructor and is
not copied into the notebook. Trailing blank lines of a cell are dropped. A line
``# {{include NAME}}`` in a code cell is replaced by the file ``NAME`` next to the
source, from its line ``# ---- include from here ----`` on (so helpers shared by
every notebook are written once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MARKER = re.compile(r"^# %% \[(?P<kind>\w+)(?P<attrs>[^\]]*)\]\s*$")
INCLUDE = re.compile(r"^# \{\{include (?P<name>[\w.-]+)\}\}\s*$")
INCLUDE_FROM = "# ---- include from here ----"
KINDS = ("markdown", "code", "locked", "solution", "tests")
NBGRADER_SCHEMA = 3
CELL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SourceError(ValueError):
    """A notebook source is malformed; the message names the file and line."""


@dataclass
class CellSpec:
    """One cell as written in the source file."""

    kind: str
    text: str
    line: int
    attrs: dict = field(default_factory=dict)

    @property
    def grade_id(self) -> str | None:
        return self.attrs.get("id")


def parse_source(text: str, name: str = "<source>") -> list[CellSpec]:
    """Split a percent-format source into cells, checking markers and attributes."""
    cells: list[CellSpec] = []
    current: CellSpec | None = None
    body: list[str] = []

    def close():
        if current is not None:
            current.text = _clean_body(current.kind, body)
            cells.append(current)

    for lineno, line in enumerate(text.splitlines(), start=1):
        match = MARKER.match(line)
        if line.startswith("# %%") and not match:
            raise SourceError(f"{name}:{lineno}: malformed cell marker {line!r}")
        if match:
            close()
            kind = match["kind"]
            if kind not in KINDS:
                raise SourceError(f"{name}:{lineno}: unknown cell kind {kind!r}, expected one of {KINDS}")
            current = CellSpec(kind, "", lineno, _parse_attrs(match["attrs"], name, lineno))
            body = []
            _check_attrs(current, name)
        elif current is not None:
            body.append(line)
    close()
    _check_unique_ids(cells, name)
    return cells


def _parse_attrs(raw: str, name: str, lineno: int) -> dict:
    attrs = {}
    for token in raw.split():
        key, sep, value = token.partition("=")
        if not sep or not value:
            raise SourceError(f"{name}:{lineno}: attribute {token!r} is not key=value")
        attrs[key] = value
    return attrs


def _check_attrs(cell: CellSpec, name: str) -> None:
    where = f"{name}:{cell.line}"
    needs_id = cell.kind in ("locked", "solution", "tests")
    if needs_id and not cell.grade_id:
        raise SourceError(f"{where}: a {cell.kind} cell needs id=...")
    if cell.grade_id and not CELL_ID.match(cell.grade_id):
        raise SourceError(f"{where}: id {cell.grade_id!r} must match {CELL_ID.pattern}")
    if cell.kind == "tests":
        try:
            points = float(cell.attrs.get("points", ""))
        except ValueError:
            raise SourceError(f"{where}: a tests cell needs points=<number>") from None
        if points <= 0:
            raise SourceError(f"{where}: points must be positive, got {points}")
    elif "points" in cell.attrs:
        raise SourceError(f"{where}: only tests cells carry points, not {cell.kind} cells")


def _check_unique_ids(cells: list[CellSpec], name: str) -> None:
    seen: dict[str, int] = {}
    for cell in cells:
        if cell.grade_id is None:
            continue
        if cell.grade_id in seen:
            raise SourceError(
                f"{name}:{cell.line}: id {cell.grade_id!r} already used at line {seen[cell.grade_id]}"
            )
        seen[cell.grade_id] = cell.line


def _clean_body(kind: str, lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines and not lines[0].strip():
        lines = lines[1:]
    if kind == "markdown":
        # "# text" -> "text"; a bare "#" is an empty line of the markdown.
        lines = [line[2:] if line.startswith("# ") else line[1:] if line.startswith("#") else line for line in lines]
    return "\n".join(lines)


def _nbgrader_metadata(cell: CellSpec) -> dict | None:
    """The ``nbgrader`` cell metadata for each kind (None: an ordinary cell)."""
    flags = {
        "locked": dict(grade=False, solution=False, locked=True),
        "solution": dict(grade=False, solution=True, locked=False),
        "tests": dict(grade=True, solution=False, locked=True),
    }.get(cell.kind)
    if flags is None:
        return None
    meta = dict(flags, grade_id=cell.grade_id, schema_version=NBGRADER_SCHEMA, task=False)
    if cell.kind == "tests":
        meta["points"] = _number(cell.attrs["points"])
    return meta


def _number(text: str):
    value = float(text)
    return int(value) if value.is_integer() else value


def build_notebook(cells: list[CellSpec]) -> nbformat.NotebookNode:
    """Build an nbformat v4 notebook with nbgrader metadata and stable cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    counters: dict[str, int] = {}
    for cell in cells:
        if cell.kind == "markdown":
            nb_cell = nbformat.v4.new_markdown_cell(cell.text)
        else:
            nb_cell = nbformat.v4.new_code_cell(cell.text)
        # Stable, readable ids: the grade id when there is one, else kind + counter.
        counters[cell.kind] = counters.get(cell.kind, 0) + 1
        nb_cell["id"] = cell.grade_id or f"{cell.kind}-{counters[cell.kind]:03d}"
        meta = _nbgrader_metadata(cell)
        if meta is not None:
            nb_cell.metadata["nbgrader"] = meta
        nb.cells.append(nb_cell)
    nbformat.validate(nb)
    return nb


def load_source(path: Path) -> list[CellSpec]:
    """Read and parse one source file, expanding its include lines."""
    path = Path(path)
    lines = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = INCLUDE.match(line)
        if match:
            lines.extend(_included_lines(path.parent / match["name"], f"{path}:{lineno}"))
        else:
            lines.append(line)
    return parse_source("\n".join(lines), str(path))


def _included_lines(path: Path, where: str) -> list[str]:
    if not path.exists():
        raise SourceError(f"{where}: included file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    if INCLUDE_FROM not in text:
        raise SourceError(f"{where}: {path} has no line {INCLUDE_FROM!r}")
    included = text.split(INCLUDE_FROM, 1)[1].strip("\n").splitlines()
    if any(line.startswith("# %%") for line in included):
        raise SourceError(f"{where}: {path} may not contain cell markers")
    return included


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """Serialise exactly as written to disk, so a check can compare text."""
    return nbformat.writes(nb) + "\n"
