"""Per-assignment grading settings, read from ``assignments/<id>/assignment.yaml``.

Every key is optional; a missing file means all defaults. Example::

    title: Warm-up
    limits:
      cell_timeout_s: 20        # one cell; on expiry the kernel is interrupted
      notebook_timeout_s: 120   # the whole notebook; later cells are not run
      memory_mb: 2048           # memory of the kernel's whole process tree (cgroup) and of each process (RLIMIT_AS)
      max_processes: 512        # processes and threads of the kernel's tree at once (cgroup pids)
      max_output_kb: 256        # output kept per cell, the rest is dropped
      max_file_mb: 64           # largest file a kernel may write (RLIMIT_FSIZE)
    resources:                  # what one grading task (one kernel) reserves on Ray
      num_cpus: 1
      num_gpus: 0
    checks:                     # default tolerances of the trusted checks
      rtol: 1.0e-7
      atol: 1.0e-9
    sandbox: auto               # auto: isolate as far as the machine allows; off: rlimits only
    withheld:                   # what the student writes here: in the grading kernel, it raises when used
      - gradkit.autodiff.numerical              # a module: every function and class it defines
      - gradkit.nn.loss_functions.cross_entropy # or one function or class, where it is defined
    own_code:                   # what solution cells may use (judged from their source, in the grader)
      allow: [numpy]            # modules and names any solution cell may use; a prefix allows what is under it
      cells:                    # more for single solution cells, by grade id
        train_logreg: [gradkit.Tensor]
      forbid: [numpy.linalg.lstsq]   # never, even under an allowed prefix (or a locked cell's helper by name)
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SETTINGS_FILE = "assignment.yaml"


class SettingsError(ValueError):
    """An assignment.yaml is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Limits:
    cell_timeout_s: float = 30.0
    notebook_timeout_s: float = 300.0
    memory_mb: int = 2048
    max_processes: int = 512
    max_output_kb: int = 256
    max_file_mb: int = 64


@dataclass(frozen=True)
class Resources:
    num_cpus: float = 1.0
    num_gpus: float = 0.0


@dataclass(frozen=True)
class Checks:
    rtol: float = 1e-7
    atol: float = 1e-9


SANDBOX_MODES = ("auto", "off")


# Standard-library modules every solution cell may use: small tools, none of them a ready-made
# version of what a course asks students to write.
STANDARD_ALLOWED = ("math", "cmath", "itertools", "functools", "collections", "heapq", "bisect",
                    "dataclasses", "typing", "time", "random", "numbers", "operator", "copy", "warnings",
                    "statistics", "string", "re", "enum", "abc", "contextlib", "fractions", "decimal", "sys")


@dataclass(frozen=True)
class OwnCode:
    """What a student's solution cells may use; ``owncode`` enforces it from their source."""
    allow: tuple[str, ...] = ()
    cells: dict[str, tuple[str, ...]] = field(default_factory=dict)
    forbid: tuple[str, ...] = ()
    declared: bool = False          # False: the assignment states no list, so only withheld modules count

    def allowed_in(self, cell: str) -> tuple[str, ...]:
        """The dotted prefixes solution cell ``cell`` may use."""
        return STANDARD_ALLOWED + self.allow + self.cells.get(cell, ())


@dataclass(frozen=True)
class AssignmentSettings:
    title: str = ""
    limits: Limits = field(default_factory=Limits)
    resources: Resources = field(default_factory=Resources)
    checks: Checks = field(default_factory=Checks)
    sandbox: str = "auto"
    withheld: tuple[str, ...] = ()
    own_code: OwnCode = field(default_factory=OwnCode)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "settings") -> "AssignmentSettings":
        """Build settings from a parsed YAML mapping, rejecting unknown keys and bad types."""
        if not isinstance(data, dict):
            raise SettingsError(f"{where}: expected a mapping at top level, got {type(data).__name__}")
        known = {"title", "limits", "resources", "checks", "sandbox", "withheld", "own_code"}
        _reject_unknown(data, known, where)
        sandbox = data.get("sandbox", "auto")
        if isinstance(sandbox, bool):   # YAML reads a bare `off` as False
            sandbox = "auto" if sandbox else "off"
        if sandbox not in SANDBOX_MODES:
            raise SettingsError(f"{where}: sandbox must be one of {SANDBOX_MODES}, got {sandbox!r}")
        return cls(
            title=str(data.get("title", "")),
            limits=_section(Limits, data.get("limits", {}), f"{where}: limits"),
            resources=_section(Resources, data.get("resources", {}), f"{where}: resources"),
            checks=_section(Checks, data.get("checks", {}), f"{where}: checks"),
            sandbox=sandbox,
            withheld=_withheld(data.get("withheld", []), f"{where}: withheld"),
            own_code=_own_code(data.get("own_code"), f"{where}: own_code"),
        )


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _dotted_names(data: Any, where: str) -> tuple[str, ...]:
    if not isinstance(data, (list, tuple)) or not all(isinstance(n, str) and _DOTTED.fullmatch(n) for n in data):
        raise SettingsError(f"{where}: expected a list of dotted names (like numpy or torch.nn), got {data!r}")
    return tuple(data)


def _own_code(data: Any, where: str) -> OwnCode:
    """The ``own_code`` section: allow, cells, forbid."""
    if data is None:
        return OwnCode()
    if not isinstance(data, dict):
        raise SettingsError(f"{where}: expected a mapping with allow, cells and forbid, got {type(data).__name__}")
    _reject_unknown(data, {"allow", "cells", "forbid", "declared"}, where)  # declared: from to_dict
    cells = data.get("cells") or {}
    if not isinstance(cells, dict):
        raise SettingsError(f"{where}.cells: expected a mapping of solution cell id -> list of names")
    return OwnCode(allow=_dotted_names(data.get("allow", []), f"{where}.allow"),
                   cells={str(k): _dotted_names(v, f"{where}.cells.{k}") for k, v in cells.items()},
                   forbid=_dotted_names(data.get("forbid", []), f"{where}.forbid"),
                   declared=bool(data.get("declared", True)))


def _withheld(data: Any, where: str) -> tuple[str, ...]:
    """The ``withheld`` list: each entry names a ``gradkit`` module or a function or class in one."""
    if not isinstance(data, (list, tuple)):
        raise SettingsError(f"{where}: expected a list of dotted names under gradkit, got {type(data).__name__}")
    for name in data:
        if not isinstance(name, str) or not re.fullmatch(r"gradkit(\.[A-Za-z_][A-Za-z0-9_]*)+", name):
            raise SettingsError(f"{where}: expected dotted names under gradkit (like gradkit.autodiff.numerical), "
                                f"got {name!r}")
        try:
            resolve_withheld(name)
        except LookupError as err:
            raise SettingsError(f"{where}: {err}") from None
    return tuple(data)


# --- what a withheld entry names, read from the library's source (nothing of it is imported) ---

WITHHELD_FORMS = ("a gradkit module (like gradkit.autodiff.numerical) or a function or class defined "
                  "at the top level of one (like gradkit.nn.loss_functions.cross_entropy)")


def library_root() -> Path:
    """The folder of the ``gradkit`` package."""
    spec = importlib.util.find_spec("gradkit")
    if spec is None or spec.origin is None:
        raise LookupError("the gradkit library is not installed")
    return Path(spec.origin).parent


def library_file(module: str) -> Path | None:
    """The source of the ``gradkit`` module (or package's ``__init__.py``) ``module``; None if none."""
    parts = module.split(".")[1:]
    path = library_root().joinpath(*parts)
    candidates = [path.with_suffix(".py")] if parts else []
    return next((c for c in [*candidates, path / "__init__.py"] if c.is_file()), None)


@functools.lru_cache(maxsize=None)
def _bindings(path: Path, mtime: float) -> tuple[frozenset[str], dict[str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    imported = {}
    statements = list(tree.body)
    for node in statements:     # module level, inside `if` and `try` too (a function's imports bind nothing here)
        if isinstance(node, (ast.If, ast.Try)):
            statements += [*node.body, *node.orelse, *getattr(node, "finalbody", []),
                           *(s for h in getattr(node, "handlers", []) for s in h.body)]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
        elif isinstance(node, ast.Import):
            imported.update({a.asname: a.name for a in node.names if a.asname})
    return frozenset(defined), imported


def library_bindings(path: Path) -> tuple[frozenset[str], dict[str, str]]:
    """A library module's top-level functions and classes, and what its imports bind (name -> dotted)."""
    return _bindings(path, path.stat().st_mtime)


def resolve_withheld(entry: str) -> tuple[str, str | None]:
    """``(module, None)`` when ``entry`` names a module, ``(module, name)`` when a function or class in one.

    Raises LookupError, naming the entry and what was expected, when it names neither.
    """
    if library_file(entry):
        return entry, None
    module, _, name = entry.rpartition(".")
    path = library_file(module)
    if path is None:
        raise LookupError(f"{entry} names nothing in the library: there is no module {entry} or {module}; "
                          f"expected {WITHHELD_FORMS}")
    defined, imported = library_bindings(path)
    if name in defined:
        return module, name
    if name in imported:
        raise LookupError(f"{entry}: {module} only imports {name}; name it where it is defined, "
                          f"{imported[name]}")
    raise LookupError(f"{entry} names nothing in the library: {module} defines no function or class "
                      f"{name}; expected {WITHHELD_FORMS}")


def _reject_unknown(data: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {unknown}; known keys are {sorted(known)}")


def _section(kind: type, data: Any, where: str):
    """Convert one YAML section into the dataclass ``kind``: numbers must be >= 0."""
    if not isinstance(data, dict):
        raise SettingsError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    _reject_unknown(data, set(fields), where)
    values = {}
    for name, value in data.items():
        expected = int if fields[name].type in ("int", int) else float
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(
                f"{where}.{name}: expected a number, got {type(value).__name__} {value!r}")
        if value < 0:
            raise SettingsError(f"{where}.{name}: expected a value >= 0, got {value}")
        values[name] = expected(value)
    return kind(**values)


def load_settings(assignment_dir: Path) -> AssignmentSettings:
    """Read ``assignment.yaml`` in ``assignment_dir``; defaults when the file is absent."""
    path = Path(assignment_dir) / SETTINGS_FILE
    if not path.exists():
        return AssignmentSettings()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise SettingsError(f"{path}: not valid YAML: {err}") from err
    return AssignmentSettings.from_dict(data, where=str(path))
