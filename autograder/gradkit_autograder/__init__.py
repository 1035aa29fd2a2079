"""gradkit_autograder: release, collect, grade, feedback and export, built on nbgrader.

Every step calls nbgrader's own apps and preprocessors; this package adds what a
large course needs around them:

- ``course``: finds the nbgrader course directory and builds its configuration.
- ``settings``: per-assignment limits and resources (``assignment.yaml``).
- ``release`` / ``collect``: student versions, and submissions from folders or LMS zips.
- ``grade``: one Ray task per submission, a single gradebook writer, resumable runs.
- ``worker`` / ``execute`` / ``sandbox``: what a Ray task does with one submission
  (nbgrader's autograde in a private directory, kernels under limits).
- ``channel`` / ``checks``: the trusted channel that carries results out of the
  student's kernel and the comparison against the reference, done outside it.
- ``feedback``, ``export``, ``report``, ``verify``, ``demo``: the other commands.

The kernel-side module ``channel`` is imported by hidden test cells, so this
``__init__`` imports nothing heavy.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
