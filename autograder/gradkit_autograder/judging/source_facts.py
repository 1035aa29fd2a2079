"""What a notebook's code cells do, read from their source in the grader (the kernel could hide it).

Each cell's uses are followed through import aliases, module aliases (``t = torch``),
``getattr(module, "name")``, dotted names spelled in strings, and into the functions and
classes it calls that other student cells define (with their closures and default
arguments, which are part of their source). The own-code check (``own_code``) and the
trusted-names check (``tampering``) judge these facts.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
from dataclasses import dataclass, field
from typing import Iterable

# Never in a student's cell. Each of the first kind reaches a module without spelling its name
# (so the own-code check could not follow it); each of the second can also change names, modules
# or frames that the tests rely on (so every later test is void).
REACHES_MODULES = ("importlib", "__import__", "pickle", "marshal", "dill", "cloudpickle", "runpy",
                   "types.ModuleType", "operator.attrgetter", "operator.methodcaller")
CHANGES_NAMESPACES = ("exec", "eval", "compile", "globals", "vars", "builtins", "__builtins__", "__main__",
                      "gc", "inspect", "ctypes", "gradkit_autograder", "sys.modules", "sys._getframe",
                      "sys.settrace", "sys.setprofile", "types.FunctionType", "get_ipython",
                      "IPython.get_ipython", "IPython.core")
NEVER_ALLOWED = REACHES_MODULES + CHANGES_NAMESPACES
# IPython magics a cell may use (``%time f(x)`` reads as ``get_ipython().run_line_magic("time", ...)``)
HARMLESS_MAGICS = ("time", "timeit", "matplotlib", "capture", "prun")
# Roots that are modules even when the notebook never imports them (spelled in strings, getattr)
KNOWN_ROOTS = ("gradkit", "torch", "numpy", "sklearn", "scipy", "jax", "tensorflow", "ray", "sys")
BUILTIN_NAMES = frozenset(dir(builtins))


def _parse_cell(source: str) -> ast.AST | None:
    """The cell's syntax tree; None when it is not Python even after IPython's transforms.

    IPython's own syntax (``%magic``, ``!shell``, ``obj?``) is never valid Python, so a
    cell that parses as it stands is run as it stands, and only the others go through
    IPython's transformer.
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
    while isinstance(node, (ast.Attribute, ast.NamedExpr)):
        if isinstance(node, ast.NamedExpr):     # `(t := torch).x` is `torch.x`
            node = node.value
            continue
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def matches(name: str, prefixes: Iterable[str]) -> bool:
    """Whether ``name`` is one of ``prefixes`` or lies under one (``a.b`` under ``a``)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@dataclass
class CellFacts:
    """What one code cell's source does at the level the checks need."""
    uses: set[str] = field(default_factory=set)          # dotted names as written (heads not yet resolved)
    loads: set[str] = field(default_factory=set)         # bare names read anywhere in the cell
    binds: set[str] = field(default_factory=set)         # names bound at module level (or declared global)
    patches: set[str] = field(default_factory=set)      # dotted targets of attribute writes and setattr
    aliases: dict[str, str] = field(default_factory=dict)   # name -> dotted, from imports and `x = a.b`
    imports: set[str] = field(default_factory=set)       # modules imported (their roots are module names)
    module_names: set[str] = field(default_factory=set)  # names an `import` statement binds (always modules)
    bare: set[str] = field(default_factory=set)          # names read as a value, not as the base of `a.b`
    defines: dict[str, "CellFacts"] = field(default_factory=dict)   # top-level def/class/assign -> its facts


class _Reader(ast.NodeVisitor):
    """Collects ``CellFacts`` over one tree, keeping track of function-local names."""

    def __init__(self, facts: CellFacts):
        self.facts = facts
        self.local: list[set[str]] = []

    def _is_local(self, name: str) -> bool:
        return any(name in scope for scope in self.local)

    def _bind(self, name: str) -> None:
        if not self.local:
            self.facts.binds.add(name)

    def visit_Import(self, node):
        for alias in node.names:
            self.facts.uses.add(alias.name)
            self.facts.imports.add(alias.name)
            bound = alias.asname or alias.name.split(".")[0]
            self.facts.aliases[bound] = alias.name if alias.asname else bound
            self.facts.module_names.add(bound)
            self._bind(bound)

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return
        self.facts.uses.add(node.module)
        self.facts.imports.add(node.module)
        for alias in node.names:
            self.facts.uses.add(f"{node.module}.{alias.name}")
            self.facts.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            self._bind(alias.asname or alias.name)

    def _function(self, node):
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._bind(node.name)
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        defaults = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
        defaults += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
        names = {a.arg for a in [*positional, *args.kwonlyargs]}
        names |= {a.arg for a in (args.vararg, args.kwarg) if a}
        # a local name given a module or a library object (`t = torch`, `t=torch` as a default,
        # `(t := torch)`) is an alias, not a local: chains on it resolve like chains on `torch`
        candidates = [(a.arg, d) for a, d in defaults]
        for stmt in ast.walk(node):
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                candidates.append((stmt.targets[0].id, stmt.value))
            elif isinstance(stmt, ast.NamedExpr):
                candidates.append((stmt.target.id, stmt.value))
        for _, default in defaults:
            self._value(default)
        declared_global = {n for stmt in ast.walk(node) if isinstance(stmt, ast.Global) for n in stmt.names}
        for stmt in ast.walk(node):
            if isinstance(stmt, ast.Name) and isinstance(stmt.ctx, ast.Store):
                names.add(stmt.id)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt is not node:
                names.add(stmt.name)
            # a module imported inside a function stays a module: its name resolves as an alias
        self.facts.binds |= declared_global
        local = names - declared_global
        for name, value in candidates:
            dotted = _dotted(value)
            if dotted and dotted.split(".")[0] not in local | {name} and not self._is_local(dotted.split(".")[0]):
                self.facts.aliases.setdefault(name, dotted)
                local.discard(name)
        self.local.append(local)
        for stmt in node.body:
            self.visit(stmt)
        self.local.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node):
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        self.local.append({a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]})
        self.visit(node.body)
        self.local.pop()

    def visit_ClassDef(self, node):
        self._bind(node.name)
        self.generic_visit(node)

    def _value(self, node):
        """Visit an expression whose plain name (if it is one) is an alias, not a bare value."""
        if isinstance(node, ast.Name):
            self._load(node.id, bare=False)
        else:
            self.visit(node)

    def _load(self, name: str, bare: bool):
        if not self._is_local(name):
            self.facts.loads.add(name)
            self.facts.uses.add(name)
            if bare:
                self.facts.bare.add(name)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self._bind(node.id)
        elif isinstance(node.ctx, ast.Load):
            self._load(node.id, bare=True)
        elif isinstance(node.ctx, ast.Del):
            self._bind(node.id)

    def visit_Attribute(self, node):
        dotted = _dotted(node)
        if dotted and not self._is_local(dotted.split(".")[0]):
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                self.facts.patches.add(dotted.rsplit(".", 1)[0])
            elif node.attr == "__dict__":
                self.facts.uses.add(dotted.rsplit(".", 1)[0] + ".*")   # every name in it
            else:
                self.facts.uses.add(dotted)
        self._value(node.value)

    def visit_Assign(self, node):
        for target in node.targets:
            self.visit(target)
        self._value(node.value)
        source = _dotted(node.value)
        if source and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and not self.local:
            self.facts.aliases.setdefault(node.targets[0].id, source)

    def visit_NamedExpr(self, node):
        self.visit(node.target)
        self._value(node.value)

    def visit_Call(self, node):
        if _harmless_magic(node):
            for arg in node.args[1:]:
                self.visit(arg)
            return
        name = _dotted(node.func)
        if name == "vars" and node.args and not self._is_local("vars"):
            # vars(obj) is obj.__dict__: harmless on an object, an edit of the namespace on a module
            base = _dotted(node.args[0])
            if base and not self._is_local(base.split(".")[0]):
                self.facts.patches.add(base)
                self.facts.uses.add(base + ".*")
            for arg in node.args:
                self._value(arg)
            return
        if name in ("getattr", "setattr", "delattr", "hasattr") and len(node.args) >= 2:
            base = _dotted(node.args[0])
            attr = node.args[1]
            if base and not self._is_local(base.split(".")[0]):
                if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                    target = f"{base}.{attr.value}"
                    (self.facts.patches.add(base) if name in ("setattr", "delattr")
                     else self.facts.uses.add(target))
                elif name in ("setattr", "delattr"):
                    self.facts.patches.add(base)
                else:
                    self.facts.uses.add(base + ".*")   # a name computed at run time: any of them
                self.visit(node.func)
                self._value(node.args[0])
                for arg in [*node.args[1:], *node.keywords]:
                    self.visit(arg)
                return
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            for word in node.value.split():
                word = word.strip("'\"()[],;")
                if ("." in word and word.split(".")[0] in KNOWN_ROOTS) or matches(word, NEVER_ALLOWED):
                    self.facts.uses.add(word)


def _harmless_magic(node: ast.Call) -> bool:
    """``get_ipython().run_line_magic("time", ...)``: what IPython makes of ``%time``."""
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr in ("run_line_magic", "run_cell_magic")
            and isinstance(func.value, ast.Call) and _dotted(func.value.func) == "get_ipython"
            and bool(node.args) and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in HARMLESS_MAGICS)


def _is_docstring(parent: ast.AST) -> bool:
    body = getattr(parent, "body", None)
    return isinstance(body, list) and bool(body) and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)


def cell_facts(source: str) -> CellFacts:
    """The facts of one cell; a top-level definition's facts are also kept under its name.

    The same cells come back in every notebook of a class (the set-up cell, the tests,
    untouched stubs): each distinct source is read once, and each caller gets its own copy.
    """
    return copy.deepcopy(_read_cell(source))


@functools.lru_cache(maxsize=4096)
def _read_cell(source: str) -> CellFacts:
    facts = CellFacts()
    tree = _parse_cell(source)
    if tree is None:
        return facts
    for node in ast.walk(tree):   # docstrings are text about code, not code
        if _is_docstring(node):
            node.body[0].value = ast.Constant(value=None)
    for stmt in tree.body:
        part = CellFacts()
        _Reader(part).visit(stmt)
        for name in part.binds:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
                                 ast.AnnAssign)):
                facts.defines[name] = part
        facts.uses |= part.uses
        facts.loads |= part.loads
        facts.binds |= part.binds
        facts.patches |= part.patches
        facts.aliases.update(part.aliases)
        facts.imports |= part.imports
        facts.module_names |= part.module_names
        facts.bare |= part.bare
    return facts


def cell_kind(cell: dict) -> str:
    """'solution', 'locked' (locked or test cells, restored by nbgrader) or 'student' (free cells)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if meta.get("solution"):
        return "solution"
    if meta.get("locked") or meta.get("grade"):
        return "locked"
    return "student"


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


class Notebook:
    """The facts of every code cell of one notebook, and the name resolution across them."""

    def __init__(self, cells: list[dict]):
        self.cells = [c for c in cells if c.get("cell_type") == "code"]
        self.facts = [cell_facts(c.get("source", "")) for c in self.cells]
        self.kinds = [cell_kind(c) for c in self.cells]
        self.ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id", f"cell {i}")
                    for i, c in enumerate(self.cells)]
        self.aliases: dict[str, str] = {}
        for facts in self.facts:
            self.aliases.update(facts.aliases)
        self.roots = set(KNOWN_ROOTS) | {m.split(".")[0] for facts in self.facts for m in facts.imports}
        self.module_names = {n for facts in self.facts for n in facts.module_names}
        # a name a student cell defines at top level -> its facts; the last definition wins
        self.definitions: dict[str, CellFacts] = {}
        for i, facts in enumerate(self.facts):
            if self.kinds[i] != "locked":
                for name, part in facts.defines.items():
                    self.definitions[name] = part

    def resolve(self, dotted: str) -> str:
        """``np.linalg.solve`` -> ``numpy.linalg.solve`` through the notebook's aliases."""
        head, _, rest = dotted.partition(".")
        seen = set()
        while head in self.aliases and head not in seen:
            seen.add(head)
            target = self.aliases[head]
            if target == head:
                break
            head, _, more = target.partition(".")
            rest = ".".join(p for p in (more, rest) if p)
        return ".".join(p for p in (head, rest) if p)

    def is_module_name(self, resolved: str) -> bool:
        return resolved.split(".")[0] in self.roots

    def uses_of(self, index: int) -> set[str]:
        """The resolved names of everything cell ``index`` uses, following the student functions
        and classes it calls into the cells that define them."""
        found: set[str] = set()
        todo: list[CellFacts] = [self.facts[index]]
        visited: set[int] = set()
        while todo:
            facts = todo.pop()
            if id(facts) in visited:
                continue
            visited.add(id(facts))
            found |= {self.resolve(name) for name in facts.uses}
            # a module passed around as a value: any of its names
            found |= {self.resolve(name) + ".*" for name in facts.bare & self.module_names}
            todo += [self.definitions[name] for name in facts.loads if name in self.definitions]
        return found
