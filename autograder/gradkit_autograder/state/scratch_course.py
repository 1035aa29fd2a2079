"""Temporary copies of the course, for ``gradkit verify``, ``gradkit demo``, tests and benchmarks.

A scratch course mirrors the repository layout (``<dir>/course`` with the
course's ``nbgrader_config.py`` next to ``<dir>/assignments``), so the relative
``source_directory`` of the real configuration works unchanged, and nothing in
the real course (gradebook, submissions) is touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gradkit_autograder.state.course import CONFIG_FILE, Course


def scratch_course(course: Course, dest: Path, assignments: list[str] | None = None,
                   db_url: str | None = None) -> Course:
    """Copy the configuration and the given assignments' source folders under ``dest``."""
    dest = Path(dest)
    (dest / "course").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(course.root / CONFIG_FILE, dest / "course" / CONFIG_FILE)
    scratch = Course.open(dest / "course", db_url)
    for assignment in assignments or course.source_assignments():
        target = scratch.source_dir(assignment)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(course.require_source(assignment), target,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return scratch
