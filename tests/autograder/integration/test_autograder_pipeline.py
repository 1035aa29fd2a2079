"""End to end on a0_warmup: release, collect, grade on Ray, feedback, export, report.

One scratch course is graded once (module fixture) and shared by the tests; the
oracle for scores is plain ``nbgrader autograde`` run on a copy of the same course.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gradkit_autograder.state import grading_ledger
from support.scripted_student import submission_with
from gradkit_autograder.grading.class_builder import build_class, write_submission
from gradkit_autograder.cli import build_parser, main
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course
from gradkit_autograder.commands.demo import run_demo
from gradkit_autograder.commands.export import export
from gradkit_autograder.commands.feedback import write_feedback
from gradkit.runtime import ray_session
from gradkit_autograder.commands.grade import grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.commands.report import write_report
from gradkit_autograder.state.scratch_course import scratch_course
from support.hidden_source import hidden_lines
from support import REPO_COURSE

pytestmark = pytest.mark.slow
A = "a0_warmup"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A scratch course with a class of full, partial and zero submissions, graded once."""
    base = tmp_path_factory.mktemp("pipeline")
    course = scratch_course(Course.open(REPO_COURSE), base, [A])
    release(course, [A])
    kinds = build_class(course, A, base / "class")
    src, rel = course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb"
    # a student who did Q1 and Q3 (Q3 with loops) but left Q2 as released
    mixed = submission_with(src, rel, answers={
        "standardize": "def standardize(X):\n    raise NotImplementedError()",
        "pairwise": ("def pairwise_sq_dists(A, B):\n"
                     "    A, B = np.asarray(A, float), np.asarray(B, float)\n"
                     "    return np.array([[((a - b) ** 2).sum() for b in B] for a in A])")})
    write_submission(base / "class" / "mixed" / A, {"warmup.ipynb": mixed})
    kinds["mixed"] = "partial"
    collect(course, base / "class")
    with ray_session(None, num_cpus=2, what="pipeline tests"):
        summary = grade(course, A, workers=2, progress=False)
        yield course, kinds, summary


def _cell_scores(course: Course, student: str) -> dict[str, float]:
    with course.gradebook() as gb:
        sub = gb.find_submission(A, student)
        return {g.cell.name: g.auto_score for nb in sub.notebooks for g in nb.grades}


def _auto_comments(course: Course, student: str) -> dict[str, str | None]:
    with course.gradebook() as gb:
        sub = gb.find_submission(A, student)
        return {c.cell.name: c.auto_comment for nb in sub.notebooks for c in nb.comments}


def test_class_graded_with_expected_totals(graded):
    course, kinds, summary = graded
    assert summary.count("graded") == len(kinds) and summary.count("failed") == 0
    totals = {o.student: o.score for o in summary.outcomes}
    assert totals["reference"] == 9 and totals["blank"] == 0
    assert 0 < totals["mixed"] < 9
    for student, kind in kinds.items():
        if kind.startswith("mutant"):
            assert 0 < totals[student] < 9, student


def test_time_is_accounted_per_phase(graded):
    """Kernel and cell time measured by GuardedExecute lie inside nbgrader's autograde run."""
    _, kinds, summary = graded
    assert summary.tasks == len(kinds) + 1                     # and the reference run
    t = summary.task_timings
    assert all(t[phase] > 0 for phase in ("kernel_start", "kernel_stop", "execute", "autograde"))
    assert t["kernel_start"] + t["kernel_stop"] + t["execute"] < t["autograde"]
    assert "store" in summary.timings and "ray_start" not in summary.timings   # Ray came from the fixture
    assert re.match(r"time: gradebook writes [0-9.]+ s; per task \(\d+\): kernel start/stop", summary.time_line())


def test_scores_equal_plain_nbgrader_autograde(graded, tmp_path):
    """On honest work, plain `nbgrader autograde` on a copy of the same course gives the same cell scores.

    Honest: the reference, the blank release and a partly answered notebook. A
    wrong answer is another matter: hidden tests hold no expected values, so only
    the grader's comparison with the reference can fail it (plain nbgrader, which
    scores by errors in the kernel, gives it the hidden points).
    """
    course, kinds, _ = graded
    honest = [s for s, kind in kinds.items() if not kind.startswith("mutant")]
    shutil.copytree(course.root.parent, tmp_path / "copy", symlinks=True)
    plain = Course.open(tmp_path / "copy" / "course")
    shutil.rmtree(plain.root / "autograded")
    api = plain.api()
    for student in kinds:
        result = api.autograde(A, student, force=True, create=True)
        assert result["success"], result.get("error")
    scores = {s: _cell_scores(plain, s) for s in honest}
    assert {s: _cell_scores(course, s) for s in honest} == scores
    # nbgrader's auto comments are kept; the grader adds, per failing test, the reason a student reads
    comments = {s: _auto_comments(plain, s) for s in kinds}
    ours = {s: _auto_comments(course, s) for s in kinds}
    for s in kinds:
        for cell, theirs in comments[s].items():
            mine = ours[s][cell] or ""
            added = mine[len(theirs or ""):].strip().splitlines()
            assert mine.startswith(theirs or ""), (s, cell, mine, theirs)
            assert all(re.match(r"test_\w+ failed: ", line) for line in added), (s, cell, added)
    assert any(any(c.values()) for c in comments.values())   # nbgrader wrote some ("No response.")
    assert any("Hint: " in (c or "") for s in kinds if kinds[s].startswith("mutant") for c in ours[s].values())
    assert len({sum(v.values()) for v in scores.values()}) >= 3   # full, partial and zero
    wrong = sorted(set(kinds) - set(honest))   # only ever fewer points than plain nbgrader
    ours = {s: _cell_scores(course, s) for s in wrong}
    theirs = {s: _cell_scores(plain, s) for s in wrong}
    assert all(ours[s][c] <= theirs[s][c] for s in wrong for c in ours[s])
    assert any(sum(ours[s].values()) < sum(theirs[s].values()) for s in wrong)


def test_rerun_skips_unchanged_and_force_regrades(graded):
    course, kinds, _ = graded
    again = grade(course, A, workers=2, progress=False)
    assert again.count("skipped") == len(kinds) and again.count("graded") == 0
    path = course.submitted_dir("blank", A) / "warmup.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("an afterthought"))
    nbformat.write(nb, str(path))
    changed = grade(course, A, workers=2, progress=False)
    assert [o.student for o in changed.outcomes if o.status == "graded"] == ["blank"]
    forced = grade(course, A, workers=2, progress=False, force=True, students=["reference"])
    assert forced.count("graded") == 1
    with course.gradebook() as gb:
        runs = {r["student"]: r["runs"] for r in grading_ledger.rows(gb.engine, A)}
    assert runs["reference"] == 2 and runs["blank"] == 2 and runs["mixed"] == 1


def test_regrade_keeps_a_manual_score_and_asks_for_a_new_look(graded):
    """A TA's manual score survives a forced regrade; the cell is flagged for review again."""
    course, _, _ = graded
    with course.gradebook() as gb:
        sub = gb.find_submission(A, "mixed")
        grade_row = next(g for nb in sub.notebooks for g in nb.grades if g.auto_score)
        cell, auto_before = grade_row.cell.name, grade_row.auto_score
        grade_row.manual_score, grade_row.needs_manual_grade = 0.5, False
        untouched = {g.cell.name for nb in sub.notebooks for g in nb.grades if g.manual_score is None}
        gb.db.commit()
    forced = grade(course, A, workers=2, progress=False, force=True, students=["mixed"])
    assert forced.count("graded") == 1
    with course.gradebook() as gb:
        grades = {g.cell.name: g for nb in gb.find_submission(A, "mixed").notebooks for g in nb.grades}
        assert grades[cell].manual_score == 0.5 and grades[cell].needs_manual_grade
        assert grades[cell].auto_score == auto_before
        assert all(grades[c].manual_score is None for c in untouched)
        grades[cell].manual_score = None   # leave the shared course as the other tests expect
        gb.db.commit()


def _hidden_lines(course: Course) -> list[str]:
    return hidden_lines(course.source_dir(A) / "warmup.ipynb")


def test_feedback_shows_visible_results_but_never_hidden_source(graded):
    course, kinds, _ = graded
    pages = write_feedback(course, A)
    assert len(pages) == len(kinds)
    hidden = _hidden_lines(course)
    assert len(hidden) > 10
    import html

    for page in pages:
        text = html.unescape(page.read_text())
        leaked = [line for line in hidden if line in text]
        assert not leaked, (page, leaked)
    blank = html.unescape((course.feedback_dir("blank", A) / "warmup.html").read_text())
    assert "Test test_softplus_visible: failed (0 / 1)" in blank
    assert "NotImplementedError" in blank                      # the visible test's message
    naive = html.unescape((course.feedback_dir("mutant-softplus_naive", A) / "warmup.html").read_text())
    assert "Test test_softplus_visible: passed (1 / 1)" in naive
    assert "Test test_softplus_hidden: failed (0 / 2)" in naive


def test_export_csv_and_canvas_match_gradebook(graded):
    course, kinds, summary = graded
    totals = {o.student: o.score for o in summary.outcomes if o.status == "graded"}
    with open(export(course, "csv")) as fh:
        rows = [r for r in csv.DictReader(fh) if r["assignment"] == A]
    assert {r["student_id"]: float(r["score"]) for r in rows} == pytest.approx(
        {s: _total(course, s) for s in kinds})
    with open(export(course, "canvas")) as fh:
        table = list(csv.reader(fh))
    assert table[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert table[1][0].strip() == "Points Possible" and table[1][5] == "9"
    by_login = {r[3]: r[5] for r in table[2:]}
    assert float(by_login["reference"]) == 9 and float(by_login["blank"]) == 0
    assert set(totals) <= set(kinds)


def _total(course, student):
    return sum(v or 0 for v in _cell_scores(course, student).values())


def test_report_counts_failures_per_test(graded):
    course, kinds, _ = graded
    report = write_report(course, A)
    assert report.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    failed = {s.cell: s.failed for s in report.cells}
    for cell in failed:   # independent count straight from the gradebook
        expected = sum(_cell_scores(course, s)[cell] < _max(course, cell) for s in kinds)
        assert failed[cell] == expected
    assert failed["test_softplus_hidden"] >= 2          # blank and the naive softplus
    assert "Tests that failed the most students" in report.markdown_path.read_text()


def _max(course, cell):
    with course.gradebook() as gb:
        return gb.find_grade_cell(cell, "warmup", A).max_score


def test_cli_has_every_command_with_an_example(capsys):
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"][0]
    assert set(actions.choices) == {"release", "collect", "grade", "feedback", "export",
                                    "latedays", "status", "report", "similarity", "verify", "demo",
                                    "ray", "hub"}
    for name, sub in actions.choices.items():
        text = sub.format_help()
        assert "example:" in text and f"gradkit {name}" in text and "--course" in text


def test_cli_errors_name_the_problem(tmp_path, capsys):
    assert main(["grade", "a0_warmup", "--course", str(tmp_path)]) == 2
    assert "has no nbgrader_config.py" in capsys.readouterr().err
    course = Course.open(REPO_COURSE)
    scratch = scratch_course(course, tmp_path / "s", [A])
    assert main(["grade", "no_such", "--course", str(scratch.root)]) == 2
    err = capsys.readouterr().err
    assert "no source notebooks for assignment 'no_such'" in err and "a0_warmup" in err
    assert main(["grade", A, "--course", str(scratch.root)]) == 2
    assert "gradkit release a0_warmup" in capsys.readouterr().err


def _console_script() -> list[str]:
    """The installed ``gradkit`` command (gradkit.cli:main), or the same module run by python."""
    script = Path(sys.executable).parent / "gradkit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gradkit.cli"]


@pytest.mark.parametrize("argv, message", [
    (["grade", "no_such"], "gradkit grade: error: no source notebooks for assignment 'no_such'"),
    (["report", A], f"gradkit report: error: assignment '{A}' is not in the gradebook"),
])
def test_console_script_reports_bad_input_in_one_line(tmp_path, argv, message):
    """The kit's entry point goes through the same guard as ``python -m gradkit_autograder``."""
    scratch = scratch_course(Course.open(REPO_COURSE), tmp_path, [A])
    proc = subprocess.run(_console_script() + argv + ["--course", str(scratch.root)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr


def test_verify_passes_on_a0_and_catches_a_useless_mutant(graded, tmp_path, capsys):
    course, _, _ = graded
    scratch = scratch_course(Course.open(REPO_COURSE), tmp_path, [A])
    # a "wrong answer" that is actually the reference: it scores full marks, so verify must fail
    shutil.copytree(scratch.source_dir(A) / "mutants" / "softplus_naive",
                    scratch.source_dir(A) / "mutants" / "not_wrong")
    release(scratch, [A])
    from gradkit_autograder.grading.class_builder import reference_notebook

    good = reference_notebook(scratch.source_dir(A) / "warmup.ipynb", scratch.release_dir(A) / "warmup.ipynb")
    nbformat.write(good, str(scratch.source_dir(A) / "mutants" / "not_wrong" / "warmup.ipynb"))
    assert main(["verify", A, "--course", str(scratch.root), "--workers", "2"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"FAIL a0_warmup\s+mutant:not_wrong\s+9/9", out)
    assert re.search(r"ok\s+a0_warmup\s+reference\s+9/9", out)
    assert re.search(r"ok\s+a0_warmup\s+blank\s+0/9", out)
    assert re.search(r"ok\s+a0_warmup\s+mutant:softplus_naive\s+7/9", out)


def test_demo_runs_every_step_and_every_printed_file_exists(graded, tmp_path):
    """``gradkit demo`` on a course holding only a0 (on the fixture's Ray): the table and the files."""
    scratch = scratch_course(Course.open(REPO_COURSE), tmp_path / "src", [A])
    mutants = sorted(p.name for p in (scratch.source_dir(A) / "mutants").iterdir() if p.is_dir())
    out = io.StringIO()
    assert run_demo(str(scratch.root), workers=2, keep=str(tmp_path / "demo"), out=out) == 0
    text = out.getvalue()
    points = float(re.search(rf"released {A}: \d+ graded cells, (\d+) points", text).group(1))
    table = text.split("grade table:\n", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    scores = {row.split()[0]: row.split()[1] for row in table}
    assert set(scores) == {"reference", "blank"} | {f"mutant-{m}" for m in mutants}
    assert scores["reference"] == f"{points:g}/{points:g}" and scores["blank"] == f"0/{points:g}"
    for m in mutants:
        assert 0 < float(scores[f"mutant-{m}"].split("/")[0]) < points, m
    files = re.findall(r"^(?:export|report): +(\S+)$|^ {12}(\S+\.png)$", text, re.M)
    paths = [Path(a or b) for a, b in files]
    assert len(paths) == 4 and all(p.is_file() for p in paths), paths
    pages = list((tmp_path / "demo" / "course" / "feedback").rglob("*.html"))
    assert len(pages) == len(scores) and f"feedback:   {len(pages)} pages" in text
