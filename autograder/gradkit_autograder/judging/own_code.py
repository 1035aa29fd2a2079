"""'Own code', decided outside the kernel from the notebook's source.

An assignment states in ``assignment.yaml`` what its solution cells may use (``own_code``)
and what its students write (``withheld``: library modules, or single functions and
classes, which fail on use in the grading kernel as well). A grade cell that tests a
solution cell using anything else scores 0, and the reason names the use. A withheld
name counts under every spelling the library gives it (``gradkit.nn.F.cross_entropy``
is ``gradkit.nn.loss_functions.cross_entropy``), and a name looked up at run time in a
module that holds a withheld name counts as a use of it.
"""

from __future__ import annotations

import functools
from typing import Iterable, Sequence

from gradkit_autograder.judging.source_facts import NEVER_ALLOWED, Notebook, matches, solutions_tested_by
from gradkit_autograder.state.settings import OwnCode, library_bindings, library_root


@functools.lru_cache(maxsize=1)
def _library_imports() -> tuple[tuple[str, str], ...]:
    """``(spelling, target)`` for each name a library module binds by an import
    (``("gradkit.nn.F", "gradkit.nn.functional")``), read from the library's source."""
    root = library_root()
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = ("gradkit", *path.relative_to(root).with_suffix("").parts)
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for name, target in library_bindings(path)[1].items():
            if target.split(".")[0] == "gradkit" and f"{module}.{name}" != target:
                found.append((f"{module}.{name}", target))
    return tuple(found)


@functools.lru_cache(maxsize=32)
def withheld_spellings(withheld: tuple[str, ...]) -> tuple[str, ...]:
    """Every dotted name under which the library offers a withheld module or name: the entries
    and their re-exports (``gradkit.Value`` for ``gradkit.autodiff.value``)."""
    spellings = set(withheld)
    grown = True
    while grown:
        grown = False
        for spelling, target in _library_imports():
            for known in list(spellings):
                if target == known or target.startswith(known + "."):
                    new = spelling          # the entry itself, or a name inside a withheld module
                elif known.startswith(target + "."):
                    new = spelling + known[len(target):]   # a module alias in front of the name
                else:
                    continue
                if new not in spellings:
                    spellings.add(new)
                    grown = True
    return tuple(sorted(spellings))


def never_allowed(resolved: str) -> bool:
    return matches(resolved, NEVER_ALLOWED)


def _under(module: str, names: Iterable[str]) -> bool:
    """Whether some name lies in (or above) ``module``."""
    return any(n == module or n.startswith(module + ".") or module.startswith(n + ".") for n in names)


def _allowed(resolved: str, permitted: Sequence[str], forbid: Sequence[str]) -> bool:
    if resolved.endswith(".*"):
        # any name of a module, looked up at run time: allowed only where all of it is
        module = resolved[:-2]
        return not _under(module, forbid) and matches(module, permitted)
    if matches(resolved, forbid):
        return False
    # importing a package whose parts are allowed (`import torch` for `torch.nn`) is not using it
    return matches(resolved, permitted) or any(p.startswith(resolved + ".") for p in permitted)


def own_code_problems(cells: list[dict], withheld: Sequence[str], own: OwnCode | None = None,
                      book: Notebook | None = None) -> dict[str, str]:
    """Grade cell id -> why it scores 0: a solution cell it tests uses what the assignment does not allow.

    ``book``: the cells already read (``Notebook(cells)``), when the caller has them.
    """
    own = own or OwnCode()
    withheld = withheld_spellings(tuple(withheld))
    book = book or Notebook(cells)
    kinds = dict(zip(book.ids, book.kinds))
    bad: dict[str, list[str]] = {}
    for index, kind in enumerate(book.kinds):
        if kind != "solution":
            continue
        found = set()
        for name in book.uses_of(index):
            # judged by what *this* cell may use, wherever the function it calls was written: a
            # helper defined in a cell with a wider list does not widen this one
            rule_cell = book.ids[index]
            if never_allowed(name):
                found.add(name)
            elif matches(name, withheld) or matches(name, own.forbid):
                found.add(name)     # forbid may also name a locked cell's helper that reaches the library
            elif name.endswith(".*") and _under(name[:-2], withheld):
                found.add(name)     # a name looked up at run time in (or above) a module that holds one
            elif own.declared and book.is_module_name(name) and not _allowed(
                    name, own.allowed_in(rule_cell), own.forbid):
                found.add(name)
        if found:
            bad[book.ids[index]] = sorted(found)
    problems = {}
    for grade_cell, solutions in solutions_tested_by(cells).items():
        used = {n for s in solutions if kinds.get(s) == "solution" for n in bad.get(s, [])}
        used = sorted(n for n in used if not any(m.startswith(n + ".") for m in used))   # the most specific
        used = [f"{n[:-2]} (a name looked up at run time)" if n.endswith(".*") else n for n in used]
        if used:
            shown = ", ".join(used[:4]) + (f" and {len(used) - 4} more" if len(used) > 4 else "")
            problems[grade_cell] = (f"the code this test checks uses {shown}, which this assignment does "
                                    f"not allow in your cells (it asks you to write that part yourself)")
    return problems
