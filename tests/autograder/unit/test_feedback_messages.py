"""The helpers' messages a student reads: short on failure, a line on success.

A tiny notebook is built with the set-up helpers (``_helpers.py`` as it is
included into every assignment) and run by a real kernel (nbclient) and by
``nbgrader validate`` on the command line: a failing visible test shows its
message (expected, got, hint) and no traceback through the helpers; a passing one
says that it passed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from support import REPO

HELPERS = (REPO / "assignments" / "tools" / "sources" / "_helpers.py").read_text().split(
    "# ---- include from here ----", 1)[1]


def _cell(source: str, grade_id: str, *, grade: bool = False, solution: bool = False, points: int = 0):
    meta = {"grade": grade, "solution": solution, "locked": not solution, "grade_id": grade_id,
            "schema_version": 3}
    if grade:
        meta["points"] = points
    return new_code_cell(source, metadata={"nbgrader": meta})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    nb = new_notebook(cells=[
        _cell(HELPERS, "setup"),
        _cell("def double(x):\n    return 4 * x\n", "double", solution=True),
        _cell('expect_close("double(3.0)", double(3.0), 6.0)\n', "test_double", grade=True, points=1),
        _cell('expect_equal("len([1, 2])", len([1, 2]), 2)\n', "test_len", grade=True, points=1),
        _cell('def todo():\n    raise NotImplementedError()\n', "todo", solution=True),
        _cell('with checking("todo"):\n    todo()\n', "test_todo", grade=True, points=1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path = tmp_path_factory.mktemp("tiny") / "tiny.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_kernel_shows_messages_not_tracebacks(tiny):
    from nbclient import NotebookClient

    nb = nbformat.read(str(tiny), as_version=4)
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3").execute()
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells}
    [error] = by_id["test_double"].outputs
    assert error.output_type == "error" and error.ename == "AssertionError"
    shown = "\n".join(error.traceback)
    assert shown.startswith("AssertionError: double(3.0):")
    assert "expected 6.0" in shown and "got      12.0" in shown and "2 times the expected" in shown
    assert "Traceback" not in shown and "np.allclose" not in shown and "_short" not in shown
    assert [o.text for o in by_id["test_len"].outputs] == ["passed: len([1, 2])\n"]
    [todo] = by_id["test_todo"].outputs
    assert "\n".join(todo.traceback).startswith("NotImplementedError: todo: not written yet")
    assert "Traceback" not in "\n".join(todo.traceback)


def test_nbgrader_validate_prints_the_short_messages(tiny):
    proc = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "validate", str(tiny)],
                          capture_output=True, text=True, timeout=300, cwd=tiny.parent)
    out = proc.stdout + proc.stderr
    assert "AssertionError: double(3.0):" in out and "hint: every value is 2 times" in out, out
    assert "NotImplementedError: todo: not written yet" in out, out
    assert "Traceback" not in out and "np.allclose" not in out, out
    assert "len([1, 2])" not in out, out                 # the passing test is not listed


def test_checking_says_not_written_only_for_the_stub():
    """A withheld library function raises NotImplementedError with its own words; they pass through."""
    namespace: dict = {}
    exec(HELPERS, namespace)
    with pytest.raises(NotImplementedError, match="todo: not written yet"):
        with namespace["checking"]("todo"):
            raise NotImplementedError()
    withheld = "gradkit.nn.layers.Linear is withheld while grading: write it in your notebook"
    with pytest.raises(NotImplementedError, match=withheld):
        with namespace["checking"]("train"):
            raise NotImplementedError(withheld)
