"""The autograder's ``gradkit`` subcommands.

The grader adds them to the kit's ``gradkit`` command through the entry point
``gradkit.commands`` (pyproject.toml): ``gradkit.cli`` calls every registered
``register(subparsers)`` and knows nothing of the grader. Each subcommand sets
``func``, a handler taking the parsed arguments and returning an exit code.
``python -m gradkit_autograder`` runs the same commands on their own.

Every handler is wrapped by ``_guarded``: a mistake of the user's (an unknown
assignment, a missing course, a bad ``assignment.yaml``, nothing released yet)
prints one line ``gradkit <command>: error: <what and how to fix it>`` and exits
with code 2, whichever of the two entry points ran it; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

EXAMPLES = {
    "release": "gradkit release a0_warmup        # or no name: every assignment",
    "collect": "gradkit collect ~/Downloads/submissions.zip --assignment a0_warmup",
    "grade": "gradkit grade a0_warmup --workers 8   # --address 127.0.0.1:6379: an existing Ray cluster",
    "feedback": "gradkit feedback a0_warmup   # course/feedback/<student>/a0_warmup/*.html",
    "export": "gradkit export --format canvas   # course/exports/canvas_grades.csv",
    "report": "gradkit report a0_warmup    # course/reports/a0_warmup/{report.md,scores.png}",
    "similarity": "gradkit similarity a1_gradients --archive ~/terms/2025-fall   # reports/a1_gradients/similarity.html",
    "verify": "gradkit verify              # every assignment; exit code 1 on a failure",
    "demo": "gradkit demo --workers 2",
    "ray": "gradkit ray start --workers 2   # later commands join it; gradkit ray stop ends it",
    "latedays": "gradkit latedays    # after editing due_dates.csv, extensions.csv or submission_times.csv",
    "status": "gradkit status alice    # no name: the whole class; course/reports/term.csv",
    "hub": "sudo gradkit hub start    # then open the printed address; `gradkit hub stop` ends it",
}


def _common() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--course", metavar="DIR", help="nbgrader course directory (default: "
                        "$GRADKIT_COURSE, ./course, or the kit's course/)")
    parent.add_argument("--db", metavar="URL", help="gradebook SQLAlchemy URL (default: "
                        "sqlite:///<course>/gradebook.db), e.g. postgresql://user@host/grades")
    return parent


USAGE_ERROR = 2


def user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that report a problem with the user's input, not a bug."""
    from gradkit_autograder.state.course import CourseError
    from gradkit_autograder.commands.grade import GradeError
    from gradkit_autograder.state.settings import SettingsError
    from gradkit.runtime import RayStartError
    from gradkit_autograder.commands.course_ray import CourseRayError

    return CourseError, GradeError, SettingsError, RayStartError, CourseRayError


def _guarded(name: str, handler):
    """``handler`` with the user's errors turned into one line on stderr and exit code 2.

    Run as root in a course folder another account owns (a hub's course account), what
    the command wrote there is given to that account afterwards.
    """
    def run(args) -> int:
        try:
            return handler(args)
        except user_errors() as err:
            print(f"gradkit {name}: error: {err}", file=sys.stderr)
            return USAGE_ERROR
        finally:
            from gradkit_autograder.state.course import give_back_to_owner

            if name not in ("demo", "verify"):
                give_back_to_owner(args.course)

    run.__doc__ = handler.__doc__
    return run


def _add(subparsers, name: str, help_text: str, description: str, handler):
    parser = subparsers.add_parser(
        name, help=help_text, parents=[_common()],
        description=textwrap.dedent(description).strip(),
        epilog="example:\n  " + EXAMPLES[name],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=_guarded(name, handler))
    return parser


def register(subparsers) -> None:
    """Add release, collect, grade, feedback, export, latedays, status, report, similarity, verify, demo,
    ray and hub."""
    p = _add(subparsers, "release", "make student versions of assignments", """
        Run nbgrader generate_assignment: solutions are replaced by stubs, hidden
        tests removed, every cell and the checksum of every locked cell recorded in
        the gradebook. Writes course/release/<assignment>/.""", _release)
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    p.add_argument("--due", metavar="WHEN", help="due date of the released assignment(s), e.g. "
                   "'2026-09-21 23:59:00 UTC' (late days count from it)")
    p.add_argument("--exchange", action="store_true", help="also put them in the course hub's exchange, "
                   "where students fetch them from JupyterLab's Assignments panel")

    p = _add(subparsers, "collect", "import submissions (folder or LMS zip)", """
        Import submissions into course/submitted/<student>/<assignment>/ with a
        timestamp.txt. PATH may be:
          - a folder with one sub-folder per student: <student>/<assignment>/*.ipynb
            or <student>/*.ipynb;
          - a zip of such folders;
          - a Canvas bulk download zip: <login>_<user id>_<submission id>_<file>
            (also <login>_LATE_...); Canvas's -1/-2 copy suffixes are removed.
        Anything not imported is listed with the reason.""", _collect)
    p.add_argument("path", metavar="PATH", nargs="?")
    p.add_argument("--exchange", action="store_true", help="collect from the course hub's exchange "
                   "instead of PATH: each student's newest submission, timed when the exchange received it")
    p.add_argument("--assignment", help="assignment of every submission (default: from the "
                   "folder name or the notebook names)")
    p.add_argument("--canvas-submissions", metavar="FILE", help="Canvas's submissions list of the "
                   "assignment (the JSON array of its submissions API): submission times for a "
                   "Canvas download, which carries none")

    p = _add(subparsers, "grade", "autograde submissions in parallel on Ray", """
        Autograde every new or changed submission of ASSIGNMENT, one Ray task per
        submission, on an embedded Ray (--workers CPUs) or an existing cluster
        (--address). nbgrader's autograde runs in each task; this process is the
        only gradebook writer. Ctrl-C stops after the result in hand: rerun to
        resume. Limits and resources come from assignments/<id>/assignment.yaml.""", _grade)
    p.add_argument("assignment", metavar="ASSIGNMENT")
    p.add_argument("--workers", type=int, help="CPUs of the embedded Ray (default: all)")
    p.add_argument("--address", help="address of a running Ray cluster, e.g. 127.0.0.1:6379 or "
                   "ray://host:10001 (default: the course's Ray from `gradkit ray start` if it runs, "
                   "else an embedded Ray)")
    p.add_argument("--force", action="store_true", help="regrade submissions already graded")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")

    p = _add(subparsers, "feedback", "write HTML feedback per student", """
        Write course/feedback/<student>/<assignment>/<notebook>.html: a summary table
        (cell, points, passed or why not: the visible test's message, or the
        grader's reason for a hidden check -- which result differed and by how
        much, a withheld library module used, time, memory or a dead kernel), the
        late-day line, then the student's notebook with maths rendered and plots
        kept; never a hidden test's source or an expected value.""", _feedback)
    p.add_argument("assignment", metavar="ASSIGNMENT")
    p.add_argument("--student", action="append", help="only this student's pages (repeatable)")
    p.add_argument("--release", action="store_true", help="also release the pages into the course hub's "
                   "exchange (nbgrader release_feedback): students fetch them in the Assignments panel")

    p = _add(subparsers, "export", "export grades as CSV", """
        csv: nbgrader's grades.csv (one row per student and assignment).
        canvas: a gradebook CSV Canvas imports (Student, ID, SIS User ID,
        SIS Login ID, Section, one column per assignment, a Points Possible row).""",
             _export)
    p.add_argument("--format", choices=["csv", "canvas"], default="csv")
    p.add_argument("--output", help="output file (default: course/exports/...)")

    p = _add(subparsers, "latedays", "apply the late-day policy to every grade", """
        Apply the syllabus's late-day policy (c.LateDays in nbgrader_config.py) to the
        whole gradebook: read course/due_dates.csv, extensions.csv and
        submission_times.csv, spend each student's bank in submission order and
        write every late penalty. grade runs this after every run, and export,
        feedback, report and status before they read a grade; run it yourself
        after changing those files to see what changed.""", _latedays)

    p = _add(subparsers, "status", "a student's term: scores, late days, bank left", """
        For each STUDENT (default: everyone), every assignment: due date (with
        extension), submission time, days late, late days used, score, late
        penalty and final score, then the total and the late days left in the
        bank. Writes the whole class to course/reports/term.csv.""", _status)
    p.add_argument("students", nargs="*", metavar="STUDENT")

    p = _add(subparsers, "report", "score table, distribution plot, failing tests", """
        For ASSIGNMENT: per-question scores, a grade-distribution plot (PNG), how
        many students each test failed, and every incident (time limits, crashed
        kernels, tampering) of the last grading run.""", _report)
    p.add_argument("assignment", metavar="ASSIGNMENT")
    p.add_argument("--archive", action="append", metavar="DIR", help="also compare with earlier terms' "
                   "submissions, DIR/<student>/<assignment>/*.ipynb (repeatable)")

    p = _add(subparsers, "similarity", "code shared between submissions (winnowing, as MOSS)", """
        Compare the code each student wrote in ASSIGNMENT (solution cells and cells
        they added; never the release's starter code, tests or markdown) with every
        other submission, the reference solution and, with --archive, earlier terms.
        Writes course/reports/<assignment>/similarity.html (pairs above the threshold,
        both students' code side by side, matching lines highlighted), similarity.csv
        (every pair) and similarity.png. A high score is a reason to look, not a
        verdict. Nothing leaves the course folder.""", _similarity)
    p.add_argument("assignment", metavar="ASSIGNMENT")
    p.add_argument("--archive", action="append", metavar="DIR", help="earlier terms' submissions, "
                   "DIR/<student>/<assignment>/*.ipynb or DIR/<student>/*.ipynb (repeatable)")
    p.add_argument("--threshold", type=float, help="show pairs scoring at least this (0-1; default: far "
                   "above the class: the median pair + 6 median absolute deviations, within 0.3-0.9)")

    p = _add(subparsers, "verify", "check reference, blank release and mutants", """
        For each assignment, in a temporary course: the reference solution must
        score full marks, the blank release zero on every autograded cell, and each
        wrong answer in assignments/<id>/mutants/<name>/ strictly in between.""", _verify)
    p.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    p.add_argument("--workers", type=int)

    p = _add(subparsers, "demo", "the whole pipeline in a temporary course", """
        Release every assignment into a fresh temporary course, build a small class
        (reference, blank, mutants), collect, grade in parallel, write feedback,
        export and report; print the grade table and where each file is. The
        course is left in place so that those files can be opened.""", _demo)
    p.add_argument("--workers", type=int)
    p.add_argument("--keep", metavar="DIR", help="build the demo course in DIR (new or empty) "
                   "instead of a new temporary folder")

    p = _add(subparsers, "ray", "a Ray for the course that later commands join", """
        start: start a Ray head on the loopback (no dashboard, its own temp folder) and
        note its address in course/.gradkit/ray.json; grade, verify and demo then join
        it instead of starting an embedded Ray each time (Ray's start-up is paid once).
        status: say whether it runs. stop: end exactly that Ray's processes.""", _ray)
    p.add_argument("action", choices=["start", "status", "stop"])
    p.add_argument("--workers", type=int, help="CPUs of the course's Ray (default: all)")

    p = _add(subparsers, "hub", "the course's JupyterHub: students fetch and submit in JupyterLab", """
        start: from c.CourseHub (nbgrader_config.py) and roster.csv, make the accounts,
        the course account, the exchange and the settings, then start JupyterHub with
        the shared formgrader; prints where to log in. stop: end what start started.
        status: what runs. add-users: accounts for people added to the roster since.
        Needs root. See course/hub_guide.md.""", _hub)
    p.add_argument("action", choices=["start", "status", "stop", "add-users"])
    p.add_argument("logins", nargs="*", metavar="LOGIN", help="add-users: only these (default: everyone)")


def _course(args):
    from gradkit_autograder.state.course import Course

    return Course.open(args.course, args.db)


# --- handlers ----------------------------------------------------------------------------

def _release(args) -> int:
    from gradkit_autograder.commands.release import release

    course = _course(args)
    for s in release(course, args.assignments or None):
        print(f"released {s.assignment}: {s.notebooks} notebook(s), {s.graded_cells} graded cells "
              f"({s.points:g} points), {s.locked_cells} checksummed locked cells -> {s.release_dir}")
        if args.due:
            from gradkit_autograder.state.late_days import set_due_date

            print(f"  due {set_due_date(course, s.assignment, args.due)} (UTC); late days count from it")
        if args.exchange:
            from gradkit_autograder.commands.hub import release_to_exchange

            print(f"  in the exchange: {release_to_exchange(course, s.assignment)} (students: Assignments panel)")
    return 0


def _collect(args) -> int:
    from gradkit_autograder.commands.collect import collect, collect_exchange

    summary = (collect_exchange(_course(args), args.assignment, also_path=args.path) if args.exchange
               else collect(_course(args), args.path, args.assignment, args.canvas_submissions))
    for student, assignment, stamp in summary.imported:
        print(f"imported  {student:<24} {assignment:<20} {stamp}")
    for student, assignment in summary.unchanged:
        print(f"unchanged {student:<24} {assignment}")
    for item, reason in summary.skipped:
        print(f"skipped   {item}: {reason}")
    for item, note in summary.notes:
        print(f"note      {item}: {note}")
    print(f"{len(summary.imported)} imported, {len(summary.unchanged)} unchanged, "
          f"{len(summary.skipped)} skipped")
    return 0


def _ray(args) -> int:
    import os

    from gradkit_autograder.commands import course_ray

    course = _course(args)
    if args.action == "start":
        ray = course_ray.start(course, args.workers or os.cpu_count() or 1)
        print(f"the course's Ray runs at {ray.address} ({ray.num_cpus} CPUs, temp folder {ray.temp_dir}); "
              f"grade, verify and demo join it; `gradkit ray stop` ends it")
    elif args.action == "status":
        ray = course_ray.running(course)
        print(f"running at {ray.address} ({ray.num_cpus} CPUs)" if ray else "not running")
    else:
        stopped = course_ray.stop(course)
        print(f"stopped the course's Ray ({stopped} processes)" if stopped else "the course's Ray was not running")
    return 0


def _grade(args) -> int:
    from gradkit_autograder.commands.grade import grade

    summary = grade(_course(args), args.assignment, workers=args.workers, address=args.address,
                    force=args.force, students=args.student)
    print(summary.report())
    if summary.interrupted:
        return 130
    return 1 if summary.count("failed") else 0


def _feedback(args) -> int:
    from gradkit_autograder.commands.feedback import write_feedback

    course = _course(args)
    paths = write_feedback(course, args.assignment, args.student)
    for path in paths:
        print(path)
    print(f"{len(paths)} feedback file(s) written")
    if args.release:
        from gradkit_autograder.commands.hub import release_feedback

        released = release_feedback(course, args.assignment, args.student)
        print(f"released into the exchange for {len(released)} student(s) who submitted there: "
              f"{', '.join(released) or 'none'}")
    return 0


def _hub(args) -> int:
    from gradkit_autograder.commands.hub import run

    return run(_course(args), args.action, args.logins, out=sys.stdout)


def _export(args) -> int:
    from gradkit_autograder.commands.export import export

    path = export(_course(args), args.format, args.output)
    print(f"wrote {path}")
    return 0


def _latedays(args) -> int:
    from gradkit_autograder.state.late_days import apply_late_days

    print(apply_late_days(_course(args)).report())
    return 0


def _status(args) -> int:
    from gradkit_autograder.commands.term import format_student, term_table

    rows, path, applied = term_table(_course(args), args.students or None)
    for student in dict.fromkeys(r.student for r in rows):
        print(format_student([r for r in rows if r.student == student], applied.policy.free_days))
    print(f"the whole class: {path}")
    return 0


def _report(args) -> int:
    from gradkit_autograder.commands.report import write_report

    report = write_report(_course(args), args.assignment, archives=args.archive)
    print(report.text)
    print(f"files: {report.markdown_path}, {report.plot_path}, {report.csv_path}")
    return 0


def _similarity(args) -> int:
    from gradkit_autograder.commands.similarity import write_similarity

    report = write_similarity(_course(args), args.assignment, args.archive, args.threshold)
    print("\n".join(report.summary))
    for p in report.flagged[:20]:
        print(f"{p.score:5.2f}  {p.a} / {p.b}  (shares {p.share_a:.2f} / {p.share_b:.2f}, "
              f"{p.tokens_a} / {p.tokens_b} tokens)")
    if len(report.flagged) > 20:
        print(f"... and {len(report.flagged) - 20} more in the HTML")
    print(f"files: {report.html_path}, {report.csv_path}, {report.plot_path}")
    return 0


def _verify(args) -> int:
    from gradkit_autograder.commands.verify import verify

    ok = verify(_course(args), args.assignments or None, workers=args.workers, out=sys.stdout)
    return 0 if ok else 1


def _demo(args) -> int:
    from gradkit_autograder.commands.demo import run_demo

    return run_demo(args.course, args.db, workers=args.workers, keep=args.keep, out=sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradkit", description="gradkit autograder commands")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
