"""The grading-integrity pieces on their own, without Ray: the own-code source check,
metadata repair, the library view with withheld modules, and per-kernel cgroups.

The whole pipeline against hostile submissions is in test_autograder_hostile.py
(a0) and test_autograder_integrity.py (a1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import nbformat
import pytest

from gradkit_autograder import cgroups
from gradkit_autograder.owncode import own_code_problems, solutions_tested_by, withheld_uses
from gradkit_autograder.sandbox import library_view
from gradkit_autograder.worker import repair_metadata

W = ["gradkit.autodiff.numerical"]


# --- own code, decided from the source ------------------------------------------------------

@pytest.mark.parametrize("source", [
    "from gradkit.autodiff.numerical import central_difference\n",
    "from gradkit.autodiff import numerical\ndef f(x):\n    return numerical.central_difference(x)\n",
    "import gradkit.autodiff as ad\ndef f(g, x, h):\n    return ad.numerical.central_difference(g, x, h)\n",
    # a library call hidden in a default argument and in a closure
    "def f(g, x, h, _impl=__import__('gradkit.autodiff.numerical').autodiff.numerical):\n    return 0\n",
    "def make():\n    import gradkit\n    def f(g, x, h):\n"
    "        return gradkit.autodiff.numerical.central_difference(g, x, h)\n    return f\nf = make()\n",
    "import importlib\nnum = importlib.import_module('gradkit.autodiff.numerical')\n",
    "%time import gradkit.autodiff.numerical\n",
])
def test_withheld_module_use_is_found_however_it_is_written(source):
    assert withheld_uses(source, W) == W


@pytest.mark.parametrize("source", [
    "def f(g, x, h):\n    \"\"\"Like gradkit.autodiff.numerical, but mine.\"\"\"\n"
    "    return (g(x + h) - g(x - h)) / (2 * h)\n",
    "import numpy as np\nfrom gradkit.autodiff import Tensor\nnumerical = 3\n",
    "this is not python (\n",
])
def test_own_code_is_not_flagged(source):
    assert withheld_uses(source, W) == []


def _cell(kind: str, grade_id: str, source: str = "") -> dict:
    meta = {"solution": kind == "solution", "grade": kind == "test", "grade_id": grade_id,
            "locked": kind != "solution"}
    return {"cell_type": "code", "source": source, "metadata": {"nbgrader": meta}}


def test_a_grade_cell_tests_the_solutions_written_since_the_previous_one():
    cells = [_cell("solution", "s1"), _cell("solution", "s2"), _cell("test", "t1"), _cell("test", "t2"),
             _cell("solution", "s3"), _cell("test", "t3")]
    assert solutions_tested_by(cells) == {"t1": ["s1", "s2"], "t2": ["s1", "s2"], "t3": ["s3"]}
    cells[4]["source"] = "from gradkit.autodiff.numerical import numerical_gradient\n"
    problems = own_code_problems(cells, W)
    assert set(problems) == {"t3"} and "gradkit.autodiff.numerical" in problems["t3"]


# --- metadata repaired from the release ---------------------------------------------------------

def _released() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for kind, grade_id in [("solution", "answer"), ("test", "test_answer"), ("test", "test_more")]:
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["nbgrader"] = _cell(kind, grade_id)["metadata"]["nbgrader"]
        nb.cells.append(cell)
    return nb


def test_edited_grade_flag_and_renamed_test_are_put_back_and_named():
    released = _released()
    submitted = nbformat.reads(nbformat.writes(released), as_version=4)
    submitted.cells[1].metadata["nbgrader"]["grade"] = False           # "not graded, please"
    submitted.cells[2].metadata["nbgrader"]["grade_id"] = "renamed"    # matched by cell id
    impostor = nbformat.v4.new_code_cell("pass")
    impostor.metadata["nbgrader"] = {"grade": True, "grade_id": "test_answer", "points": 99}
    submitted.cells.append(impostor)                                   # a second copy of a test
    incidents = repair_metadata(submitted, released)
    assert [c.metadata.get("nbgrader") for c in submitted.cells[:3]] == [
        c.metadata["nbgrader"] for c in released.cells]
    assert "nbgrader" not in submitted.cells[3].metadata
    assert len(incidents) == 3 and all(i["kind"] == "metadata_edited" for i in incidents)


def test_an_untouched_notebook_needs_no_repair():
    released = _released()
    assert repair_metadata(nbformat.reads(nbformat.writes(released), as_version=4), released) == []


# --- the library as the grading kernel sees it ------------------------------------------------------

def test_withheld_module_raises_an_import_error_that_says_so_and_the_rest_imports(tmp_path):
    view = library_view(("gradkit.autodiff.numerical",), tmp_path / "view")
    code = textwrap.dedent("""
        import gradkit
        assert gradkit.__file__.startswith(%r), gradkit.__file__
        from gradkit import Tensor                      # the rest of the library is there
        (Tensor([1.0, 2.0], requires_grad=True) * 3).sum().backward()
        try:
            import gradkit.autodiff.numerical
        except ImportError as err:
            print("ImportError:", err)
    """ % view)
    env = dict(os.environ, PYTHONPATH=view)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=view)
    assert proc.returncode == 0, proc.stderr
    assert "gradkit.autodiff.numerical is withheld while grading" in proc.stdout
    assert os.path.exists(os.path.join(view, "gradkit_autograder", "channel.py"))
    assert not os.path.exists(os.path.join(view, "gradkit_autograder", "grade.py"))


# --- one limit per kernel: cgroups ------------------------------------------------------------------

needs_cgroups = pytest.mark.skipif(os.geteuid() != 0 or cgroups.available() != "",
                                   reason=f"no writable cgroups here: {cgroups.available() or 'not root'}")


@needs_cgroups
def test_cgroup_caps_the_memory_of_children_together_and_ends_them_all():
    group = cgroups.KernelCgroup(memory_mb=300, pids_max=64)
    procs = group.create()
    # three children of 150 MB each: each fits an rlimit of 300 MB, together they do not
    child = "import time, numpy as np; a = np.ones(150 * 2**20 // 8); time.sleep(60)"
    script = (f"import subprocess, sys, time\n"
              f"kids = [subprocess.Popen([sys.executable, '-c', {child!r}], start_new_session=True) "
              f"for _ in range(3)]\n"
              f"time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-m", "gradkit_autograder.kernel_launch",
                               *[f"--cgroup-procs={p}" for p in procs], "--", sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and group.memory_limit_hits() == 0:
            time.sleep(0.2)
        assert group.memory_limit_hits() > 0
        assert group.peak_memory_mb() <= 300 + 1
    finally:
        killed = group.remove()
        parent.wait(timeout=30)
    assert killed >= 1 and group.pids() == set()
    assert not group.dirs["memory"].exists() and not group.dirs["pids"].exists()
