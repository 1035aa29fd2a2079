"""Grading integrity on a1_gradients: nothing that decides points is in the student's kernel.

One scratch course grades, in one batch, the honest reference and a small corpus
of submissions written as a determined student would, built from the real
released notebook: the library's version smuggled in (a default argument, a
closure with a fallback), the checking helpers redefined to capture expected
values, and memory spread over child processes. Each scores what it should.
"""

from __future__ import annotations

import textwrap

import nbformat
import pytest
import yaml

from gradkit.runtime import ray_session
from support.scripted_student import submission_with
from gradkit_autograder.grading.class_builder import write_submission
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course
from gradkit_autograder.commands.grade import grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from support import REPO_COURSE

pytestmark = pytest.mark.slow
A = "a1_gradients"
NB = "gradients"

DEFAULT_ARG = textwrap.dedent('''
    def forward_difference(f, x, h, _lib=__import__("gradkit.autodiff.numerical", fromlist=["x"])):
        return _lib.forward_difference(f, x, h)
    ''')
# the library when it is there, a correct fallback when it is not: the source check catches it
CLOSURE = textwrap.dedent('''
    def _make():
        try:
            import importlib
            lib = importlib.import_module("gradkit.autodiff.numerical")
            return lib.central_difference
        except ImportError:
            return lambda f, x, h: (f(x + h) - f(x - h)) / (2 * h)
    central_difference = _make()
    ''')
CAPTURE = textwrap.dedent('''
    _captured = []
    def expect_close(what, got, expected, **kwargs):
        _captured.append(expected)
    def expect_equal(what, got, expected):
        _captured.append(expected)
    import gradkit_autograder.kernel.channel as _channel
    _send = _channel.report
    def _report(key, value, **kwargs):
        _send(key, _captured[-1] if _captured else value, **kwargs)
    _channel.report = _report
    def forward_difference(f, x, h):
        return 0.0
    ''')
CHILD_MEMORY = textwrap.dedent('''
    import subprocess, sys
    _hog = "import numpy as np, time; a = np.ones(500 * 2**20 // 8); time.sleep(3)"
    _kids = [subprocess.Popen([sys.executable, "-c", _hog]) for _ in range(3)]
    print("CHILDREN", [k.wait() for k in _kids])
    ''')


def _with_free_cell(nb, before: str, source: str):
    """A code cell of the student's own (no nbgrader metadata) put in before solution cell ``before``."""
    at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == before)
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("integrity")
    course = scratch_course(Course.open(REPO_COURSE), base, [A])
    settings_path = course.source_dir(A) / "assignment.yaml"
    settings = yaml.safe_load(settings_path.read_text())
    settings["limits"].update(memory_mb=1200, cell_timeout_s=60, notebook_timeout_s=300)
    settings_path.write_text(yaml.safe_dump(settings))
    release(course, [A])
    src, rel = course.source_dir(A) / f"{NB}.ipynb", course.release_dir(A) / f"{NB}.ipynb"
    reference = submission_with(src, rel)
    students = {
        "reference": reference,
        "default_arg": submission_with(src, rel, {"forward_difference": DEFAULT_ARG}),
        "closure": submission_with(src, rel, {"central_difference": CLOSURE}),
        "capture": submission_with(src, rel, {"forward_difference": CAPTURE}),
        "child_memory": _with_free_cell(submission_with(src, rel), before="numerical_gradient",
                                        source=CHILD_MEMORY),
    }
    for student, nb in students.items():
        write_submission(base / "class" / student / A, {f"{NB}.ipynb": nb})
    collect(course, base / "class", assignment=A)
    with ray_session(None, num_cpus=2, what="integrity tests"):
        summary = grade(course, A, workers=2, progress=False)
    return course, summary


def _outcome(summary, student):
    return next(o for o in summary.outcomes if o.student == student)


def _scores(course, student) -> dict[str, float]:
    with course.gradebook() as gb:
        sub = gb.find_submission(A, student)
        return {g.cell.name: g.auto_score for nb in sub.notebooks for g in nb.grades}


def _lost(course, student) -> set[str]:
    full = _scores(course, "reference")
    return {cell for cell, score in _scores(course, student).items() if score < full[cell]}


def _cell(course, student, grade_id):
    nb = nbformat.read(str(course.autograded_dir(student, A) / f"{NB}.ipynb"), as_version=4)
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_batch_finishes_and_the_reference_earns_full_marks(graded):
    course, summary = graded
    assert summary.count("failed") == 0, [(o.student, o.error) for o in summary.outcomes]
    reference = _outcome(summary, "reference")
    assert reference.score == reference.max_score and reference.score > 0
    assert summary.isolation, "the run says how kernels were isolated"


def test_library_used_indirectly_earns_nothing(graded):
    """A default argument fails in the kernel (module withheld); a fallback is caught by the source check."""
    course, summary = graded
    assert _lost(course, "default_arg") == {"test_forward_difference"}
    assert _lost(course, "closure") == {"test_central_difference"}
    reason = _cell(course, "closure", "test_central_difference").metadata["gradkit"]["reason"]
    assert "gradkit.autodiff.numerical" in reason and "write that part yourself" in reason
    kinds = {i["kind"] for i in _outcome(summary, "closure").incidents}
    assert "not_own_code" in kinds


def test_redefined_helpers_capture_no_expected_values(graded):
    """Helpers redefined and the channel replaced: seen in the source, every test from there on is
    void, and the reason names what the cell did, never an expected value."""
    course, summary = graded
    lost = _lost(course, "capture")
    assert "test_forward_difference" in lost and len(lost) > 1
    assert _outcome(summary, "capture").score < _outcome(summary, "reference").score
    reason = _cell(course, "capture", "test_forward_difference").metadata["gradkit"]["reason"]
    assert "gradkit_autograder" in reason and "6.5" not in reason


def test_memory_of_child_processes_counts_against_the_kernel(graded):
    """Three children of 500 MB each exceed the kernel's 1200 MB together: the tree limit ends one."""
    course, summary = graded
    if "cgroup per kernel" not in summary.isolation:
        pytest.skip(f"no cgroup per kernel here: {summary.isolation}")
    nb = nbformat.read(str(course.autograded_dir("child_memory", A) / f"{NB}.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if "CHILDREN" in c.source for o in c.get("outputs", []))
    codes = eval(text.split("CHILDREN", 1)[1].splitlines()[0])   # a list of exit codes we printed
    assert -9 in codes, text
    assert _lost(course, "child_memory") == set()
