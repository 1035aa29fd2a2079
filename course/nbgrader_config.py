"""nbgrader configuration for the gradkit course directory.

This folder is the nbgrader *course directory*: nbgrader writes ``release/``,
``submitted/``, ``autograded/`` and ``feedback/`` here, and the gradebook
(``gradebook.db``, SQLite) lives here unless ``CourseDirectory.db_url`` names
another database. The instructor's source notebooks are NOT kept here: they live
in ``../assignments/<assignment_id>/`` so that the repository has one home for
assignments. nbgrader builds every path as ``root/<step>/<student>/<assignment>``
with ``os.path.join``, so a relative ``source_directory`` of ``../assignments``
resolves to the sibling folder (``root/../assignments/./<assignment>``) and works
with all of nbgrader's apps, ``nbgrader generate_assignment`` included.

Run nbgrader from this folder (``cd course && nbgrader generate_assignment a0_warmup``)
or use ``gradkit`` (``gradkit release a0_warmup``), which reads this file too.
"""

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "gradkit"
c.CourseDirectory.source_directory = "../assignments"

# Everything in an assignment folder except the notebooks is copied into the
# student release by nbgrader, so the grader-only files are ignored here:
# wrong-answer submissions used by `gradkit verify`, the per-assignment settings
# and the authoring notes.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "mutants",
    "assignment.yaml",
    "README.md",
]

# The stub a student sees in place of a reference solution.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}

# The syllabus's late-day policy (gradkit_autograder/state/late_days.py applies it after every
# `gradkit grade`, and `gradkit latedays`, export, feedback, report and status recompute
# it): a bank of late days per student for the term, spent in submission order; past
# the bank each day late costs a share of the assignment's points; later than
# max_days_late is not accepted (zero). Days are whole days, rounded up.
c.LateDays.free_days = 3
c.LateDays.penalty_per_day = 0.10
c.LateDays.max_days_late = 7
c.LateDays.grace_minutes = 0      # a submission this many minutes late still counts as on time
c.LateDays.decimals = 2           # points taken are rounded to hundredths

# Default per-cell time limit for plain `nbgrader autograde`; `gradkit grade`
# takes its limits from each assignment's assignment.yaml instead.
c.Execute.timeout = 60

# A grade cell deleted by a student is put back from the gradebook copy.
c.OverwriteCells.add_missing_cells = True

# Feedback never shows a hidden test, whichever way it is made: `gradkit feedback`
# builds its own page, and every nbgrader path (`nbgrader generate_feedback`,
# formgrader's "Generate Feedback" button, NbGraderAPI.generate_feedback) runs
# these preprocessors. gradkit's HideHiddenTests removes the hidden regions and
# every output of the cells that had them (a traceback quotes hidden lines).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "gradkit_autograder.commands.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# formgrader (and `nbgrader list`-style API calls) takes every folder of the source
# directory for an assignment, so `../assignments/tools/` (the notebook builder) showed
# up as one. Only folders that hold a notebook are assignments, as for `gradkit`.
def _only_folders_with_notebooks():
    import glob
    import os

    from nbgrader.apps.api import NbGraderAPI

    original = NbGraderAPI.get_source_assignments
    if getattr(original, "gradkit_filtered", False):   # the config is loaded more than once
        return

    def get_source_assignments(self):
        def has_notebook(name):
            folder = self.coursedir.format_path(self.coursedir.source_directory, ".", name)
            return bool(glob.glob(os.path.join(folder, "*.ipynb")))

        return {name for name in original(self) if has_notebook(name)}

    get_source_assignments.gradkit_filtered = True
    NbGraderAPI.get_source_assignments = get_source_assignments


_only_folders_with_notebooks()

# The course hub (`gradkit hub start`, `make hub`; course/hub_guide.md): JupyterHub on this
# machine where the roster's students fetch, validate and submit in JupyterLab's
# Assignments panel and the staff share one formgrader. The students are roster.csv's ids;
# these are Unix logins, made by `gradkit hub start` when missing. Every other key has
# a default: ip "127.0.0.1", port 8000 (port+1 to port+3 are the hub's API, the proxy's
# API and the formgrader), exchange_root "/srv/nbgrader/exchange", state_dir
# "/var/lib/gradkit-hub/<course id>", course_account "grader-<course id>", home_base
# "/home", memory_mb 2048 and cpus 1.0 per user server, idle_timeout_s 3600.
c.CourseHub.instructors = ["instructor"]
c.CourseHub.tas = ["ta"]
