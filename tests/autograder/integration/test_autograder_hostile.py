"""Hostile and broken submissions: each gets a clear incident, the batch goes on,
and no other student's grade or file is touched.

One scratch course (short limits) grades one class once: an honest reference
student plus one student per attack. The assertions look at that student's
scores, its incident lines and the file system afterwards.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import nbformat
import pytest

from support.scripted_student import submission_with
from gradkit_autograder.grading.class_builder import build_class, write_submission
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course
from gradkit.runtime import ray_session
from gradkit_autograder.kernel.channel import CHECK_MIME
from gradkit_autograder.grading.class_builder import reference_notebook
from gradkit_autograder.commands.grade import grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from support import REPO, REPO_COURSE

pytestmark = pytest.mark.slow
A = "a0_warmup"
ORPHAN_TOKEN = f"gradkit-orphan-{os.getpid()}"
LIMITS = """
limits:
  cell_timeout_s: 3
  notebook_timeout_s: 60
  memory_mb: 1024
  max_output_kb: 64
  max_file_mb: 8
"""
SOFTPLUS_OK = ("def softplus(x):\n    x = np.asarray(x, dtype=float)\n"
               "    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))\n")


def _attack_cell(course: Course, marker: Path) -> str:
    """A cell that tries to read the hidden tests and gradebook and to damage files."""
    targets = {
        "read_source": str(course.source_dir(A) / "warmup.ipynb"),
        "read_gradebook": str(course.root / "gradebook.db"),
        "read_private_gradebook": "../../course/gradebook.db",
        "read_other_student": str(course.submitted_dir("reference", A) / "warmup.ipynb"),
        "read_root_home": "/root/.ray/auth_token",
        # the kit's own checkout holds every reference solution, wherever the course is
        "read_kit_solutions": str(REPO / "assignments" / A / "warmup.ipynb"),
        "read_kit_sources": str(REPO / "assignments" / "tools" / "sources" / "a1_gradients.py"),
    }
    return textwrap.dedent(f"""
        import json, os
        attempts = {{}}
        for name, path in {targets!r}.items():
            try:
                with open(path, "rb") as fh:
                    attempts[name] = "READ %d bytes" % len(fh.read())
            except Exception as err:
                attempts[name] = "blocked: " + type(err).__name__
        for name, path in {{"write_course": {str(course.root / "pwned.txt")!r},
                            "write_tmp": {str(marker)!r}}}.items():
            try:
                with open(path, "w") as fh:
                    fh.write("pwned")
                attempts[name] = "WROTE"
            except Exception as err:
                attempts[name] = "blocked: " + type(err).__name__
        try:
            os.remove({str(course.submitted_dir("reference", A) / "warmup.ipynb")!r})
            attempts["delete_other_student"] = "DELETED"
        except Exception as err:
            attempts["delete_other_student"] = "blocked: " + type(err).__name__
        print("ATTEMPTS" + json.dumps(attempts))
        """) + SOFTPLUS_OK


AGREEABLE = textwrap.dedent("""
    class Agreeable:
        "Equal to everything, true, and swallowing every numpy function (nbgrader issue 1379)."
        shape = property(lambda self: Agreeable())
        def __eq__(self, other): return True
        def __ge__(self, other): return Agreeable()
        def __bool__(self): return True
        def __array_function__(self, func, types, args, kwargs): return Agreeable()
        def __array_ufunc__(self, ufunc, method, *args, **kwargs): return Agreeable()
    def pairwise_sq_dists(A, B):
        return Agreeable()
    """)

# the patches spelled out of the source check's sight (a starred call): only the channel can catch them
CHEAT_ALLCLOSE = ("setattr(*[np, 'allclose', lambda *args, **kwargs: True])\n"
                  "setattr(*[np, 'isclose', lambda *args, **kwargs: True])\n"
                  "def softplus(x):\n    return np.zeros(np.shape(x))\n")
# a background process in a new session, meant to outlive grading
ORPHAN = (SOFTPLUS_OK + "import subprocess, sys\n"
          "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', "
          f"'{ORPHAN_TOKEN}'], start_new_session=True)\n")
# a correct answer that prints a lot every time it is called (inside the test cells too)
CHATTY = ("def softplus(x):\n    print('thinking... ' * 20_000)\n"
          "    x = np.asarray(x, dtype=float)\n"
          "    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))\n")
# an honest answer whose library warns on stderr (as torch does on float(loss))
WARNED = ("import warnings\n" + SOFTPLUS_OK.replace("def softplus(x):\n",
          "def softplus(x):\n    warnings.warn('softplus: converting to float64', UserWarning)\n", 1))
# an IPython hook that emits a channel report inside every later cell, hidden ones included;
# the shell is reached out of the source check's sight, so the channel's forgery check must see it
FORGER = (SOFTPLUS_OK + "import IPython\nfrom IPython.display import display\n"
          "def _forge(*args):\n"
          f"    display({{{CHECK_MIME!r}: {{'key': 'standardize_random', 'shape': [], 'values': [0.0]}},"
          " 'text/plain': 'forged'}, raw=True)\n"
          "getattr(IPython, 'get_' + 'ipython')().events.register('post_run_cell', _forge)\n"
          "def standardize(X):\n    return np.zeros(np.shape(X))\n")
CHEAT_REPORT = ("import gradkit_autograder.kernel.channel as channel\n"
                "channel.report = lambda *args, **kwargs: None   # send nothing\n"
                "def standardize(X):\n    return np.zeros(np.shape(X))\n")


def _students(course: Course, marker: Path) -> dict[str, object]:
    """student -> notebook (or raw bytes for files that are not notebooks)."""
    src, rel = course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb"

    def nb(answers=None, tests=None):
        return submission_with(src, rel, answers, tests)

    return {
        "loop_forever": nb({"softplus": "def softplus(x):\n    while True:\n        pass\n"}),
        "swallow_interrupt": nb({"softplus": (
            "def softplus(x):\n    while True:\n        try:\n            while True:\n"
            "                pass\n        except KeyboardInterrupt:\n            pass\n")}),
        "memory_hog": nb({"standardize": (
            "def standardize(X):\n    hog = []\n    for _ in range(40):   # 4 GB in 100 MB blocks\n"
            "        hog.append(np.ones(12_500_000))\n    return X\n")}),
        "os_exit": nb({"pairwise": "import os\ndef pairwise_sq_dists(A, B):\n    os._exit(3)\n"}),
        "segfault": nb({"pairwise": ("import ctypes\ndef pairwise_sq_dists(A, B):\n"
                                     "    return ctypes.string_at(0)\n")}),
        "sys_exit": nb({"softplus": SOFTPLUS_OK + "import sys\nsys.exit('bye')\n"}),
        "exit_builtin": nb({"standardize": "exit()\n"}),
        "kill_parent": nb({"softplus": SOFTPLUS_OK + "import os, signal\ntry:\n"
                                                     "    os.kill(os.getppid(), signal.SIGKILL)\n"
                                                     "except OSError as err:\n    print(err)\n"}),
        "edited_tests": nb({"softplus": "def softplus(x):\n    return np.log(1.0 + np.exp(x))\n"},
                           {"test_softplus_visible": "pass", "test_softplus_hidden": None}),
        "output_flood": nb({"softplus": SOFTPLUS_OK + "print('x' * 20_000_000)\n"
                                                      "for i in range(2000):\n    print(i)\n"}),
        "file_attack": nb({"softplus": _attack_cell(course, marker)}),
        "cheater": nb({"softplus": CHEAT_ALLCLOSE, "standardize": CHEAT_REPORT}),
        "rigged_eq": nb({"pairwise": AGREEABLE}),
        "orphan": nb({"softplus": ORPHAN}),
        "chatty": nb({"softplus": CHATTY}),
        "warned": nb({"softplus": WARNED}),
        "forger": nb({"softplus": FORGER}),
        "tampered_metadata": _tampered(src, rel),
    }


def _tampered(src: Path, rel: Path):
    """The reference answers with nbgrader metadata edited as copy/paste and merge tools do:
    a grade flag off, a test renamed, points raised, points swapped, a lock cleared."""
    nb = reference_notebook(src, rel)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "test_softplus_hidden":
            meta["grade"] = False
        if meta.get("grade_id") == "test_pairwise_visible":
            meta["grade_id"] = "my_own_test"
        if meta.get("grade_id") == "test_softplus_visible":
            meta["points"] = 50
        if meta.get("grade_id") == "test_standardize_visible":
            meta["points"] = 2                      # swapped with its hidden test's
        if meta.get("grade_id") == "test_standardize_hidden":
            meta["points"], meta["locked"] = 1, False
    return nb


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    marker = Path("/tmp") / f"gradkit-hostile-{os.getpid()}.txt"
    course = scratch_course(Course.open(REPO_COURSE), base, [A])
    (course.source_dir(A) / "assignment.yaml").write_text(LIMITS)
    release(course, [A])
    build_class(course, A, base / "class")           # reference, blank, mutants
    for student, nb in _students(course, marker).items():
        write_submission(base / "class" / student / A, {"warmup.ipynb": nb})
    renamed = base / "class" / "renamed" / A
    write_submission(renamed, {"warmup (1).ipynb": base / "class" / "reference" / A / "warmup.ipynb"})
    (base / "class" / "invalid_json" / A).mkdir(parents=True)
    (base / "class" / "invalid_json" / A / "warmup.ipynb").write_text('{"cells": [')
    (base / "class" / "missing" / A).mkdir(parents=True)
    (base / "class" / "missing" / A / "notes.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    collect(course, base / "class", assignment=A)
    before = {p: p.read_bytes() for p in (course.root / "submitted").rglob("*") if p.is_file()}
    with ray_session(None, num_cpus=2, what="hostile tests"):
        summary = grade(course, A, workers=2, progress=False)
    yield course, summary, before, marker
    marker.unlink(missing_ok=True)


def _outcome(summary, student):
    return next(o for o in summary.outcomes if o.student == student)


def _scores(course, student) -> dict[str, float]:
    with course.gradebook() as gb:
        sub = gb.find_submission(A, student)
        return {g.cell.name: g.auto_score for nb in sub.notebooks for g in nb.grades}


def _kinds(outcome) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    for inc in outcome.incidents:
        kinds.setdefault(inc["kind"], set()).add(inc["cell"])
    return kinds


Q1 = ("test_softplus_visible", "test_softplus_hidden")
Q2 = ("test_standardize_visible", "test_standardize_hidden")
Q3 = ("test_pairwise_visible", "test_pairwise_hidden")


def _zero_only(course, student, zero_cells):
    scores = _scores(course, student)
    for cell, score in scores.items():
        assert score == (0.0 if cell in zero_cells else {"visible": 1.0}.get(cell.split("_")[-1], 2.0)), \
            (student, cell, score)


def test_batch_completed_and_honest_students_unaffected(hostile):
    course, summary, _, _ = hostile
    assert summary.count("failed") == 0, [(o.student, o.error) for o in summary.outcomes]
    assert _outcome(summary, "reference").score == 9 and not _outcome(summary, "reference").incidents
    assert _outcome(summary, "blank").score == 0
    assert _outcome(summary, "mutant-softplus_naive").score == 7


def test_infinite_loop_scores_zero_on_its_cells_only(hostile):
    course, summary, _, _ = hostile
    _zero_only(course, "loop_forever", Q1)
    assert _kinds(_outcome(summary, "loop_forever"))["cell_time_limit"] == set(Q1)


def test_loop_that_swallows_interrupts_gets_a_fresh_kernel(hostile):
    course, summary, _, _ = hostile
    _zero_only(course, "swallow_interrupt", Q1)
    assert set(Q1) <= _kinds(_outcome(summary, "swallow_interrupt"))["kernel_hung"]


def test_memory_exhaustion_hits_the_kernel_limit(hostile):
    course, summary, _, _ = hostile
    _zero_only(course, "memory_hog", Q2)
    assert _kinds(_outcome(summary, "memory_hog"))["memory_limit"] == set(Q2)


@pytest.mark.parametrize("student", ["os_exit", "segfault"])
def test_dying_kernel_is_restarted_and_the_rest_graded(hostile, student):
    course, summary, _, _ = hostile
    _zero_only(course, student, Q3)
    assert set(Q3) <= _kinds(_outcome(summary, student))["kernel_died"]


def test_sys_exit_and_exit_do_not_stop_grading(hostile):
    course, summary, _, _ = hostile
    assert _outcome(summary, "sys_exit").score == 9        # SystemExit is an ordinary error
    _zero_only(course, "exit_builtin", Q2)                  # exit() ends the kernel: Q2 undefined
    assert "kernel_died" in _kinds(_outcome(summary, "exit_builtin"))


def test_edited_and_deleted_tests_are_restored_by_checksum(hostile):
    course, summary, _, _ = hostile
    kinds = _kinds(_outcome(summary, "edited_tests"))
    assert kinds["test_cell_edited"] == {"test_softplus_visible"}
    assert kinds["test_cell_deleted"] == {"test_softplus_hidden"}
    # the literal softplus passes the restored visible test but not the restored hidden one
    assert _scores(course, "edited_tests") == _scores(course, "mutant-softplus_naive")


def test_missing_renamed_and_invalid_notebooks(hostile):
    course, summary, _, _ = hostile
    assert _outcome(summary, "renamed").score == 9
    assert "renamed_notebook" in _kinds(_outcome(summary, "renamed"))
    for student, kind in [("missing", "missing_notebook"), ("invalid_json", "invalid_notebook")]:
        assert _outcome(summary, student).score == 0
        assert kind in _kinds(_outcome(summary, student)), student


def test_megabytes_of_output_are_truncated(hostile):
    course, summary, _, _ = hostile
    assert _outcome(summary, "output_flood").score == 9
    assert "output_truncated" in _kinds(_outcome(summary, "output_flood"))
    path = course.autograded_dir("output_flood", A) / "warmup.ipynb"
    assert path.stat().st_size < 1_000_000


def test_kernel_cannot_kill_its_grading_worker(hostile):
    course, summary, _, _ = hostile
    outcome = _outcome(summary, "kill_parent")
    if not summary.isolation.startswith(("bwrap", "namespace", "uid")):
        pytest.skip(f"kernels run as the grader's user here ({summary.isolation})")
    assert outcome.status == "graded" and outcome.score == 9


def test_kernel_cannot_read_secrets_or_touch_other_files(hostile):
    course, summary, before, marker = hostile
    if not summary.isolation.startswith(("bwrap", "namespace")):
        pytest.skip(f"file isolation needs bubblewrap or mount namespaces; here: {summary.isolation}")
    nb = nbformat.read(str(course.autograded_dir("file_attack", A) / "warmup.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    attempts = json.loads(text.split("ATTEMPTS", 1)[1].splitlines()[0])
    assert len(attempts) == 10
    # /tmp is a private, empty tmpfs in the kernel's namespace: writing there is harmless
    assert attempts.pop("write_tmp") in ("WROTE", "blocked: PermissionError")
    assert all(v.startswith("blocked") for v in attempts.values()), attempts
    assert not (course.root / "pwned.txt").exists() and not marker.exists()
    after = {p: p.read_bytes() for p in (course.root / "submitted").rglob("*") if p.is_file()}
    assert after == before
    assert _outcome(summary, "file_attack").score == 9


def _messages(summary, student, cell):
    return " ".join(i["message"] for i in _outcome(summary, student).incidents if i["cell"] == cell)


def test_monkeypatching_the_checks_does_not_earn_hidden_points(hostile):
    """np.allclose patched to True out of the source check's sight (Q1: the channel catches it),
    then the channel's report replaced (seen in the source: Q2 and every later test score 0)."""
    course, summary, _, _ = hostile
    scores = _scores(course, "cheater")
    assert [scores[c] for c in (Q1[1], *Q2, *Q3)] == [0, 0, 0, 0, 0], scores
    assert scores[Q1[0]] == 1          # visible tests run in the kernel: the hidden patch fools them
    kinds = _kinds(_outcome(summary, "cheater"))
    assert kinds["trusted_check_overruled"] == {Q1[1]}
    assert kinds["not_own_code"] == set(Q2)            # the cell its tests check reaches the grader's module
    assert kinds["tests_tampered_with"] == set(Q3)     # and every later test is void
    assert "values differ from the expected result" in _messages(summary, "cheater", Q1[1])
    assert "uses gradkit_autograder" in _messages(summary, "cheater", Q2[1])
    assert "gradkit_autograder" in _messages(summary, "cheater", Q3[1])


def test_object_equal_to_everything_does_not_pass_hidden_checks(hostile):
    """nbgrader issue 1379: the kernel's own asserts pass, the numbers that cross do not."""
    course, summary, _, _ = hostile
    scores = _scores(course, "rigged_eq")
    assert scores[Q3[1]] == 0 and scores[Q1[1]] == 2 and scores[Q2[1]] == 2
    assert "could not be converted to numbers" in _messages(summary, "rigged_eq", Q3[1])


def test_background_process_in_a_new_session_ends_with_its_notebook(hostile):
    """A process started with setsid must not outlive grading (PID namespace and cgroup)."""
    course, summary, _, _ = hostile
    if not summary.isolation.startswith("bwrap") and "cgroup per kernel" not in summary.isolation:
        pytest.skip(f"needs a PID namespace or a cgroup per kernel; here: {summary.isolation}")
    alive = []
    for proc in Path("/proc").iterdir():
        try:
            if ORPHAN_TOKEN.encode() in (proc / "cmdline").read_bytes():
                alive.append(proc.name)
        except OSError:
            continue
    assert alive == [], f"processes left behind by a graded notebook: {alive}"
    assert _outcome(summary, "orphan").score == 9


def test_chatty_correct_answer_keeps_its_points(hostile):
    """Output beyond the cap is dropped with a note on stdout: nbgrader fails cells with stderr."""
    course, summary, _, _ = hostile
    assert _outcome(summary, "chatty").score == 9
    assert "output_truncated" in _kinds(_outcome(summary, "chatty"))


def test_a_warning_on_stderr_is_shown_and_costs_nothing(hostile):
    """nbgrader fails a grade cell with stderr output; the grader keeps it as a display output."""
    course, summary, _, _ = hostile
    assert _outcome(summary, "warned").score == 9
    notebook = next((course.root / "autograded" / "warned").rglob("*.ipynb"))
    outputs = [o for c in nbformat.read(str(notebook), as_version=4).cells for o in c.get("outputs", [])]
    shown = [o for o in outputs if o.get("metadata", {}).get("gradkit", {}).get("stream") == "stderr"]
    assert shown and "converting to float64" in shown[0]["data"]["text/plain"]
    assert not any(o.get("output_type") == "stream" and o.get("name") == "stderr" for o in outputs)


def test_reports_from_student_code_are_forgeries(hostile):
    """A hook that emits channel payloads in every cell: the hidden cells it touched score 0."""
    course, summary, _, _ = hostile
    scores = _scores(course, "forger")
    assert scores[Q1[1]] == 0 and scores[Q2[1]] == 0 and scores[Q3[1]] == 0
    assert {Q1[1], Q2[1], Q3[1]} <= _kinds(_outcome(summary, "forger"))["forged_report"]


def test_edited_metadata_is_repaired_not_punished_and_recorded(hostile):
    """Honest answers whose cell metadata was edited score what the untouched reference scores."""
    course, summary, _, _ = hostile
    outcome = _outcome(summary, "tampered_metadata")
    assert outcome.status == "graded", outcome.error
    assert _scores(course, "tampered_metadata") == _scores(course, "reference")
    assert outcome.score == _outcome(summary, "reference").score == 9
    assert _kinds(outcome)["metadata_edited"] >= {"test_softplus_hidden", "test_pairwise_visible",
                                                  "test_softplus_visible", "test_standardize_visible",
                                                  "test_standardize_hidden"}
