"""The grading-integrity pieces on their own, without Ray: the own-code source check and its
allow list, rebound names and edited modules, the grader's rules, the do-nothing submission,
metadata repair, and per-kernel cgroups. The library view is test_library_view.py's.

The whole pipeline against hostile submissions is in test_autograder_hostile.py
(a0) and test_autograder_integrity.py (a1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import nbformat
import numpy as np
import pytest

from gradkit_autograder.sandbox import cgroups
from gradkit_autograder.kernel.channel import Rule, encode_value
from gradkit_autograder.judging.trusted_checks import check_cell
from gradkit_autograder.grading.class_builder import _does_nothing
from gradkit_autograder.judging.own_code import own_code_problems
from gradkit_autograder.judging.source_facts import solutions_tested_by
from gradkit_autograder.judging.tampering import tampering_problems
from gradkit_autograder.state.settings import AssignmentSettings, OwnCode, SettingsError
from gradkit_autograder.judging.screening import repair_metadata

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
    problems = own_code_problems(_graded(source), W)
    assert set(problems) == {"t"} and "gradkit.autodiff.numerical" in problems["t"]


@pytest.mark.parametrize("source", [
    "def f(g, x, h):\n    \"\"\"Like gradkit.autodiff.numerical, but mine.\"\"\"\n"
    "    return (g(x + h) - g(x - h)) / (2 * h)\n",
    "import numpy as np\nfrom gradkit.autodiff import Tensor\nnumerical = 3\n",
    "this is not python (\n",
])
def test_own_code_is_not_flagged(source):
    assert own_code_problems(_graded(source), W) == {}


NAMES = ["gradkit.nn.loss_functions.cross_entropy"]     # a name-level entry, as in a2


@pytest.mark.parametrize("source, used", [
    ("from gradkit.nn.loss_functions import cross_entropy as ce\ndef f(x):\n    return ce(x, x)\n",
     "gradkit.nn.loss_functions.cross_entropy"),
    # the library's other spellings of it: the functional namespace, its F alias, a package above
    ("from gradkit.nn import F\ndef f(x):\n    return F.cross_entropy(x, x)\n", "gradkit.nn.F.cross_entropy"),
    ("import gradkit.nn.functional as fn\ndef f(x):\n    return fn.cross_entropy(x, x)\n",
     "gradkit.nn.functional.cross_entropy"),
    # looked up at run time in its module, or in a module that re-exports it
    ("import gradkit.nn.loss_functions as L\ndef f(x, n='cross_entropy'):\n    return getattr(L, n)(x, x)\n",
     "gradkit.nn.loss_functions (a name looked up at run time)"),
    ("from gradkit.nn import functional\ndef f(x, n):\n    return getattr(functional, n)(x, x)\n",
     "gradkit.nn.functional (a name looked up at run time)"),
])
def test_a_withheld_name_is_found_under_every_spelling_and_dynamic_lookup(source, used):
    problems = own_code_problems(_graded(source), NAMES)
    assert set(problems) == {"t"} and used in problems["t"], problems


def test_a_withheld_name_leaves_its_siblings_alone():
    source = "from gradkit.nn.functional import mse_loss, relu\ndef f(x):\n    return mse_loss(relu(x), x)\n"
    assert own_code_problems(_graded(source), NAMES) == {}


def _cell(kind: str, grade_id: str, source: str = "") -> dict:
    if kind == "free":   # a cell the student may edit or add: no nbgrader metadata
        return {"cell_type": "code", "source": source, "metadata": {}}
    meta = {"solution": kind == "solution", "grade": kind == "test", "grade_id": grade_id,
            "locked": kind != "solution"}
    return {"cell_type": "code", "source": source, "metadata": {"nbgrader": meta}}


SETUP = "import numpy as np\nimport torch\nfrom gradkit import Tensor\ndef accuracy(a, b):\n    return 1.0\n"


def _graded(solution: str, free: str = "", test: str = "f(1)\n") -> list[dict]:
    """A set-up cell, a free student cell, one solution cell and the grade cell 't' testing it."""
    return [_cell("locked", "setup", SETUP), _cell("free", "", free), _cell("solution", "s", solution),
            _cell("test", "t", test)]


ALLOW = OwnCode(allow=("numpy",), cells={"s": ("torch.nn",)}, forbid=("torch.nn.utils.prune",), declared=True)


@pytest.mark.parametrize("source, used", [
    ("def f(x):\n    return Tensor(x).relu()\n", "gradkit.Tensor"),              # a set-up import, by name
    ("import torch\ndef f(p):\n    return torch.optim.SGD(p, lr=1)\n", "torch.optim.SGD"),
    ("from torch import optim as o\ndef f(p):\n    return o.SGD(p, lr=1)\n", "torch.optim.SGD"),
    ("t = torch\ndef f(p):\n    return t.optim.SGD(p, lr=1)\n", "torch.optim.SGD"),  # a module alias
    ("def f(p):\n    return getattr(torch, 'optim').SGD(p)\n", "torch.optim"),
    ("def f(m):\n    return torch.nn.utils.prune.l1_unstructured(m, 'weight', 0.5)\n", "torch.nn.utils.prune"),
    ("def f(x):\n    return helper(x)\n", "gradkit.nn.layers"),           # through a function of a free cell
    ("def f(x, _g=torch.optim):\n    return _g\n", "torch.optim"),          # a default argument
])
def test_the_allow_list_follows_what_solution_cells_use(source, used):
    free = "def helper(x):\n    import gradkit.nn.layers as L\n    return L.Linear(2, 2)\n"
    problems = own_code_problems(_graded(source, free), (), ALLOW)
    assert set(problems) == {"t"} and used in problems["t"], problems


@pytest.mark.parametrize("source", [
    "def f(x):\n    return np.linalg.solve(x, x) + math.pi\n",
    "import torch.nn as nn\ndef f(x):\n    return nn.Linear(2, 2)\n",     # allowed for cell 's' only
    'def f(x):\n    """Unlike torch.optim.SGD, mine."""\n    return accuracy(x, x)\n',   # set-up helper, docstring
    "def f(torch):\n    return torch.optim.SGD\n",                          # a parameter, not the module
])
def test_allowed_uses_are_not_flagged(source):
    assert own_code_problems(_graded(source), (), ALLOW) == {}


QUANT = OwnCode(allow=("numpy", "torch"), forbid=("torch.quantize_per_tensor",), declared=True)


@pytest.mark.parametrize("source", [
    "def f(x):\n    t = torch\n    return t.quantize_per_tensor(x, 0.1, 0, torch.qint8)\n",   # a local alias
    "def f(x, t=torch):\n    return t.quantize_per_tensor(x, 0.1, 0, t.qint8)\n",           # a default argument
    "def f(x):\n    return (t := torch).quantize_per_tensor(x, 0.1, 0, t.qint8)\n",       # walrus
    "def f(x):\n    return [torch][0].quantize_per_tensor(x, 0.1, 0, torch.qint8)\n",     # module as a value
    "def f(x):\n    return getattr(torch, 'quantize_' + 'per_tensor')(x, 0.1, 0, torch.qint8)\n",
    "def f(x):\n    return vars(torch)['quantize_per_tensor'](x, 0.1, 0, torch.qint8)\n",
    "def f(x):\n    return torch.__dict__['quantize_per_tensor'](x, 0.1, 0, torch.qint8)\n",
    "import operator\ndef f(x):\n    return operator.attrgetter('quantize_per_tensor')(torch)(x)\n",
])
def test_a_forbidden_function_is_found_however_the_module_is_reached(source):
    problems = own_code_problems(_graded(source), (), QUANT)
    assert set(problems) == {"t"}, problems


@pytest.mark.parametrize("source", [
    "def f(x):\n    return torch.relu(x) + torch.quantile(x, 0.5)\n",
    "def f(x, name='mean'):\n    return getattr(np, name)(x)\n",          # nothing under numpy is forbidden
    "def f(x):\n    w = x.weight\n    return w.abs()\n",
])
def test_dynamic_lookups_where_nothing_is_forbidden_are_allowed(source):
    assert own_code_problems(_graded(source), (), QUANT) == {}


def test_a_list_for_one_cell_does_not_widen_another():
    cells = _graded("def f(x):\n    return x\n") + [
        _cell("solution", "s2", "import torch.nn as nn\ndef g():\n    return nn.Linear(2, 2)\n"),
        _cell("test", "t2", "g()\n")]
    assert set(own_code_problems(cells, (), ALLOW)) == {"t2"}
    # nor does a helper written in the wider cell and called from another
    cells = _graded("import torch.nn as nn\ndef f(x):\n    return x\ndef helper():\n    return nn.Linear(2, 2)\n") + [
        _cell("solution", "s2", "def g():\n    return helper()\n"), _cell("test", "t2", "g()\n")]
    assert set(own_code_problems(cells, (), ALLOW)) == {"t2"}


def test_a_plain_assignment_in_a_test_does_not_make_a_name_a_module():
    cells = _graded("def f(x):\n    return x\n", test="answer = f\nanswer(1)\n")
    assert own_code_problems(cells, (), ALLOW) == {}


def test_own_code_section_is_read_and_checked():
    settings = AssignmentSettings.from_dict({"own_code": {"allow": ["numpy"], "cells": {"s": ["torch.nn"]}}})
    assert settings.own_code.allowed_in("s")[-2:] == ("numpy", "torch.nn")
    assert AssignmentSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(SettingsError, match="own_code.allow"):
        AssignmentSettings.from_dict({"own_code": {"allow": "numpy"}})
    with pytest.raises(SettingsError, match="unknown key"):
        AssignmentSettings.from_dict({"own_code": {"permit": ["numpy"]}})


# --- names the tests rely on ----------------------------------------------------------------------

@pytest.mark.parametrize("source, lost", [
    ("def accuracy(a, b):\n    return 1.0\n", {"t"}),            # a set-up helper the test reads
    ("len = lambda x: 3\n", {"t"}),                                  # a builtin the test reads
    ("def f():\n    global accuracy\n    accuracy = 2\n", {"t"}),  # through `global`
    ("np.mean = lambda x: 0\n", {"t", "t9"}),                       # a module edited: every later test
    ("def f():\n    setattr(np, 'mean', len)\n", {"t", "t9"}),
    ("def f():\n    globals()['accuracy'] = 2\n", {"t", "t9"}),    # the machinery for such edits
    ("import builtins\nbuiltins.len = None\n", {"t", "t9"}),
    ("def f():\n    vars(np)['mean'] = len\n", {"t", "t9"}),      # a module's namespace by vars()
    ("accuracy.__code__ = (lambda a, b: 1.0).__code__\n", {"t", "t9"}),   # a locked cell's function edited
])
def test_rebinding_what_the_tests_read_loses_those_tests(source, lost):
    cells = _graded(source, test="assert accuracy(1, 2) and len([1])\n") + [_cell("test", "t9", "print(1)\n")]
    problems = tampering_problems(cells)
    assert set(problems) == lost, problems


@pytest.mark.parametrize("source", [
    "def f(x):\n    len = 3\n    accuracy = 4\n    return len + accuracy\n",   # locals shadow nothing
    "def accuracy_of(m):\n    return 1\n",
    "def f(np):\n    np.mean = 3\n",                                              # a parameter named np
    "class M:\n    def parameters(self):\n        return list(vars(self).values())\n",   # vars of an object
])
def test_local_names_and_new_names_are_not_rebinding(source):
    cells = _graded(source, test="assert accuracy(1, 2) and len([1])\n")
    assert tampering_problems(cells) == {}


# --- rules, decided in the grader -------------------------------------------------------------------

def _reports(**payloads) -> dict:
    return {key: [p] for key, p in payloads.items()}


def _check(reference: dict, got: dict) -> list[str]:
    return check_cell(reference, got, 1e-7, 1e-9)[0]


def test_accuracy_reads_the_labels_from_the_reference():
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 10)
    rule = Rule.accuracy(labels="y", at_least=0.9)
    reference = _reports(y=encode_value("y", labels), p=encode_value("p", labels, rule=rule))
    wrong = labels.copy()
    wrong[:15] = (wrong[:15] + 1) % 10
    good = labels.copy()
    good[:5] = (good[:5] + 1) % 10
    assert _check(reference, _reports(y=encode_value("y", labels), p=encode_value("p", good))) == []
    problems = _check(reference, _reports(y=encode_value("y", labels), p=encode_value("p", wrong)))
    assert len(problems) == 1 and "85.0% right" in problems[0]
    # a kernel that reports its own predictions as the labels gains nothing: labels come from the reference
    forged = _reports(y=encode_value("y", wrong), p=encode_value("p", wrong, rule=Rule.bounds(0, 9)))
    assert any("85.0% right" in p for p in _check(reference, forged))


def test_changed_unchanged_modes_apart_near_and_bounds():
    rng = np.random.default_rng(0)
    before = rng.normal(size=(4, 5))
    mask = (rng.random((4, 5)) > 0.5).astype(float)
    after = before + 0.1 * mask
    ref = _reports(w0=encode_value("w0", before), m=encode_value("m", mask),
                   w=encode_value("w", after, rule=Rule.changed("w0", at_least=0.9, where="m")),
                   z=encode_value("z", after, rule=Rule.unchanged("w0", where="m", atol=0.2)))
    assert _check(ref, ref) == []
    untrained = dict(ref, w=[encode_value("w", before)])
    assert "moved" in " ".join(_check(ref, untrained))
    regrown = dict(ref, z=[encode_value("z", after + 1.0)])
    assert "must stay as they were" in " ".join(_check(ref, regrown))
    centers = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)]) * 2
    samples = centers[rng.integers(0, 8, 400)] + 0.05 * rng.normal(size=(400, 2))
    ref = _reports(c=encode_value("c", centers), x=encode_value("x", samples),
                   g=encode_value("g", samples + 0.01, rule=Rule.modes("c", radius=0.3, at_least=8)),
                   h=encode_value("h", samples + 0.2, rule=Rule.apart("x", min_distance=0.1, at_least=0.9)),
                   k=encode_value("k", samples + 0.2 + 1e-9, rule=Rule.near("h", atol=1e-6)),
                   b=encode_value("b", samples, rule=Rule.bounds(-3, 3)))
    assert _check(ref, ref) == []
    collapsed = dict(ref, g=[encode_value("g", np.repeat(centers[:1], 400, axis=0))])
    assert "cover 1 of 8 modes" in " ".join(_check(ref, collapsed))
    copies = dict(ref, h=[encode_value("h", samples)], k=[encode_value("k", samples)])
    assert "not copies" in " ".join(_check(ref, copies))
    jumpy = dict(ref, k=[encode_value("k", samples + 1.0)])
    assert "differs from another result of this test" in " ".join(_check(ref, jumpy))   # no key named
    outside = dict(ref, b=[encode_value("b", samples * 10)])
    assert "outside [-3, 3]" in " ".join(_check(ref, outside))


def test_a_rule_sent_by_the_student_kernel_is_ignored():
    ref = _reports(v=encode_value("v", [1.0, 2.0]))                    # compared with the reference
    got = _reports(v=encode_value("v", [5.0, 6.0], rule=Rule.bounds(0, 10)))
    assert "differ" in " ".join(_check(ref, got))


@pytest.mark.parametrize("stub, silent", [
    ("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n",
     "def f(x):\n    # YOUR CODE HERE\n    return None"),
    ("answer = None\n# YOUR CODE HERE\nraise NotImplementedError()\n", "answer = None\n# YOUR CODE HERE\npass"),
    ("for i in range(2):\n    raise NotImplementedError()\n", "for i in range(2):\n    pass"),
])
def test_the_do_nothing_submission_returns_none_where_the_stub_raised(stub, silent):
    assert _does_nothing(stub) == silent


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
    parent = subprocess.Popen([sys.executable, "-m", "gradkit_autograder.kernel.launch",
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


def test_a_cell_read_again_gives_its_own_facts():
    """Cells repeat across a class and are read once; no notebook's facts can change another's."""
    from gradkit_autograder.judging import source_facts

    source = "import numpy as np\nfrom gradkit.nn import Linear\nlayer = Linear(2, 3)\ndef f(x):\n    return np.tanh(x)\n"
    first = source_facts.cell_facts(source)
    first.uses.add("gradkit.nn.loss_functions.cross_entropy")
    first.aliases["np"] = "torch"
    first.defines["f"].loads.add("secret")
    again = source_facts.cell_facts(source)
    source_facts._read_cell.cache_clear()
    assert again == source_facts.cell_facts(source)   # what a first reading of the cell gives
    assert "gradkit.nn.loss_functions.cross_entropy" not in again.uses and again.aliases["np"] == "numpy"
    assert "secret" not in again.defines["f"].loads
