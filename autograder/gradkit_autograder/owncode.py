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


def _python_source(source: str) -> str:
    """The cell as plain Python (IPython's magics and ``!`` lines turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (text about code, not code)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


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
    """Dotted module-like names a cell imports, refers to, or spells in a string."""
    try:
        tree = ast.parse(_python_source(source))
    except SyntaxError:
        return set()   # nbgrader runs it and the error costs the cell anyway
    skip = _docstrings(tree)
    names: set[str] = set()
    aliases: dict[str, str] = {}   # `import gradkit.autodiff as ad` -> ad means gradkit.autodiff
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            aliases.update({alias.asname: alias.name for alias in node.names if alias.asname})
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            aliases.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted:
                head, _, rest = dotted.partition(".")
                names.add(f"{aliases[head]}.{rest}" if head in aliases else dotted)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
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
