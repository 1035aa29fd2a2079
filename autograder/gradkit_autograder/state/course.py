"""The nbgrader course directory: where it is, its configuration, its paths.

A ``Course`` is the one object the commands share. It loads the course's
``nbgrader_config.py`` with traitlets (as nbgrader itself would), pins
``CourseDirectory.root`` to the course folder and, when given, the gradebook URL,
and hands out nbgrader objects built from that configuration: a
``CourseDirectory``, an ``NbGraderAPI`` and a ``Gradebook``.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from gradkit_autograder.state.conventions import DEFAULT_COURSE_ID
from gradkit_autograder.state.settings import AssignmentSettings, load_settings

CONFIG_FILE = "nbgrader_config.py"
ENV_COURSE = "GRADKIT_COURSE"
ENV_DB = "GRADKIT_DB"


class CourseError(RuntimeError):
    """The course directory or an assignment in it is missing or inconsistent."""


def ensure_tools_on_path() -> None:
    """Put this interpreter's ``bin/`` first on PATH.

    nbgrader runs the ``alembic`` executable when it creates a gradebook; inside a
    virtualenv that was not activated (``.venv/bin/gradkit ...``, Ray workers) the
    executable is only found next to ``sys.executable``.
    """
    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts[:1] != [bindir]:
        os.environ["PATH"] = os.pathsep.join([bindir] + [p for p in parts if p != bindir])


def quiet_nbgrader() -> None:
    """Silence SQLAlchemy 2 warnings that nbgrader 0.9 triggers on every submission.

    nbgrader's ``add_submission`` touches relationships before the new rows are in
    the session; SQLAlchemy warns ("not in session, add operation ... will not
    proceed") but the rows are stored correctly (nbgrader adds them right after).
    """
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning, module=r"nbgrader\.")


def give_files_to(path: Path, uid: int, gid: int, only_roots: bool = True, keep: tuple[Path, ...] = ()) -> int:
    """Give what root made under ``path`` (everything, if not ``only_roots``) to ``uid``:``gid``.

    Folders in ``keep`` and what they hold stay as they are. Links are changed
    themselves, never followed. Returns how many entries changed owner.
    """
    changed = 0
    kept = {str(k) for k in keep}
    for folder, dirs, files in os.walk(path):
        if folder in kept:
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in kept]
        for name in [folder] + [os.path.join(folder, f) for f in files + dirs]:
            if not only_roots or os.lstat(name).st_uid == 0:
                os.lchown(name, uid, gid)
                changed += 1
    return changed


def give_back_to_owner(course_dir: str | Path | None) -> int:
    """After a command run as root: the course folder's new files to the folder's owner.

    On a course hub the course account owns the course folder and the gradebook, and
    its formgrader must go on writing them after ``gradkit grade`` (or any command)
    ran as root. The graded notebooks (``autograded/``) stay root's: the formgrader
    reads them, and cannot replace them with a run of its own. A course folder that
    root owns is left alone.
    """
    if os.geteuid() != 0:
        return 0
    try:
        course = Course.open(course_dir)
        st = os.stat(course.root)
    except (OSError, CourseError):
        return 0
    if st.st_uid == 0:
        return 0
    return give_files_to(course.root, st.st_uid, st.st_gid, keep=(course.step_dir("autograded", ".", "."),))


def find_released(gradebook, assignment: str):
    """The gradebook's record of a released assignment; CourseError naming the fix if absent."""
    from nbgrader.api import MissingEntry

    try:
        return gradebook.find_assignment(assignment)
    except MissingEntry:
        released = ", ".join(sorted(a.name for a in gradebook.assignments)) or "none"
        raise CourseError(f"assignment {assignment!r} is not in the gradebook (released: {released}); "
                          f"run `gradkit release {assignment}` first") from None


def default_course_dir() -> Path:
    """``$GRADKIT_COURSE``, else ``./course``, else ``.`` if it holds a config, else the repo's ``course/``."""
    if os.environ.get(ENV_COURSE):
        return Path(os.environ[ENV_COURSE])
    cwd = Path.cwd()
    if (cwd / "course" / CONFIG_FILE).exists():
        return cwd / "course"
    if (cwd / CONFIG_FILE).exists():
        return cwd
    return Path(__file__).resolve().parents[3] / "course"   # <repo>/autograder/gradkit_autograder/state/


@dataclass
class Course:
    """An nbgrader course directory with its loaded configuration."""

    root: Path
    config: Config

    @classmethod
    def open(cls, course_dir: str | Path | None = None, db_url: str | None = None) -> "Course":
        """Load ``<course_dir>/nbgrader_config.py``; ``db_url`` overrides the gradebook location."""
        ensure_tools_on_path()
        quiet_nbgrader()
        root = Path(course_dir) if course_dir else default_course_dir()
        root = root.resolve()
        if not (root / CONFIG_FILE).exists():
            raise CourseError(
                f"course directory {root} has no {CONFIG_FILE}; pass --course DIR "
                f"(a folder holding {CONFIG_FILE}) or set ${ENV_COURSE}")
        config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
        config.CourseDirectory.root = str(root)
        db_url = db_url or os.environ.get(ENV_DB)
        if db_url:
            config.CourseDirectory.db_url = db_url
        # nbgrader's default log level prints a line per file; the CLI shows its own summary.
        config.NbGraderAPI.log_level = "WARN"
        return cls(root=root, config=config)

    # --- nbgrader objects -------------------------------------------------
    def coursedir(self):
        from nbgrader.coursedir import CourseDirectory

        return CourseDirectory(config=self.config)

    def api(self):
        from nbgrader.apps import NbGraderAPI

        return NbGraderAPI(coursedir=self.coursedir(), config=self.config)

    @property
    def db_url(self) -> str:
        return self.coursedir().db_url

    @property
    def course_id(self) -> str:
        return self.coursedir().course_id or DEFAULT_COURSE_ID

    @contextmanager
    def gradebook(self) -> Iterator:
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url, self.course_id) as gb:
            yield gb

    # --- paths ---------------------------------------------------------------
    def step_dir(self, step: str, student: str, assignment: str) -> Path:
        """Path of one nbgrader step, built by nbgrader's own ``format_path``."""
        coursedir = self.coursedir()
        step_name = getattr(coursedir, f"{step}_directory")
        return Path(os.path.normpath(coursedir.format_path(step_name, student, assignment)))

    def source_dir(self, assignment: str) -> Path:
        return self.step_dir("source", ".", assignment)

    def release_dir(self, assignment: str) -> Path:
        return self.step_dir("release", ".", assignment)

    def submitted_dir(self, student: str, assignment: str) -> Path:
        return self.step_dir("submitted", student, assignment)

    def autograded_dir(self, student: str, assignment: str) -> Path:
        return self.step_dir("autograded", student, assignment)

    def feedback_dir(self, student: str, assignment: str) -> Path:
        return self.step_dir("feedback", student, assignment)

    def output_dir(self, name: str) -> Path:
        """A gradkit output folder inside the course (``exports``, ``reports``)."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- assignments ---------------------------------------------------------
    def source_assignments(self) -> list[str]:
        """Assignment ids: folders of the source directory that hold a notebook."""
        base = self.source_dir("*").parent
        if not base.is_dir():
            raise CourseError(f"source directory {base} does not exist (CourseDirectory.source_directory)")
        return sorted(p.name for p in base.iterdir()
                      if p.is_dir() and any(p.glob("*.ipynb")))

    def require_source(self, assignment: str) -> Path:
        path = self.source_dir(assignment)
        if not path.is_dir() or not any(path.glob("*.ipynb")):
            known = ", ".join(self.source_assignments()) or "none"
            raise CourseError(f"no source notebooks for assignment {assignment!r} in {path}; "
                              f"known assignments: {known}")
        return path

    def settings(self, assignment: str) -> AssignmentSettings:
        return load_settings(self.require_source(assignment))

    def submitted_students(self, assignment: str) -> list[str]:
        """Students with a folder ``submitted/<student>/<assignment>/``."""
        base = self.step_dir("submitted", ".", ".")
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / assignment).is_dir())
