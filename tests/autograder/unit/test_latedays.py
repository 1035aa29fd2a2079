"""Late days: the syllabus's policy, by hand-worked cases, properties, and on a gradebook.

The oracle for the class test is worked out by hand from the syllabus (3 free
days, then 10% of the assignment per day, nothing after 7 days) and checked
through nbgrader's own CSV export, which subtracts the penalty itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil

import pytest
from hypothesis import given, strategies as st

from gradkit_autograder.state.course import CONFIG_FILE, Course, CourseError
from gradkit_autograder.commands.export import canvas_rows, export
from gradkit_autograder.state.late_days import (Policy, Submitted, apply_late_days, days_late, decide,
                                         penalty_points, set_due_date)
from support import REPO_COURSE

DUE = dt.datetime(2026, 9, 14, 23, 59)
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)


def test_days_are_whole_and_rounded_up():
    assert days_late(DUE - D, DUE) == 0
    assert days_late(DUE, DUE) == 0
    assert days_late(DUE + dt.timedelta(seconds=1), DUE) == 1
    assert days_late(DUE + D, DUE) == 1
    assert days_late(DUE + D + H, DUE) == 2
    assert days_late(None, DUE) == 0 and days_late(DUE, None) == 0


def test_bank_is_spent_in_submission_order_then_ten_percent_a_day():
    subs = [Submitted("a2", DUE + 7 * D + 2 * D + H, DUE + 7 * D),    # 3 days late, submitted second
            Submitted("a1", DUE + 2 * H, DUE),                         # 1 day late, submitted first
            Submitted("a3", DUE + 14 * D + 8 * D + H, DUE + 14 * D),   # 9 days late: refused
            Submitted("a4", DUE + 21 * D + 2 * D, DUE + 21 * D)]       # 2 days late, bank empty
    got = {d.assignment: d for d in decide(subs)}
    assert [d.assignment for d in decide(subs)] == ["a1", "a2", "a3", "a4"]
    assert (got["a1"].late_days_used, got["a1"].penalised_days, got["a1"].late_days_left) == (1, 0, 2)
    assert (got["a2"].late_days_used, got["a2"].penalised_days, got["a2"].late_days_left) == (2, 1, 0)
    assert not got["a3"].accepted and got["a3"].late_days_used == 0
    assert (got["a4"].late_days_used, got["a4"].penalised_days) == (0, 2)
    assert penalty_points(got["a2"], 8.0, 10.0) == pytest.approx(1.0)      # 10% of 10 points
    assert penalty_points(got["a4"], 8.0, 10.0) == pytest.approx(2.0)
    assert penalty_points(got["a4"], 1.5, 10.0) == pytest.approx(1.5)      # never below zero
    assert penalty_points(got["a3"], 9.0, 10.0) == 9.0                     # refused: zero
    text = got["a4"].describe(Policy(), 2.0, 10.0)
    assert "2 days late" in text and "0 of 3 left in your bank" in text and "2 points taken" in text
    assert "not accepted" in got["a3"].describe(Policy(), 9.0, 10.0)


def test_grace_minutes_and_rounding_to_the_cent():
    policy = Policy(grace_minutes=30, decimals=2)
    assert days_late(DUE + dt.timedelta(minutes=30), DUE, policy) == 0
    assert days_late(DUE + dt.timedelta(minutes=31), DUE, policy) == 1
    late = decide([Submitted("a", DUE + 4 * D, DUE)], Policy(free_days=3))[0]
    assert penalty_points(late, 3.0, 3.3333, policy) == 0.33          # 10% of 3.3333, to the cent


def test_policy_is_read_from_the_course_configuration(tmp_path):
    from traitlets.config import Config

    config = Config()
    config.LateDays.free_days = 2
    config.LateDays.penalty_per_day = 0.25
    assert Policy.from_config(config) == Policy(free_days=2, penalty_per_day=0.25)
    assert Policy.from_config(Config()) == Policy()
    config.LateDays.bank = 5
    with pytest.raises(CourseError, match=r"LateDays has no setting \['bank'\]"):
        Policy.from_config(config)
    bad = Config()
    bad.LateDays.free_days = 2.5
    with pytest.raises(CourseError, match="free_days must be a whole number"):
        Policy.from_config(bad)
    bad.LateDays.free_days = -1
    with pytest.raises(CourseError, match="free_days"):
        Policy.from_config(bad)
    # the course's own file states the syllabus
    assert Policy.from_config(Course.open(REPO_COURSE).config) == Policy(3, 0.10, 7, 0, 2)


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError, match="penalty_per_day"):
        Policy(penalty_per_day=1.5)


@given(st.lists(st.tuples(st.integers(-5 * 86400, 12 * 86400), st.integers(0, 30)), max_size=8),
       st.integers(0, 5))
def test_properties_of_any_term(offsets, free):
    policy = Policy(free_days=free)
    subs = [Submitted(f"a{i}", DUE + dt.timedelta(days=i * 10, seconds=late), DUE + dt.timedelta(days=i * 10))
            for i, (late, _) in enumerate(offsets)]
    decisions = decide(subs, policy)
    assert sum(d.late_days_used for d in decisions) <= free
    by_name = {d.assignment: d for d in decisions}
    assert [d.assignment for d in decisions] == [s.assignment for s in sorted(subs, key=lambda s: s.submitted)]
    for sub in subs:
        d = by_name[sub.assignment]
        seconds = int((sub.submitted - sub.due).total_seconds())
        assert d.days_late == max(0, -(-seconds // 86400))                 # ceil by integers
        if d.accepted:
            assert d.late_days_used + d.penalised_days == d.days_late
            assert 0 <= penalty_points(d, 7.0, 10.0, policy) <= 7.0
        else:
            assert d.days_late > policy.max_days_late and penalty_points(d, 7.0, 10.0, policy) == 7.0
    lefts = [d.late_days_left for d in decisions]
    assert lefts == sorted(lefts, reverse=True)


# --- a class in a gradebook ---------------------------------------------------------------------

CLASS = {   # student -> {assignment: submission time}; a1 due DUE, a2 due DUE + 7 days
    "early": {"a1": DUE - 2 * D, "a2": DUE + 6 * D},
    "ontime": {"a1": DUE, "a2": DUE + 7 * D},
    "late": {"a1": DUE + 3 * H, "a2": DUE + 7 * D + 2 * D + 3 * H},        # 1 + 3 days: 1 day paid
    "toolate": {"a1": DUE + 8 * D + H, "a2": DUE + 7 * D + 2 * D},          # a1 refused, a2 free
    "extended": {"a1": DUE + 3 * H, "a2": DUE + 7 * D + 2 * D + 3 * H},     # as "late", 3-day extension on a2
}
EXPECTED_PENALTY = {("late", "a2"): 1.0, ("toolate", "a1"): 10.0}          # 10% of 10; all of 10


@pytest.fixture
def gradebook_course(tmp_path):
    (tmp_path / "course").mkdir()
    shutil.copyfile(REPO_COURSE / CONFIG_FILE, tmp_path / "course" / CONFIG_FILE)
    course = Course.open(tmp_path / "course")
    with course.gradebook() as gb:
        for a, due in (("a1", DUE), ("a2", DUE + 7 * D)):
            gb.add_assignment(a, duedate=due)
            gb.add_notebook("nb", a)
            gb.add_grade_cell("q", "nb", a, max_score=10, cell_type="code")
        for student, times in CLASS.items():
            gb.add_student(student)
            for a, when in times.items():
                gb.add_submission(a, student, timestamp=when)
                gb.find_grade("q", "nb", a, student).auto_score = 10.0
        gb.db.commit()
    (course.root / "extensions.csv").write_text("student,assignment,days\nextended,a2,3\n")
    # a Canvas submission collected without a time gets it from submission_times.csv
    with course.gradebook() as gb:
        gb.find_submission("a1", "late").timestamp = None
        gb.db.commit()
    (course.root / "submission_times.csv").write_text(
        f"student,assignment,submitted\nlate,a1,{CLASS['late']['a1'].isoformat()} UTC\n")
    return course


def test_class_with_early_ontime_late_toolate_and_an_extension(gradebook_course):
    course = gradebook_course
    decisions = apply_late_days(course).decisions
    assert decisions["late"]["a2"].late_days_left == 0 and decisions["extended"]["a2"].late_days_left == 2
    assert decisions["toolate"]["a2"].late_days_left == 1     # a1 was refused, used nothing; a2 used 2
    with course.gradebook() as gb:
        for student, times in CLASS.items():
            for a in times:
                sub = gb.find_submission(a, student)
                assert sub.late_submission_penalty == pytest.approx(EXPECTED_PENALTY.get((student, a), 0.0)), \
                    (student, a)
        canvas = {r[3]: r[5:] for r in canvas_rows(gb)[2:]}
    with open(export(course, "csv")) as fh:       # nbgrader's own export subtracts the penalty
        rows = {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(fh)}
    for (student, a), score in rows.items():
        assert score == pytest.approx(10.0 - EXPECTED_PENALTY.get((student, a), 0.0))
    assert [float(x) for x in canvas["late"]] == [10.0, 9.0]
    assert [float(x) for x in canvas["toolate"]] == [0.0, 10.0]
    # applying twice changes nothing
    apply_late_days(course)
    with course.gradebook() as gb:
        assert gb.find_submission("a2", "late").late_submission_penalty == pytest.approx(1.0)


def test_report_shows_days_used_and_left_and_only_tests_that_failed_someone(gradebook_course):
    from gradkit_autograder.commands.report import write_report

    apply_late_days(gradebook_course)
    report = write_report(gradebook_course, "a2")
    text = report.markdown_path.read_text()
    assert "- late: 3 days late, 2 late days used, 0 of 3 left, penalty 1 points" in text
    assert "- extended: 0 days late, 0 late days used, 2 of 3 left, penalty 0 points" in text
    failing = text.split("## Tests that failed the most students")[1].split("##")[0]
    assert "none: every student passed every test" in failing and "failed by 0" not in text
    assert report.totals["late"] == pytest.approx(9.0)
    assert "not accepted" in write_report(gradebook_course, "a1").markdown_path.read_text()


def test_set_due_date_moves_the_deadline_and_rejects_nonsense(gradebook_course):
    set_due_date(gradebook_course, "a2", (DUE + 10 * D).isoformat() + " UTC")   # everyone on time now
    decisions = apply_late_days(gradebook_course).decisions
    assert decisions["late"]["a2"].days_late == 0 and decisions["late"]["a2"].late_days_left == 2
    with pytest.raises(CourseError, match="not a date"):
        set_due_date(gradebook_course, "a2", "next tuesday-ish")


def test_an_lms_late_mark_without_a_time_is_said_everywhere_a_late_day_is_listed(gradebook_course, capsys):
    from gradkit_autograder.cli import main
    from gradkit_autograder.state.late_days import LMS_LATE_MARK
    from gradkit_autograder.commands.report import write_report

    course = gradebook_course
    (course.root / "submission_times.csv").unlink()            # "late"'s a1 has no time now
    folder = course.submitted_dir("late", "a1")
    folder.mkdir(parents=True)
    (folder / LMS_LATE_MARK).write_text("Canvas marked this submission LATE\n")
    assert apply_late_days(course).marked_late_without_time == [("late", "a1")]
    assert main(["latedays", "--course", str(course.root)]) == 0
    out = capsys.readouterr().out
    assert "late a1" not in out and "marked it LATE but gave no time" in out
    assert "late  toolate" in out and "not accepted" in out
    text = write_report(course, "a1").markdown_path.read_text()
    assert "- late: the LMS marked this submission LATE but gave no submission time" in text


def test_latedays_and_status_commands_report_a_bad_policy_in_one_line(gradebook_course, capsys):
    from gradkit_autograder.cli import main

    config = gradebook_course.root / CONFIG_FILE
    config.write_text(config.read_text() + "\nc.LateDays.penalty_per_day = 'ten percent'\n")
    assert main(["latedays", "--course", str(gradebook_course.root)]) == 2
    err = capsys.readouterr().err
    assert "gradkit latedays: error: nbgrader_config.py: c.LateDays.penalty_per_day must be a number" in err
