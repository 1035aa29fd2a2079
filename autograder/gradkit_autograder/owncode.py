"""'Own code', decided outside the kernel: solution cells that reach for a withheld module.

An assignment lists in ``assignment.yaml`` the library modules its students
write (``withheld``). Two things keep a student from handing in the library's
version instead of their own, neither of which runs in the student's kernel:

1. the grading kernel does not have those modules at all (``sandbox.library_view``):
   calling one, however it is hidden (a default argument, a closure, a string
   passed to ``importlib``), fails there;
2. this module reads each solution cell's *source*, here in the grader, and
   names the withheld modules it imports or refers to; the grade cells that test
   such a cell score 0 with that reason (a reference tucked into a branch that
   never runs while grading is caught here).
"""

from __future__ import annotations

import ast
from typing import Iterable, Sequence


def _parse_cell(source: str) -> ast.AST | None:
    """The cell's syntax tree; None when it is not Python even after IPython's transforms.

    IPython's own syntax (``%magic``, ``!shell``, ``obj?``, a leading prompt or indent)
    is never valid Python, so a cell that parses as it stands is run as it stands, and
    only the others go through IPython's transformer (which costs ~1 ms a cell).
    """
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return ast.parse(TransformerManager().transform_cell(source))
    except Exception:   # noqa: BLE001 - nbgrader runs it and the error costs the cell anyway
        return None


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for an attribute chain on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def referenced_names(source: str) -> set[str]:
    """Dotted module-like names a cell imports, refers to, or spells in a string.

    One walk over the tree collects imports (and their aliases), attribute chains and
    string constants; aliases are applied afterwards, so ``import gradkit.autodiff as
    ad`` turns ``ad.Value`` into ``gradkit.autodiff.Value`` wherever the import sits.
    Docstrings are text about code, not code, and are left out.
    """
    tree = _parse_cell(source)
    if tree is None:
        return set()
    names: set[str] = set()
    aliases: dict[str, str] = {}
    chains: list[str] = []
    strings: list[ast.Constant] = []
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            aliases.update({alias.asname: alias.name for alias in node.names if alias.asname})
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            aliases.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted:
                chains.append(dotted)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.append(node)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for dotted in chains:
        head, _, rest = dotted.partition(".")
        names.add(f"{aliases[head]}.{rest}" if head in aliases else dotted)
    for node in strings:
        if id(node) not in docstrings:
            names.update(word.strip("'\"()[],;") for word in node.value.split())
    return names


def withheld_uses(source: str, withheld: Sequence[str]) -> list[str]:
    """The withheld modules a cell's source refers to (sorted, each once)."""
    names = referenced_names(source)
    return sorted({w for w in withheld for n in names if n == w or n.startswith(w + ".")})


def solutions_tested_by(cells: Iterable[dict]) -> dict[str, list[str]]:
    """Grade cell id -> the solution cells it tests, by the order of the notebook.

    A grade cell tests the solution cells written since the previous grade cell;
    consecutive grade cells test the same solution cells.
    """
    covered: dict[str, list[str]] = {}
    pending: list[str] = []
    last: list[str] = []
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade"):
            if not pending:
                last = []
            pending.append(meta.get("grade_id", ""))
        elif meta.get("grade") and meta.get("grade_id"):
            if pending:
                last, pending = pending, []
            covered[meta["grade_id"]] = list(last)
    return covered


def own_code_problems(cells: list[dict], withheld: Sequence[str]) -> dict[str, str]:
    """Grade cell id -> why it scores 0: a solution cell it tests uses a withheld module."""
    if not withheld:
        return {}
    uses = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell.get("cell_type") == "code":
            found = withheld_uses(cell.get("source", ""), withheld)
            if found:
                uses[meta.get("grade_id", "")] = found
    problems = {}
    for grade_cell, solutions in solutions_tested_by(cells).items():
        found = sorted({m for s in solutions for m in uses.get(s, [])})
        if found:
            problems[grade_cell] = (f"the code this test checks uses {', '.join(found)}, which this "
                                    f"assignment asks you to write yourself")
    return problems
