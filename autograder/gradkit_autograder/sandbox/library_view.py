"""The library as a grading kernel sees it: a read-only copy of ``gradkit`` in which what the student writes fails on use.

An assignment's ``withheld`` entries (assignment.yaml) name what its students write in
their notebook: a module (every function and class it defines) or one function or class.
The grading kernel must run the student's version, so in the copy each withheld function
is a stand-in that raises when called, and each withheld class one that raises when
instantiated (or when one of its methods is called)::

    NotImplementedError: gradkit.nn.loss_functions.cross_entropy is withheld while grading:
    this assignment asks you to write it in your notebook

Everything else stays: every module imports, imports and constants of a withheld module
are kept, a class of the library may still subclass a withheld one (an instance of it
raises the same message, naming the subclass), and library code that does not use a
withheld name works as usual. The copy also holds the kernel side of the grader (the
``gradkit_autograder.kernel`` package: the trusted channel and the launcher), and nothing
else of the grader.
"""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

from gradkit_autograder.state.settings import resolve_withheld

WITHHELD = "{name} is withheld while grading: this assignment asks you to write it in your notebook"
# Class members a stand-in class leaves out: Python calls them while a class is made or
# subclassed (or while a module's attribute is looked up), not on use.
_NOT_STUBBED = {"__new__", "__init__", "__init_subclass__", "__class_getitem__", "__set_name__",
                "__getattr__", "__getattribute__", "__mro_entries__", "__prepare__", "__dir__"}


def _raise(name: str) -> str:
    return f"raise NotImplementedError({WITHHELD.format(name=name)!r})"


def _segment(source: str, node: ast.AST) -> str:
    return ast.get_source_segment(source, node) or ast.unparse(node)


def _decorators(source: str, node: ast.AST, indent: str) -> list[str]:
    return [f"{indent}@{_segment(source, d)}" for d in node.decorator_list]


def _function(source: str, node: ast.FunctionDef | ast.AsyncFunctionDef, name: str, indent: str = "",
              method: bool = False) -> list[str]:
    """A stand-in for ``node``: same name, decorators and kind (sync or async); raises when called."""
    static = any(_segment(source, d) == "staticmethod" for d in node.decorator_list)
    positional = [*node.args.posonlyargs, *node.args.args]
    first = f"{positional[0].arg}, " if method and positional and not static else ""
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    return [*_decorators(source, node, indent),
            f"{indent}{prefix} {node.name}({first}*args, **kwargs): {_raise(name)}"]


def _class(source: str, node: ast.ClassDef, name: str) -> list[str]:
    """A stand-in for ``node``: same name, decorators and bases, so subclasses still import;
    making an instance (of it or of a subclass) or calling one of its methods raises.

    It raises in ``__init__``, not ``__new__``: Ray's ``@ray.remote`` calls ``__new__`` of
    the class it wraps at import time.
    """
    bases = [_segment(source, b) for b in node.bases] + [_segment(source, k) for k in node.keywords]
    if any(b.rsplit(".", 1)[-1] in ("NamedTuple", "TypedDict") for b in bases):
        bases = []     # these refuse an __init__ of the class's own
    message = WITHHELD.format(name=name)
    lines = [*_decorators(source, node, ""), f"class {node.name}({', '.join(bases)}):",
             f"    def __init__(self, *args, **kwargs): raise NotImplementedError({message!r} + "
             f"('' if f'{{type(self).__module__}}.{{type(self).__qualname__}}' == {name!r} else "
             f"f' ({{type(self).__module__}}.{{type(self).__qualname__}} is built on it)'))"]
    for member in node.body:
        if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and member.name not in _NOT_STUBBED:
            lines += _function(source, member, name, indent="    ", method=True)
    return lines


def withhold_in_source(source: str, module: str, names: set[str] | None) -> str:
    """``source`` of ``module`` with each top-level function and class in ``names`` (all of
    them when None) replaced by its stand-in; every other line is kept where it was."""
    tree = ast.parse(source)
    lines = source.splitlines()
    chosen = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
              and (n.name in names if names is not None else n.name not in ("__getattr__", "__dir__"))]
    for node in reversed(chosen):
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        qualified = f"{module}.{node.name}"
        stand_in = (_class(source, node, qualified) if isinstance(node, ast.ClassDef)
                    else _function(source, node, qualified))
        stand_in += [""] * (node.end_lineno - start + 1 - len(stand_in))   # later lines keep their numbers
        lines[start - 1:node.end_lineno] = stand_in
    return "\n".join(lines) + "\n"


def _module_of(path: Path, package: Path) -> str:
    parts = ("gradkit", *path.relative_to(package).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def withhold(package: Path, withheld: tuple[str, ...]) -> None:
    """Apply ``withheld`` (assignment.yaml's entries) to the copy of ``gradkit`` at ``package``."""
    targets: dict[str, set[str] | None] = {}
    for entry in withheld:
        module, name = resolve_withheld(entry)
        if name is None:
            targets[module] = None
        elif targets.get(module, set()) is not None:
            targets.setdefault(module, set()).add(name)
    for path in sorted(package.rglob("*.py")):
        module = _module_of(path, package)
        whole = any(targets[m] is None and (module == m or module.startswith(m + ".")) for m in targets)
        if whole or module in targets:
            names = None if whole else targets[module]
            path.write_text(withhold_in_source(path.read_text(encoding="utf-8"), module, names),
                            encoding="utf-8")


def library_view(withheld: tuple[str, ...], dest: str | Path) -> str:
    """A read-only copy of ``gradkit`` made at ``dest``, in which the ``withheld`` names fail on use.

    The copy also holds the kernel side of the grader (the trusted channel and the
    launcher), nothing else of it. It takes a few milliseconds: each task makes its own
    in its private folder, so nothing of it outlives the task.
    """
    import gradkit
    import gradkit_autograder

    view = Path(dest)
    view.mkdir()
    library = Path(gradkit.__file__).resolve().parent
    shutil.copytree(library, view / "gradkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    withhold(view / "gradkit", tuple(withheld))
    grader_source = Path(gradkit_autograder.__file__).resolve().parent
    grader = view / "gradkit_autograder"
    grader.mkdir()
    shutil.copyfile(grader_source / "__init__.py", grader / "__init__.py")
    shutil.copytree(grader_source / "kernel", grader / "kernel",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for dirpath, dirnames, filenames in os.walk(view):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return str(view)
