"""gradkit_autograder: release, collect, grade, feedback and export, built on nbgrader.

Every step calls nbgrader's own apps and preprocessors; this package adds what a
large course needs around them. It is built in rooms, each a subpackage named
after its job; a room imports only itself and the rooms listed before it
(``tests/autograder/unit/test_rooms.py`` checks it):

- ``kernel``: everything that runs inside the student's kernel (the kernel side
  of the trusted channel, the launcher that applies the limits); copied whole
  into the sandbox, it imports nothing else of the grader.
- ``state``: what a course keeps: its folders and nbgrader configuration,
  per-assignment settings, nbgrader's conventions, the roster, submissions as
  they come in, the snapshot of a release, the driver-worker contract, the
  gradebook writer, the grading ledger, late days, scratch copies of a course.
- ``sandbox``: where a student's kernel runs: the isolation decision and launch
  line, the kernel manager, cgroups, the library view without withheld modules.
- ``judging``: deciding points outside the kernel: screening and metadata repair,
  the trusted checks, the own-code check, the decision and its reasons.
- ``grading``: running a batch: the plan, the Ray batch, one task per submission
  (the worker, its workspace and nbgrader set-up, the guarded ``Execute``,
  reading back), storing results, the class of stored answers ``verify`` grades.
- ``similarity``: winnowed fingerprints, the students' code, pair scores, the page.
- ``commands``: one module per ``gradkit`` verb (release, collect, grade,
  feedback, export, report, similarity, verify, demo, term, course_ray).
- ``cli`` (the subcommands) and ``api`` (the same functions, for scripts) on top.

Hidden test cells import ``gradkit_autograder.kernel.channel``, so this
``__init__`` (and every room's) imports nothing.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
