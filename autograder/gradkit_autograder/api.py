"""The grader's Python API, for scripts: the functions behind each ``gradkit`` command.

Every name here is the very object the command line calls (``gradkit_autograder.cli``
imports the same functions from ``commands/``), so a script and the command do the
same thing; the commands only add printing. A course is opened once and passed to
every call::

    from gradkit_autograder.api import Course, collect, grade, release, write_feedback

    course = Course.open("course")                      # --course DIR; Course.open(dir, db_url) for --db
    release(course, ["a0_warmup"])                       # gradkit release a0_warmup
    collect(course, "submissions.zip", "a0_warmup")      # gradkit collect ... --assignment a0_warmup
    print(grade(course, "a0_warmup", workers=4).time_line())   # gradkit grade a0_warmup --workers 4
    write_feedback(course, "a0_warmup")                  # gradkit feedback a0_warmup

A user's mistake (an unknown assignment, nothing released, a bad ``assignment.yaml``)
raises one of ``CourseError``, ``GradeError``, ``SettingsError``, with a message that
says how to fix it. Importing this module loads nbgrader and numpy; hidden test cells
import only ``gradkit_autograder.kernel.channel``.
"""

from __future__ import annotations

from gradkit_autograder.commands.collect import collect
from gradkit_autograder.commands.demo import run_demo
from gradkit_autograder.commands.export import export
from gradkit_autograder.commands.feedback import write_feedback
from gradkit_autograder.commands.grade import GradeError, GradeSummary, grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.commands.report import write_report
from gradkit_autograder.commands.similarity import write_similarity
from gradkit_autograder.commands.term import term_table
from gradkit_autograder.commands.verify import verify
from gradkit_autograder.state.course import Course, CourseError
from gradkit_autograder.state.late_days import apply_late_days, set_due_date
from gradkit_autograder.state.scratch_course import scratch_course
from gradkit_autograder.state.settings import SettingsError

__all__ = [
    "Course", "CourseError", "GradeError", "GradeSummary", "SettingsError",
    "apply_late_days", "collect", "export", "grade", "release", "run_demo", "scratch_course",
    "set_due_date", "term_table", "verify", "write_feedback", "write_report", "write_similarity",
]
