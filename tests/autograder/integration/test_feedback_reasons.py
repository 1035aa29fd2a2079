"""Feedback that teaches, through the `gradkit` command: what a student and a TA read.

a1 is graded end to end (``gradkit release``, ``collect``, ``grade``, ``feedback``,
``report``) for the blank release and two stored wrong answers; a0 through ``gradkit
verify``, which audits the feedback of its blank and of every stored wrong answer.
The oracles are independent of the reason code: the stub every blank cell raises, the
concept each wrong answer's author wrote down (``mutants/feedback.yaml``), the report
keys the reference's own autograded notebook carries (none may show), and the gradebook's
scores (every failed test, and only those, has a row in ``reasons.csv``).
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from gradkit_autograder.grading.class_builder import reference_notebook, write_submission
from gradkit_autograder.kernel.channel import CHECK_MIME
from gradkit_autograder.state.course import Course
from gradkit_autograder.state.scratch_course import scratch_course
from support import REPO, REPO_COURSE

A1 = "a1_gradients"
GRADKIT = str(Path(sys.executable).parent / "gradkit")
WRONG = ("dual_division_sign", "central_difference_wrong_step")


def _gradkit(*args: str, course: Course | None = None, check: bool = True) -> subprocess.CompletedProcess:
    argv = [GRADKIT, *args] + (["--course", str(course.root)] if course else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1200, cwd=REPO)
    if check:
        assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
    return done


def _summary_rows(page: Path) -> dict[str, str]:
    """Test id -> the text of its summary row (tags dropped, lines kept)."""
    text = page.read_text()
    table = text[text.index("<table class='summary'>"):text.index("</table>")]
    rows = {}
    for cell_id, why in re.findall(r"<tr><td><a href='#([^']+)'>.*?</td><td>.*?</td><td class='\w+'>(.*?)</td></tr>",
                                   table, re.S):
        rows[cell_id] = html.unescape(re.sub(r"<img[^>]*alt='([^']*)'[^>]*>", r"\1",
                                             why.replace("<br>", "\n")))
    return rows


def test_a1_blank_and_wrong_answers_read_in_the_students_terms(ray_address, tmp_path):
    course = scratch_course(Course.open(REPO_COURSE), tmp_path, [A1])
    _gradkit("release", A1, course=course)
    source, released = course.source_dir(A1) / "gradients.ipynb", course.release_dir(A1) / "gradients.ipynb"
    incoming = tmp_path / "incoming"
    write_submission(incoming / "ref" / A1, {"gradients.ipynb": reference_notebook(source, released)})
    write_submission(incoming / "blank" / A1, {"gradients.ipynb": Path(released)})
    for name in WRONG:
        write_submission(incoming / name.replace("_", "-") / A1,
                         {"gradients.ipynb": course.source_dir(A1) / "mutants" / name / "gradients.ipynb"})
    _gradkit("collect", str(incoming), "--assignment", A1, course=course)
    _gradkit("grade", A1, "--workers", "2", "--address", ray_address, course=course)
    _gradkit("feedback", A1, course=course)
    _gradkit("report", A1, course=course)

    with course.gradebook() as gb:
        scores = {s: {g.cell.name: (g.score, g.max_score) for nb in gb.find_submission(A1, s).notebooks
                      for g in nb.grades} for s in ["ref", "blank", *(w.replace("_", "-") for w in WRONG)]}
        comment = {c.cell.name: c.auto_comment for c in
                   gb.find_submission_notebook("gradients", A1, "dual-division-sign").comments}
    assert all(s == m for s, m in scores["ref"].values())

    # the report keys the reference's notebook carries and the released notebook does not name
    ref_nb = json.loads((course.autograded_dir("ref", A1) / "gradients.ipynb").read_text())
    words = set(re.findall(r"\w+", "\n".join(c.source for c in nbformat.read(str(released), 4).cells)))
    keys = {o["data"][CHECK_MIME]["key"] for c in ref_nb["cells"] for o in c.get("outputs", [])
            if CHECK_MIME in o.get("data", {})} - words
    assert len(keys) > 20

    mentions = yaml.safe_load((course.source_dir(A1) / "mutants" / "feedback.yaml").read_text())
    for student in scores:
        page = course.feedback_dir(student, A1) / "gradients.html"
        plain = html.unescape(page.read_text())
        shown = [k for k in keys if re.search(rf"(?<!\w){re.escape(k)}(?!\w)", plain)]
        assert not shown, (student, shown)
        rows = _summary_rows(page)
        failed = {cell for cell, (s, m) in scores[student].items() if (s or 0) < m}
        assert {c for c, why in rows.items() if "failed:" in why} == failed, student
        for cell in failed:
            assert len(rows[cell].strip().splitlines()) <= 3, rows[cell]
        if student == "blank":
            assert failed == set(scores[student])
            for cell in failed:
                assert "not written yet" in rows[cell], (cell, rows[cell])
        elif student != "ref":
            name = student.replace("-", "_")
            assert failed, student
            for cell in failed:
                assert "Hint: " in rows[cell], (student, cell, rows[cell])
            said = " ".join(rows[c] for c in failed).lower()
            for phrase in mentions[name]["mentions"]:
                assert phrase.lower() in said, (student, phrase, said)

    # formgrader shows the reason as the auto comment of the solution cell the failing test checks
    assert "Hint: " in (comment.get("dual_class") or ""), comment

    # the report: the most common reasons per test, and one CSV row per failed test
    report_dir = course.root / "reports" / A1
    md = (report_dir / "report.md").read_text()
    assert "most common reasons (students)" in md
    assert re.search(r"not written yet \(1\)", md), md[:3000]
    with open(report_dir / "reasons.csv") as fh:
        rows = list(csv.DictReader(fh))
    expected = {(s, c) for s, cells in scores.items() for c, (sc, m) in cells.items() if (sc or 0) < m}
    assert {(r["student"], r["cell"]) for r in rows} == expected
    assert all(r["reason"].startswith("failed:") for r in rows)


def test_verify_audits_the_feedback_of_a0s_blank_and_every_wrong_answer(tmp_path):
    """``gradkit verify`` on a course holding a0: it prints the reasons and requires them."""
    course = scratch_course(Course.open(REPO_COURSE), tmp_path, ["a0_warmup"])
    done = _gradkit("verify", "a0_warmup", "--workers", "2", course=course)
    assert "verify: 6/6 checks passed" in done.stdout, done.stdout
    assert re.search(r"blank .*\n\s+test_\w+: failed: \w+: not written yet", done.stdout), done.stdout
    assert "Hint: " in done.stdout
    # a wrong answer whose feedback lacks its concept fails verify
    path = course.source_dir("a0_warmup") / "mutants" / "feedback.yaml"
    expected = yaml.safe_load(path.read_text())
    expected["pairwise_sign"]["mentions"] = ["the chain rule"]
    path.write_text(yaml.safe_dump(expected))
    done = _gradkit("verify", "a0_warmup", "--workers", "2", course=course, check=False)
    assert done.returncode == 1
    assert re.search(r"FAIL a0_warmup\s+mutant:pairwise_sign .*does not mention 'the chain rule'", done.stdout)
    shutil.rmtree(tmp_path, ignore_errors=True)
