"""The library as a grading kernel sees it: a read-only copy of ``gradkit`` without what the student writes.

An assignment's ``withheld`` modules (assignment.yaml) are the ones its students write
in their notebook; the grading kernel must run the student's version, so the copy
replaces each of them. The copy also holds the kernel side of the grader (the
``gradkit_autograder.kernel`` package: the trusted channel and the launcher), and nothing
else of the grader.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def _withheld_stub(module: str) -> str:
    return (f'"""Withheld while grading."""\n'
            f"raise ImportError({module!r} ' is withheld while grading: this assignment asks you "
            f"to write it yourself, in your notebook')\n")


def library_view(withheld: tuple[str, ...], dest: str | Path) -> str:
    """A read-only copy of ``gradkit`` without the ``withheld`` modules, made at ``dest``.

    Each withheld module (or package) is replaced by a module that raises an
    ImportError saying so. The copy also holds the kernel side of the grader
    (the trusted channel and the launcher), nothing else of it. It takes a few
    milliseconds: each task makes its own in its private folder, so nothing of it
    outlives the task.
    """
    import gradkit
    import gradkit_autograder

    view = Path(dest)
    view.mkdir()
    library = Path(gradkit.__file__).resolve().parent
    shutil.copytree(library, view / "gradkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for module in withheld:
        parts = module.split(".")[1:]
        target = view.joinpath("gradkit", *parts)
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir()
            (target / "__init__.py").write_text(_withheld_stub(module))
        elif target.with_suffix(".py").exists() or target.parent.is_dir():
            target.with_suffix(".py").write_text(_withheld_stub(module))
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
