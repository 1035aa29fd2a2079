"""Feedback pages on a hand-made autograded notebook: why points were lost, never a hidden test.

The autograded notebook is built here the way the grader leaves it (hidden tests
put back, error outputs whose tracebacks quote hidden lines and an expected value,
``metadata.gradkit.reason`` on a hidden cell), so every path that renders
feedback can be checked against the lines it must never show: gradkit's page,
plain ``nbgrader generate_feedback`` in a subprocess, and the API call
formgrader's "Generate Feedback" button makes.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell, new_output

from gradkit_autograder.state.course import CONFIG_FILE, Course
from gradkit_autograder.commands.feedback import HIDDEN_FAILED, write_feedback
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from support.hidden_source import hidden_lines
from support import REPO_COURSE

A = "a0_warmup"
STUDENT = "ada"
SECRET_VALUE = "31.4159265"          # an "expected value" only hidden outputs carry
REASON = "result 'softplus_big' differed: 20 values, largest error 3.2e+02 (relative 0.97)"
VISIBLE_MESSAGE = "softplus([-2, 0, 3]): expected [0.127 0.693 3.049], got [0. 0. 3.]"


def _png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _hidden_lines(course: Course) -> list[str]:
    return hidden_lines(course.source_dir(A) / "warmup.ipynb")


def _error(ename: str, evalue: str, tb_lines: list[str]):
    return new_output("error", ename=ename, evalue=evalue, traceback=tb_lines + [f"{ename}: {evalue}"])


def build_autograded(course: Course) -> None:
    """The source notebook with outputs as the grader would leave them, plus gradebook scores."""
    nb = nbformat.read(str(course.source_dir(A) / "warmup.ipynb"), as_version=4)
    hidden = _hidden_lines(course)
    nb.cells.insert(1, new_markdown_cell("The logistic function is $\\sigma(x) = 1/(1+e^{-x})$; "
                                         "the norm $\\lVert x \\rVert_2$ is left to MathJax; `$HOME` is code."))
    scores = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "test_softplus_visible":
            cell.outputs = [_error("AssertionError", VISIBLE_MESSAGE,
                                   ["Traceback (most recent call last):", "  File _helpers.py line 40 in expect_close",
                                    "    internals()"])]
            scores[gid] = 0
        elif gid == "test_softplus_hidden":
            cell.outputs = [_error("AssertionError", f"{hidden[-1]} expected {SECRET_VALUE}",
                                   [f"----> 8 {line}" for line in hidden])]
            cell.metadata["gradkit"] = {"reason": REASON}
            scores[gid] = 0
        elif gid == "test_standardize_hidden":
            cell.outputs = [_error("ValueError", f"{SECRET_VALUE} != {hidden[0]}", [hidden[1]])]
            scores[gid] = 0
        elif gid == "pairwise":
            cell.outputs = [new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"})]
        elif gid and cell.metadata["nbgrader"].get("grade"):
            scores[gid] = cell.metadata["nbgrader"]["points"]
    dest = course.autograded_dir(STUDENT, A)
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(dest / "warmup.ipynb"))
    with course.gradebook() as gb:
        gb.update_or_create_assignment(A, duedate=dt.datetime(2026, 9, 14, 23, 59))
        gb.add_student(STUDENT)
        gb.add_submission(A, STUDENT, timestamp=dt.datetime(2026, 9, 15, 3, 0))   # 1 day late
        for gid, score in scores.items():
            gb.find_grade(gid, "warmup", A, STUDENT).auto_score = score
        gb.db.commit()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("feedback")
    course = scratch_course(Course.open(REPO_COURSE), base, [A])
    release(course, [A])
    build_autograded(course)
    return course


def _assert_no_hidden(course: Course, text: str, where: str) -> None:
    text = html.unescape(text)
    leaked = [line for line in _hidden_lines(course) if line in text]
    assert not leaked, (where, leaked)
    assert SECRET_VALUE not in text, where


def test_gradkit_page_says_why_and_hides_hidden_tests(course):
    [page] = write_feedback(course, A)
    text = page.read_text()
    _assert_no_hidden(course, text, "gradkit feedback")
    plain = html.unescape(text)
    summary = plain[plain.index("<table class='summary'>"):plain.index("</table>")]
    rows = dict(re.findall(r"<td><a href='#([^']+)'>[^<]*</a></td><td>[^<]*</td><td class='\w+'>([^<]*)</td>", summary))
    # a failing row says "failed" in words (not by colour alone), a passing one "passed"
    assert rows["test_softplus_visible"] == f"\u2717 failed: AssertionError: {VISIBLE_MESSAGE}"
    assert rows["test_softplus_hidden"] == f"\u2717 failed: {REASON}"
    assert rows["test_standardize_hidden"] == f"\u2717 failed: {HIDDEN_FAILED}"
    assert rows["test_pairwise_visible"] == "\u2713 passed"
    assert "<details><summary>set-up cell imports</summary>" in text        # set-up folded
    assert "data:image/png;base64," in text                                   # the student's plot kept
    assert "width=device-width" in text and "mathjax" in text.lower()
    assert "<img class='math' alt='\\sigma(x) = 1/(1+e^{-x})'" in plain      # drawn, offline
    assert "$\\lVert x \\rVert_2$" in plain and "<code>$HOME</code>" in plain  # left for MathJax; code kept
    assert "Submitted 1 day late: 1 day from your bank used, 2 of 3 left in your bank." in plain


def test_nbgrader_generate_feedback_command_hides_hidden_tests(course):
    out = course.root / "feedback" / STUDENT / A / "warmup.html"
    if out.exists():
        out.unlink()
    proc = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "generate_feedback", A, "--force"],
                          cwd=course.root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = out.read_text()
    _assert_no_hidden(course, text, "nbgrader generate_feedback")
    assert REASON in html.unescape(text)                     # the reason replaces the hidden output


def test_formgrader_api_generate_feedback_hides_hidden_tests(course):
    out = course.root / "feedback" / STUDENT / A / "warmup.html"
    if out.exists():
        out.unlink()
    result = course.api().generate_feedback(A, STUDENT, force=True)
    assert result["success"], result
    _assert_no_hidden(course, out.read_text(), "NbGraderAPI.generate_feedback")


def test_without_the_course_setting_nbgrader_would_leak(course, tmp_path):
    """The check above can fail: nbgrader's default preprocessors put hidden lines on the page."""
    base = tmp_path / "plain"
    shutil.copytree(course.root.parent, base)
    config = base / "course" / CONFIG_FILE
    text = config.read_text()
    config.write_text(text[:text.index("c.GenerateFeedback.preprocessors")])
    plain = Course.open(base / "course")
    result = plain.api().generate_feedback(A, STUDENT, force=True)
    assert result["success"], result
    page = html.unescape((base / "course" / "feedback" / STUDENT / A / "warmup.html").read_text())
    assert any(line in page for line in _hidden_lines(course))


def test_formgrader_lists_assignments_not_the_tools_folder(course):
    tools = course.source_dir("tools")
    tools.mkdir(exist_ok=True)
    (tools / "build_notebooks.py").write_text("# not an assignment\n")
    api = Course.open(course.root).api()      # formgrader's API, configured by nbgrader_config.py
    assert api.get_source_assignments() == {A}
    assert "tools" not in {a["name"] for a in api.get_assignments()}
