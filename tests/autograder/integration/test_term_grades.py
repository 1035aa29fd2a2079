"""A whole term's grades, end to end, against an oracle written apart from state/late_days.py.

A course of 40 students over a0-a3 goes through what a term does, every step by a
`gradkit` command (the same parser and handlers as the console script): release
with due dates, collect (on time, inside the bank, past it, refused), grade,
resubmissions (the later one counts, its time too), an extension granted before
grading and one granted afterwards, a TA's manual grade over an autograded cell,
and a regrade after the instructor fixes a test's points. Then every place a grade
is shown (nbgrader's grades.csv, the Canvas CSV, the feedback pages, the reports
and `gradkit status`'s term.csv) must equal, to the cent, the final table that
``expected_finals`` computes from the syllabus's rules by itself.

Submissions are copies of a few distinct notebooks (reference, blank, one stored
wrong answer, the reference with tampered cell metadata), so a raw score is known
per kind: the oracle takes it from the reference's full marks, the blank's zero,
and for the wrong answer from the gradebook, checking every copy scored the same.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from gradkit.runtime import ray_session
from gradkit_autograder.grading.class_builder import build_class
from gradkit_autograder.cli import main
from gradkit_autograder.state.course import Course
from gradkit_autograder.state.scratch_course import scratch_course
from support import REPO_COURSE

pytestmark = pytest.mark.slow
A0, A1, A2, A3 = "a0_warmup", "a1_gradients", "a2_tensor_autodiff", "a3_nets_sgd"
TERM = (A0, A1, A2, A3)
MUTANT = {A0: "softplus_naive", A1: "dual_division_sign", A2: "div_vjp_sign", A3: "arctan_backward_sign"}
DAY = dt.timedelta(days=1)
H = dt.timedelta(hours=1)
DUE = {a: dt.datetime(2026, 9, 7, 23, 59) + i * 7 * DAY for i, a in enumerate(TERM)}
# the syllabus, as course/nbgrader_config.py states it
FREE_DAYS, PER_DAY, MAX_LATE = 3, 0.10, 7
# the instructor's scenario: a0 handed in 0, 2, 5 and 9 days late, then a1 one day late
SCENARIO = {"ontime": -H, "late2": 2 * DAY - 2 * H, "late5": 4 * DAY + 3 * H, "late9": 8 * DAY + H}
N_STUDENTS = 40
# who hands each one in: fewer as the term goes on, and a3 (whose notebook trains a model
# even when blank, about 4 s of kernel time) kept small so the term grades in minutes
HANDED_IN = {A0: 1.0, A1: 0.75, A2: 0.7, A3: 0.35}


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _plan(rng: random.Random) -> dict[tuple[str, str], tuple[str, dt.timedelta]]:
    """(student, assignment) -> (kind, time after the due date), for the first hand-in."""
    plan = {(s, A0): ("reference", offset) for s, offset in SCENARIO.items()}
    plan[("late5", A1)] = ("reference", DAY - H)
    lateness = [(-3 * DAY, -H), (H, 3 * DAY - H), (3 * DAY + H, 7 * DAY - H), (7 * DAY + H, 10 * DAY)]
    for i in range(N_STUDENTS - len(SCENARIO)):
        student = f"s{i:02d}"
        for a in TERM:
            if rng.random() > HANDED_IN[a]:
                continue                                      # did not hand this one in
            kind = rng.choices(["reference", "mutant", "blank", "tampered"],
                               [4, 2, 3, 1] if a == A0 else [2, 2, 6, 0] if a != A3 else [1, 1, 8, 0])[0]
            low, high = lateness[rng.choices(range(4), [55, 25, 12, 8])[0]]
            offset = low + (high - low) * rng.random()
            plan[(student, a)] = (kind, dt.timedelta(minutes=round(offset.total_seconds() / 60)))
    return plan


def _tampered(nb):
    """The reference with cell metadata edited as copy/paste and merge tools do it."""
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    graded[0].metadata["nbgrader"]["points"] = 50
    graded[1].metadata["nbgrader"]["grade"] = False
    graded[2].metadata["nbgrader"]["grade_id"] = "mine"
    graded[3].metadata["nbgrader"]["locked"] = False
    return nb


def _hand_in(course: Course, kinds_dir: Path, dest: Path, student: str, a: str, kind: str, when: dt.datetime):
    """Write one submission folder (<dest>/<student>/<assignment>/) of the given kind."""
    folder = dest / student / a
    src = kinds_dir / a / ("mutant-" + MUTANT[a] if kind == "mutant" else
                           "reference" if kind == "tampered" else kind) / a
    shutil.copytree(src, folder)
    if kind == "tampered":
        for path in folder.glob("*.ipynb"):
            nbformat.write(_tampered(nbformat.read(str(path), as_version=4)), str(path))
    (folder / "timestamp.txt").write_text(_stamp(when))


def _run(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    base = tmp_path_factory.mktemp("term")
    course = scratch_course(Course.open(REPO_COURSE), base, list(TERM))
    root = str(course.root)
    rng = random.Random(20261206)
    plan = _plan(rng)
    students = sorted({s for s, _ in plan})
    with open(course.root / "roster.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "first_name", "last_name", "email", "lms_user_id"])
        for i, s in enumerate(students):
            writer.writerow([s, s.capitalize(), "Student", f"{s}@example.edu", 500000 + i])
    for a in TERM:
        _run("release", a, "--due", _stamp(DUE[a]), "--course", root)
        build_class(course, a, base / "kinds" / a)
    for (s, a), (kind, offset) in plan.items():
        _hand_in(course, base / "kinds", base / "first", s, a, kind, DUE[a] + offset)
    events = {"submitted": {k: DUE[k[1]] + off for k, (_, off) in plan.items()},
              "kind": {k: kind for k, (kind, _) in plan.items()}}
    # an extension granted before grading: a student past the bank on a2 gets 3 days
    past = sorted(k for k, off in plan.items() if k[1] == A2 and 3 * DAY < off[1] <= 7 * DAY)
    extensions = {past[0]: 3}
    (course.root / "extensions.csv").write_text(
        "student,assignment,days\n" + "".join(f"{s},{a},{d}\n" for (s, a), d in extensions.items()))

    # one Ray for the whole term, around the commands (each `gradkit grade` joins it, and its
    # workers, with nbgrader imported, serve every run; `gradkit ray start` is tested elsewhere)
    with ray_session(None, num_cpus=2, what="the term test", quiet=True):
        _run("collect", str(base / "first"), "--course", root)
        for a in TERM:
            _run("grade", a, "--course", root)
        # the instructor's scenario, as the LMS would receive it now
        _run("export", "--format", "canvas", "--course", root)
        _run("export", "--course", root)
        _run("feedback", A0, *[f"--student={s}" for s in SCENARIO], "--course", root)
        _run("feedback", A1, "--student=late5", "--course", root)
        scenario = {"canvas": _canvas(course), "csv": _grades_csv(course),
                    "pages": {s: _page_total(course, s, A0) for s in SCENARIO} |
                    {("late5", A1): _page_total(course, "late5", A1)}}

        # resubmissions: the later hand-in counts, and so does its time
        resubmit = [k for k in sorted(plan) if k[1] == A1 and events["kind"][k] == "blank"][:3]
        for i, (s, a) in enumerate(resubmit):
            when = events["submitted"][(s, a)] + (i + 1) * DAY + 2 * H
            _hand_in(course, base / "kinds", base / "second", s, a, "reference", when)
            events["submitted"][(s, a)], events["kind"][(s, a)] = when, "reference"
        _run("collect", str(base / "second"), "--course", root)
        _run("grade", A1, "--course", root)

        # a TA's manual grade over one autograded cell (what formgrader writes)
        manual = next(k for k in sorted(plan) if k[1] == A1 and events["kind"][k] == "mutant")
        with course.gradebook() as gb:
            grade = next(g for nb in gb.find_submission(A1, manual[0]).notebooks for g in nb.grades
                         if g.max_score > 1 and g.auto_score < g.max_score)
            grade.manual_score = grade.max_score - 0.5
            manual_change = grade.manual_score - grade.auto_score
            gb.db.commit()

        # an extension granted after grading, to the least late refused hand-in (not a scenario one)
        refused = min((t - DUE[k[1]], k) for k, t in events["submitted"].items()
                      if t - DUE[k[1]] > MAX_LATE * DAY and k[0] not in SCENARIO)[1]
        extensions[refused] = 3
        (course.root / "extensions.csv").write_text(
            "student,assignment,days\n" + "".join(f"{s},{a},{d}\n" for (s, a), d in extensions.items()))
        _run("latedays", "--course", root)

        # the instructor fixes a0's hidden softplus test: worth 3 points, not 2; regrade all
        source = course.source_dir(A0) / "warmup.ipynb"
        nb = nbformat.read(str(source), as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_softplus_hidden":
                cell.metadata["nbgrader"]["points"] = 3
        nbformat.write(nb, str(source))
        _run("release", A0, "--course", root)
        _run("grade", A0, "--force", "--course", root)

        for a in TERM:
            _run("feedback", a, "--course", root)
            _run("report", a, "--course", root)
        _run("export", "--format", "canvas", "--course", root)
        _run("export", "--course", root)
        _run("status", "--course", root)
    yield {"course": course, "events": events, "extensions": extensions, "scenario": scenario,
           "manual": (manual, manual_change), "students": students, "later_extension": refused}


# --- the oracle: the syllabus's rules, written apart from state/late_days.py ----------------------

def expected_finals(raw: dict, submitted: dict, due: dict, max_score: dict, students) -> tuple[dict, dict]:
    """(student, assignment) -> final score to the cent (None: not handed in), and which rule applied."""
    finals, rule = {}, {}
    for s in students:
        bank = FREE_DAYS
        mine = sorted((submitted[(s, a)], a) for a in TERM if (s, a) in submitted)
        for when, a in mine:
            late_s = (when - due[(s, a)]).total_seconds()
            days = math.ceil(late_s / 86400) if late_s > 0 else 0
            if days > MAX_LATE:
                finals[(s, a)], rule[(s, a)] = 0.0, "refused"
                continue
            free = min(bank, days)
            bank -= free
            taken = min(raw[(s, a)], round((days - free) * PER_DAY * max_score[a], 2))
            finals[(s, a)] = round(raw[(s, a)] - taken, 2)
            rule[(s, a)] = "on time" if not days else "bank" if days == free else "penalised"
        for a in TERM:
            finals.setdefault((s, a), None)
    return finals, rule


def _raw_scores(course: Course, events: dict, manual) -> dict:
    """Raw score per hand-in from its kind; the wrong answer's from the gradebook, all copies equal."""
    (manual_key, manual_change) = manual
    with course.gradebook() as gb:
        max_score = {a: gb.find_assignment(a).max_score for a in TERM}
        graded = {(s.student.id, a): s.score for a in TERM for s in gb.assignment_submissions(a)}
    raw = {}
    for key, kind in events["kind"].items():
        if kind in ("reference", "tampered"):
            raw[key] = max_score[key[1]]
        elif kind == "blank":
            raw[key] = 0.0
    for a in TERM:
        mutant = {graded[k] for k, kind in events["kind"].items()
                  if k[1] == a and kind == "mutant" and k != manual_key}
        assert len(mutant) <= 1, f"copies of one wrong answer scored differently on {a}: {mutant}"
        for k, kind in events["kind"].items():
            if k[1] == a and kind == "mutant":
                raw[k] = next(iter(mutant)) if mutant else graded[k] - manual_change
    raw[manual_key] += manual_change
    return raw, max_score


def _expected(term) -> tuple[dict, dict]:
    course, events = term["course"], term["events"]
    raw, max_score = _raw_scores(course, events, term["manual"])
    due = {(s, a): DUE[a] + term["extensions"].get((s, a), 0) * DAY for s in term["students"] for a in TERM}
    finals, rule = expected_finals(raw, events["submitted"], due, max_score, term["students"])
    return finals, rule


# --- what the course shows ---------------------------------------------------------------------------------

def _canvas(course: Course) -> dict:
    with open(course.root / "exports" / "canvas_grades.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    return {(r[3], a): (float(r[header.index(a)]) if r[header.index(a)] else None)
            for r in rows[2:] for a in TERM}


def _grades_csv(course: Course) -> dict:
    with open(course.root / "exports" / "grades.csv", newline="") as fh:
        return {(r["student_id"], r["assignment"]): (float(r["score"]) if r["timestamp"] else None)
                for r in csv.DictReader(fh)}


def _page_total(course: Course, student: str, a: str) -> float | None:
    pages = list(course.feedback_dir(student, a).glob("*.html"))
    if not pages:
        return None
    found = re.search(r"score <b>([0-9.]+) / ", pages[0].read_text())
    return float(found[1])


def _report_totals(course: Course, a: str) -> dict:
    text = (course.root / "reports" / a / "report.md").read_text()
    section = text.split("## Scores")[1].split("##")[0]
    return {(m[1], a): float(m[2]) for m in re.finditer(r"^- (\S+): ([0-9.]+)$", section, re.M)}


def _term_csv(course: Course) -> dict:
    with open(course.root / "reports" / "term.csv", newline="") as fh:
        return {(r["student"], r["assignment"]): (float(r["final"]) if r["score"] else None)
                for r in csv.DictReader(fh)}


# --- the tests ------------------------------------------------------------------------------------------------

def test_the_instructors_scenario_gives_9_9_7_2_0_and_45_9(term):
    got = term["scenario"]
    want = {("ontime", A0): 9.0, ("late2", A0): 9.0, ("late5", A0): 7.2, ("late9", A0): 0.0,
            ("late5", A1): 45.9}
    for key, value in want.items():
        assert got["canvas"][key] == pytest.approx(value, abs=0.005), ("canvas", key)
        assert got["csv"][key] == pytest.approx(value, abs=0.005), ("grades.csv", key)
    for student in SCENARIO:
        assert got["pages"][student] == pytest.approx(want[(student, A0)], abs=0.005), ("page", student)
    assert got["pages"][("late5", A1)] == pytest.approx(45.9, abs=0.005)


def test_the_canvas_export_equals_the_syllabus_oracle_to_the_cent(term):
    expected, rule = _expected(term)
    got = _canvas(term["course"])
    wrong = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
    assert not wrong, f"Canvas export vs the syllabus (got, expected): {wrong}"
    assert len(term["students"]) >= 40 and len(rule) >= 95
    # the term went through every rule of the syllabus, more than once
    counts = {r: list(rule.values()).count(r) for r in ("on time", "bank", "penalised", "refused")}
    assert min(counts.values()) >= 2, counts


def test_every_place_a_grade_is_shown_agrees(term):
    course = term["course"]
    expected, _ = _expected(term)
    sources = {"grades.csv": _grades_csv(course), "term.csv": _term_csv(course)}
    for key, want in expected.items():
        for name, got in sources.items():
            assert got.get(key) == pytest.approx(want, abs=0.005) if want is not None else got.get(key) is None, \
                (name, key, got.get(key), want)
    for a in TERM:
        totals = _report_totals(course, a)
        for (s, _), want in ((k, v) for k, v in expected.items() if k[1] == a and v is not None):
            assert totals[(s, a)] == pytest.approx(want, abs=0.005), ("report", s, a)
            assert _page_total(course, s, a) == pytest.approx(want, abs=0.005), ("feedback page", s, a)


def test_the_feedback_page_states_days_bank_and_points_taken(term):
    course = term["course"]
    page = next(course.feedback_dir("late5", A0).glob("*.html")).read_text()
    assert "Submitted 5 days late: 3 days from your bank used, 0 of 3 left in your bank." in page
    assert "2 days past the bank at 10% of the 10 points each: 2 points taken." in page
    page = next(course.feedback_dir("late9", A0).glob("*.html")).read_text()
    assert "not accepted, scored 0" in page and "score <b>0 / 10</b>" in page


def test_tampered_metadata_is_repaired_and_recorded_not_punished(term):
    course, events = term["course"], term["events"]
    tampered = [k for k, kind in events["kind"].items() if kind == "tampered"]
    assert tampered
    with course.gradebook() as gb:
        for s, a in tampered:
            assert gb.find_submission(a, s).score == gb.find_assignment(a).max_score, (s, a)
    lines = (course.root / "reports" / A0 / "report.md").read_text().splitlines()
    for s, _ in tampered:
        assert any(line.startswith(f"- {s}: ") and "restored from the release" in line for line in lines), s


def test_resubmission_time_and_the_later_extension_count(term):
    course, events = term["course"], term["events"]
    rows = list(csv.DictReader(open(course.root / "reports" / "term.csv")))
    s, a = term["later_extension"]
    row = next(r for r in rows if r["student"] == s and r["assignment"] == a)
    assert row["accepted"] == "True" and int(row["days_late"]) <= MAX_LATE
    with course.gradebook() as gb:
        for (student, assignment), kind in events["kind"].items():
            if assignment == A1 and kind == "reference":
                sub = gb.find_submission(A1, student)
                assert sub.timestamp == events["submitted"][(student, A1)]


def test_gradkit_status_shows_one_students_term(term, capsys):
    course = term["course"]
    assert main(["status", "late5", "--course", str(course.root)]) == 0
    out = capsys.readouterr().out
    assert "late5" in out and "a0_warmup" in out and "a1_gradients" in out
    assert re.search(r"late days used 3 of 3, 0 left", out)
    assert main(["status", "nobody", "--course", str(course.root)]) == 2
    assert "no student nobody" in capsys.readouterr().err
