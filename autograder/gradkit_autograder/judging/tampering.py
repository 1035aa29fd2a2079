"""Trusted names, decided outside the kernel from the notebook's source.

Hidden tests may rely only on names that the student did not replace. A student cell that
rebinds a name a locked cell binds (or a builtin) which a grade cell reads, or that writes
into a module (``np.mean = ...``, ``setattr(torch, ...)``), or that uses the machinery for
such edits (``globals()``, ``exec``, ``importlib``, ``sys.modules``, ``pickle``, ...), loses
the grade cells after it that could be affected.
"""

from __future__ import annotations

from gradkit_autograder.judging.source_facts import BUILTIN_NAMES, CHANGES_NAMESPACES, Notebook, matches


def tampering_problems(cells: list[dict], book: Notebook | None = None) -> dict[str, str]:
    """Grade cell id -> why it scores 0: a student cell before it changed what the tests rely on.

    - a student cell rebinds, at top level or through ``global``, a name that a locked cell
      binds or a builtin, and this grade cell reads that name;
    - a student cell writes into a module (``np.mean = ...``, ``setattr(torch, ...)``) or into an
      object a locked cell defines (``checking.__code__ = ...``), or uses machinery that can
      (``globals()``, ``exec``, ``vars(module)``, ...): every later grade cell.

    ``book``: the cells already read (``Notebook(cells)``), when the caller has them.
    """
    book = book or Notebook(cells)
    locked_binds: set[str] = set()
    for facts, kind in zip(book.facts, book.kinds):
        if kind == "locked":
            locked_binds |= facts.binds
    protected = locked_binds | BUILTIN_NAMES
    problems: dict[str, str] = {}
    rebound: dict[str, str] = {}      # name -> the student cell that rebound it
    tampered: str | None = None       # the first student cell that edits a module or uses the machinery
    for index, (facts, kind) in enumerate(zip(book.facts, book.kinds)):
        if kind == "locked":
            grade_id = book.cells[index].get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if book.cells[index].get("metadata", {}).get("nbgrader", {}).get("grade") and grade_id:
                hit = sorted(n for n in facts.loads - facts.binds if n in rebound)
                if tampered:
                    problems[grade_id] = tampered
                elif hit:
                    where = rebound[hit[0]]
                    problems[grade_id] = (f"the cell '{where}' redefines {', '.join(f'`{n}`' for n in hit[:3])}, "
                                          f"which the tests use; give your own version another name")
            for name in facts.binds:
                rebound.pop(name, None)   # a locked cell binding it again restores it
            continue
        for name in facts.binds & protected:
            rebound[name] = book.ids[index]
        if tampered is None:
            edits = sorted({book.resolve(p) for p in facts.patches if book.is_module_name(book.resolve(p))}
                           | {book.resolve(u).rsplit(".", 1)[0] for u in facts.uses
                              if u.rsplit(".", 1)[-1] in ("__dict__", "__setattr__", "__delattr__")
                              and book.is_module_name(book.resolve(u))})
            machinery = sorted({book.resolve(u) for u in facts.uses
                                if matches(book.resolve(u), CHANGES_NAMESPACES)})
            given = sorted(p for p in facts.patches if p.split(".")[0] in locked_binds
                           and not book.is_module_name(book.resolve(p)))
            if edits:
                tampered = (f"the cell '{book.ids[index]}' changes the module {edits[0]}, which the tests "
                            f"rely on; grading does not allow changing library modules")
            elif given:
                tampered = (f"the cell '{book.ids[index]}' changes `{given[0]}`, which a locked cell defines "
                            f"and the tests rely on")
            elif machinery:
                tampered = (f"the cell '{book.ids[index]}' uses {machinery[0]}, which grading does not "
                            f"allow in your cells (it can change what the tests see)")
    return problems
