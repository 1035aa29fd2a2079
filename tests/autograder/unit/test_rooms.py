"""The grader's rooms import in one direction: no circle, no arrow up, a kernel side that stands alone.

Every module of ``autograder/gradkit_autograder`` is parsed (``ast``, nothing is
imported) and each import statement, lazy ones inside functions included, is an
arrow from its module to the grader module it names. The rooms, lowest first:

    kernel < state < sandbox < judging < grading < similarity < commands < cli, api, __main__

A module may import its own room and the rooms below it, never one above; the
modules import no circle among themselves; ``kernel/`` imports nothing of the
grader outside ``kernel/`` (it is copied alone into the sandbox); no module is
longer than 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "autograder" / "gradkit_autograder"
NAME = "gradkit_autograder"
ROOMS = ("kernel", "state", "sandbox", "judging", "grading", "similarity", "hub", "commands")
TOP = ("cli", "api", "__main__")        # the entry points, above every room
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Dotted name below the package ('' for the package itself) -> file."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The grader module a dotted name stands for (its longest known prefix); None outside the grader."""
    if name != NAME and not name.startswith(NAME + "."):
        return None
    parts = name.split(".")[1:]
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The grader modules ``module`` imports, anywhere in its file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".") if package else []
                up = up[:len(up) - (node.level - 1)] if node.level > 1 else up
                base = ".".join([NAME, *up, *([base] if base else [])])
            # ``from pkg import mod`` imports pkg.mod when mod is a module
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
            names = [n if resolve(n, known) == n.split(".", 1)[-1] else base for n in names]
        for name in names:
            target = resolve(name, known)
            if target is not None and target != module:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports(module, path, known) for module, path in known.items()}


def rank(module: str) -> int:
    """The room's height; the package's own ``__init__`` is at the bottom (it imports nothing)."""
    head = module.split(".")[0]
    if module == "":
        return -1
    if head in ROOMS:
        return ROOMS.index(head)
    assert head in TOP, f"{module}: in no room; add it to a room (or to TOP, for an entry point)"
    return len(ROOMS)


def test_the_import_scan_sees_lazy_relative_and_from_imports(tmp_path):
    known = {"": Path("x"), "state": Path("x"), "state.course": Path("x"), "kernel.channel": Path("x")}
    probe = tmp_path / "probe.py"
    probe.write_text("from gradkit_autograder.state import course\n"
                     "def f():\n    import gradkit_autograder.kernel.channel\n"
                     "from . import course as c\nimport numpy\n")
    assert imports("state.probe", probe, known) == {"state.course", "kernel.channel"}


def test_every_module_is_in_a_room_and_the_package_imports_nothing():
    arrows = graph()
    for module in arrows:
        rank(module)
    assert arrows[""] == set(), "gradkit_autograder/__init__.py must stay import-free (hidden cells import below it)"
    for room in ROOMS:
        assert arrows[room] == set(), f"{room}/__init__.py imports {arrows[room]}: a room's __init__ holds only its docstring"


def test_no_room_imports_a_room_above_it():
    up = sorted(f"{module} -> {target}" for module, targets in graph().items() for target in targets
                if rank(target) > rank(module))
    assert up == []


def test_the_kernel_side_imports_nothing_else_of_the_grader():
    outside = sorted(f"{module} -> {target}" for module, targets in graph().items() if module.startswith("kernel")
                     for target in targets if target != "" and not target.startswith("kernel"))
    assert outside == []


def test_no_import_cycle_between_modules():
    arrows = graph()
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(arrows.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(arrows):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_module_is_longer_than_the_limit():
    long = {module: n for module, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
