"""The one-way house: each layer imports only the layers below it.

    gradkit_autograder                         nbgrader, jupyter; adds `gradkit` verbs
        |
        v
    gradkit.distributed, gan, compress   gradkit.autodiff, nn, optim, data
        |  torch, ray: imported only when used      numpy only
        v
    gradkit.torch_basics, gradkit.runtime      torch / ray plumbing the torch side shares

Checked two ways: statically (every import statement of every library module, read
with ``ast``, wherever it sits in the module) and for real (a fresh interpreter imports
a layer and we look at ``sys.modules``). The library reaches the grader only through
the entry-point group ``gradkit.commands``, which the grader fills, never by an import.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import REPO

LIB = REPO / "lib" / "gradkit"
CORE_LAYER = ("autodiff", "nn", "optim", "data")
ABOVE_CORE = ("gradkit.distributed", "gradkit.gan", "gradkit.compress", "gradkit.torch_basics", "gradkit.runtime",
              "gradkit_autograder")


def module_name(path: Path) -> str:
    parts = ("gradkit",) + path.relative_to(LIB).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str | None = None) -> set[str]:
    """Every module named by an import statement in ``path`` (relative ones resolved).

    ``name`` is the module's dotted name (by default, from its place under lib/).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . import x / from ..y import z
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def library_modules() -> list[Path]:
    return sorted(LIB.rglob("*.py"))


def test_the_scan_sees_imports_inside_functions_and_relative_ones(tmp_path):
    # The checker itself must be able to fail: a hidden import inside a function counts.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import gradkit_autograder.cli\n    from ..nn import Module\n")
    found = imported_modules(probe, "gradkit.autodiff.probe")
    assert "gradkit_autograder.cli" in found and "gradkit.nn.Module" in found


def test_no_library_module_imports_the_grader():
    offenders = {module_name(path): sorted(name for name in imported_modules(path)
                                           if name.split(".")[0] == "gradkit_autograder")
                 for path in library_modules()}
    offenders = {name: bad for name, bad in offenders.items() if bad}
    assert not offenders, f"the library imports the grader: {offenders}"


def test_core_layer_imports_neither_torch_ray_nor_the_layers_above():
    offenders = {}
    for path in library_modules():
        name = module_name(path)
        if name.split(".")[1:2] and name.split(".")[1] in CORE_LAYER:
            bad = sorted(imported for imported in imported_modules(path)
                         if imported.split(".")[0] in ("torch", "ray")
                         or imported.startswith(ABOVE_CORE))
            if bad:
                offenders[name] = bad
    assert not offenders, f"the numpy layer reaches up: {offenders}"


def run_python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line, returned as a dict."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


HEAVY = ("torch", "ray", "gradkit_autograder", "nbgrader", "matplotlib")


@pytest.mark.parametrize("statement", [
    "import gradkit",
    "import gradkit.autodiff",
    "from gradkit import Tensor, Value, Dual, gradcheck, jacobian",
    "import gradkit.nn, gradkit.optim, gradkit.data",
    "import gradkit.training",
    "import gradkit.cli; gradkit.cli.build_parser(plugins=False)",
])
def test_importing_the_numpy_layer_loads_no_torch_ray_or_grader(statement):
    loaded = run_python(f"""
        import json, sys
        {statement}
        print(json.dumps({{"heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
    """)
    assert loaded["heavy"] == [], f"`{statement}` imported {loaded['heavy']}"


def test_the_runtime_imports_ray_but_no_torch_and_no_teaching_code():
    loaded = run_python("""
        import json, sys
        from gradkit.runtime import ray_session, RayStartError
        print(json.dumps({"torch": "torch" in sys.modules, "ray": "ray" in sys.modules,
                          "distributed": "gradkit.distributed" in sys.modules}))
    """)
    assert loaded == {"torch": False, "ray": True, "distributed": False}


def test_the_distributed_package_does_not_import_the_runtime_torch_or_ray():
    loaded = run_python("""
        import json, sys
        import gradkit.distributed
        print(json.dumps({"runtime": sorted(m for m in sys.modules if m.startswith("gradkit.runtime")),
                          "torch": "torch" in sys.modules, "ray": "ray" in sys.modules}))
    """)
    assert loaded == {"runtime": [], "torch": False, "ray": False}


def test_the_numpy_layer_imports_its_siblings_at_the_top():
    # No import is put off for the grader's sake: what a student writes fails on use in the
    # grading kernel (the grader's library view), not on import. An import inside a function
    # is for a package outside the layer only (matplotlib to draw, sklearn to rebuild data).
    offenders = {}
    for path in library_modules():
        name = module_name(path)
        if name.split(".")[1:2] and name.split(".")[1] in CORE_LAYER:
            tree = ast.parse(path.read_text(), filename=str(path))
            late = sorted({node.module if isinstance(node, ast.ImportFrom) else alias.name
                           for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                           for node in ast.walk(fn) if isinstance(node, (ast.Import, ast.ImportFrom))
                           for alias in node.names})
            late = [m for m in late if m and m.split(".")[0] == "gradkit"]
            if late:
                offenders[name] = late
    assert not offenders, f"library modules that import gradkit inside a function: {offenders}"


def test_the_library_command_has_only_train_and_the_grader_adds_its_verbs():
    from importlib.metadata import entry_points

    from gradkit.cli import COMMANDS_GROUP, build_parser

    def commands(parser):
        return set(next(a for a in parser._actions if a.dest == "command").choices)  # noqa: SLF001

    assert commands(build_parser(plugins=False)) == {"train"}
    registered = {ep.name: ep.value for ep in entry_points(group=COMMANDS_GROUP)}
    assert registered.get("autograder") == "gradkit_autograder.cli:register", \
        "reinstall the kit (pip install -e .) so that the grader's entry point is registered"
    assert {"train", "grade", "verify", "demo"} <= commands(build_parser())
    # `train` is the library's own job; `demo` belongs to the grader alone.
    assert build_parser().parse_args(["train"]).func.__module__ == "gradkit.cli"
    assert build_parser().parse_args(["demo"]).func.__module__.startswith("gradkit_autograder")


def test_exports_are_plain_names_listed_in_all():
    import gradkit
    import gradkit.autodiff

    for package in (gradkit, gradkit.autodiff):
        assert "__getattr__" not in vars(package), f"{package.__name__} resolves names lazily again"
        missing = [name for name in package.__all__ if name not in vars(package)]
        assert not missing, f"{package.__name__}.__all__ lists names it does not bind: {missing}"
        with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
            package.no_such_name  # noqa: B018
    assert {"autodiff", "nn", "optim", "data"} <= set(vars(gradkit))   # the numpy subpackages
    assert callable(gradkit.autodiff.jacobian)  # the function, not the submodule of that name
