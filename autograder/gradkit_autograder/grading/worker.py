"""What one Ray task does: autograde one submission with nbgrader, privately.

``grade_submission(job)`` receives everything as data (the submission's files,
the snapshot of the released assignment, the settings), builds a throw-away
nbgrader course in a private temporary folder, runs nbgrader's own ``autograde``
there (its sanitize and autograde preprocessors, with ``Execute`` swapped for
``GuardedExecute``), and returns the scores, comments, autograded notebooks,
trusted-channel reports and incidents as data. It never touches the course
gradebook: the driver, the single writer, stores the result.

The same function runs the instructor's source notebook to get the reference
reports (the "student" is then the reference solution itself).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import tempfile
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

import nbformat

from gradkit_autograder.judging.trusted_checks import notebook_reports
from gradkit_autograder.grading.contract import GradingJob, GradingResult, NotebookResult
from gradkit_autograder.state.conventions import TIMESTAMP_FILE, course_id
from gradkit_autograder.state.course import ensure_tools_on_path, quiet_nbgrader
from gradkit_autograder.sandbox.isolation import Isolation, Secrets, decide_isolation
from gradkit_autograder.sandbox.library_view import library_view
from gradkit_autograder.state.settings import AssignmentSettings
from gradkit_autograder.state.snapshot import restore_snapshot, snapshot_digest


# --- the private workspace ---------------------------------------------------------

@contextmanager
def private_workspace() -> Iterator[Path]:
    """A temporary folder only root (or the grader's user) can list.

    Mode 0711: a kernel running as another uid may pass through it to its own
    scratch folder by exact path, but cannot list it or enter the 0700 course copy.
    """
    tmp = Path(tempfile.mkdtemp(prefix="gradkit-"))
    try:
        os.chmod(tmp, 0o711)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_TEMPLATES: dict[str, bytes] = {}   # gradebook templates, in memory: nothing on disk outlives a task


def _stamp_schema(path: Path, alembic_version: str) -> None:
    """Create ``path`` holding only nbgrader's schema stamp, as nbgrader itself writes it.

    A new nbgrader ``Gradebook`` runs the ``alembic`` command in a subprocess to learn
    the stamp (1-2 s, once per worker process); a database that already has a table is
    taken as existing, so with the stamp copied from the course gradebook nbgrader
    only creates its tables.
    """
    import sqlite3

    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (alembic_version,))
        db.commit()


def _gradebook_from_snapshot(snapshot: dict, course: str, dest: Path,
                             alembic_version: str = "") -> None:
    """A private SQLite gradebook holding the assignment; built once per worker process.

    Each worker keeps the bytes of a template per snapshot (it holds the hidden
    tests' source) in memory, never in a file, and writes them for every submission.
    """
    from nbgrader.api import Gradebook

    key = snapshot_digest(snapshot) + course + alembic_version
    if key not in _TEMPLATES:
        if alembic_version:
            _stamp_schema(dest, alembic_version)
        with Gradebook(f"sqlite:///{dest}", course) as gb:
            restore_snapshot(gb, snapshot)
        _TEMPLATES[key] = dest.read_bytes()
    else:
        dest.write_bytes(_TEMPLATES[key])


def _write_files(base: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = (base / rel).resolve()
        if base.resolve() not in path.parents:
            continue   # collect never stores such paths; refuse them here too
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# --- screening the submission before nbgrader sees it ---------------------------------

def _cell_ids(nb) -> set[str]:
    return {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}


def screen_submission(files: dict[str, bytes], snapshot: dict, released: dict[str, bytes] | None = None
                      ) -> tuple[dict[str, bytes], list[dict]]:
    """Drop unreadable notebooks, match a renamed one, repair edited metadata, name tampered cells.

    Returns (files to grade, incidents):

    - a notebook that is not valid JSON / nbformat is removed (nbgrader then
      scores its cells 0, as for a missing notebook) and reported;
    - if exactly one expected notebook is missing and exactly one unexpected
      notebook carries that notebook's cell ids, it was renamed: it is graded
      under the expected name and reported;
    - nbgrader metadata that was edited (a grade flag, points, a renamed grade id,
      a cleared lock, a cell that claims a role the release does not give it) is
      put back from the released notebook (``repair_metadata``), so nbgrader grades
      the cells as released: the answers score what they would have scored
      untouched (copy/paste and merge tools edit metadata by accident), and the
      incident is recorded for the instructor;
    - edited or deleted locked cells are reported (nbgrader restores them).
    """
    incidents: list[dict] = []
    kept = dict(files)
    released = released or {}
    expected = {nb["name"]: {c["name"] for c in nb["grade_cells"] + nb["solution_cells"]}
                for nb in snapshot["notebooks"]}
    parsed = {}
    for rel, data in files.items():
        if not rel.endswith(".ipynb") or "/" in rel:
            continue
        try:
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
            nbformat.validate(nb)
            parsed[Path(rel).stem] = nb
        except Exception as err:
            del kept[rel]
            incidents.append({"kind": "invalid_notebook", "cell": rel,
                              "message": f"{rel} is not a valid notebook ({type(err).__name__}); scored 0"})
    missing = [name for name in expected if name not in parsed]
    unknown = [stem for stem in parsed if stem not in expected]
    if len(missing) == 1 and len(unknown) == 1:
        name, stem = missing[0], unknown[0]
        release_ids = ({c.get("id") for c in _released_notebook(released, name).cells} - {None}
                       if name in released else set())
        same_cells = expected[name] and expected[name] <= _cell_ids(parsed[stem])
        same_ids = release_ids and len(release_ids & {c.get("id") for c in parsed[stem].cells}) >= len(release_ids) / 2
        if same_cells or same_ids:
            kept[f"{name}.ipynb"] = kept.pop(f"{stem}.ipynb")
            parsed[name] = parsed.pop(stem)
            incidents.append({"kind": "renamed_notebook", "cell": f"{stem}.ipynb",
                              "message": f"{stem}.ipynb graded as {name}.ipynb (renamed by the student)"})
            missing = []
    for name in missing:
        incidents.append({"kind": "missing_notebook", "cell": f"{name}.ipynb",
                          "message": f"{name}.ipynb not submitted; its cells score 0"})
    for nb_snap in snapshot["notebooks"]:
        name = nb_snap["name"]
        if name not in parsed:
            continue
        nb = parsed[name]
        if name in released:
            found = repair_metadata(nb, _released_notebook(released, name))
            if found:
                incidents += found
                kept[f"{name}.ipynb"] = nbformat.writes(nb).encode()
        incidents += tampered_cells(nb, nb_snap, release_checksums(_released_notebook(released, name))
                                    if name in released else {})
    return kept, incidents


def _released_notebook(released: dict[str, bytes], name: str):
    return nbformat.reads(released[name].decode("utf-8"), as_version=4)


def repair_metadata(nb, released_nb) -> list[dict]:
    """Put the released nbgrader metadata back on every cell; return one incident per repair.

    A submitted cell is matched to its released cell by the notebook cell id
    (which the student does not see in JupyterLab), else by its grade id. A
    matched cell gets the released cell's nbgrader metadata and cell type back;
    a cell the release does not have, or a second copy of a released cell,
    loses its nbgrader metadata (so it is neither graded nor trusted). ``nb`` is
    changed in place.
    """
    import copy

    def role(cell) -> dict:
        return cell.metadata.get("nbgrader", {})

    def grading_role(cell) -> dict:   # what decides how a cell is graded
        return {k: v for k, v in role(cell).items() if k in ROLE_KEYS}

    by_id = {c.get("id"): c for c in released_nb.cells if role(c) and c.get("id")}
    by_grade_id = {role(c)["grade_id"]: c for c in released_nb.cells if role(c).get("grade_id")}
    used, incidents = set(), []
    for cell in nb.cells:
        meta = role(cell)
        ref = by_id.get(cell.get("id"))
        if ref is None and meta.get("grade_id") in by_grade_id:
            ref = by_grade_id[meta["grade_id"]]
        ref_id = role(ref).get("grade_id") if ref is not None else None
        if ref is not None and ref_id not in used:
            used.add(ref_id)
            if grading_role(cell) != grading_role(ref) or cell.cell_type != ref.cell_type:
                cell.metadata["nbgrader"] = copy.deepcopy(role(ref))
                if cell.cell_type != ref.cell_type:
                    cell.cell_type = ref.cell_type
                    if ref.cell_type == "code":
                        cell.outputs, cell.execution_count = [], None
                    else:
                        cell.pop("outputs", None)
                        cell.pop("execution_count", None)
                incidents.append({"kind": "metadata_edited", "cell": ref_id, "message": (
                    "nbgrader metadata of this cell was edited; restored from the release and "
                    "graded as released")})
        elif meta:
            del cell.metadata["nbgrader"]
            incidents.append({"kind": "metadata_edited", "cell": meta.get("grade_id") or "-", "message": (
                "a cell the release does not have (or a copy of one) carried nbgrader metadata; "
                "the metadata was removed, the cell is not graded")})
    return incidents


# the nbgrader metadata that decides how a cell is graded (a student never needs to change it)
ROLE_KEYS = ("grade", "grade_id", "locked", "points", "solution", "task")


def release_checksums(released_nb) -> dict[str, str]:
    """Checksums of the locked cells of a released notebook, as the student received them.

    The gradebook's checksums are those of the source cells; a cell with hidden
    tests differs from its released version, so edits are judged against the release.
    """
    from nbgrader.utils import compute_checksum, is_locked

    return {c.metadata["nbgrader"]["grade_id"]: compute_checksum(c) for c in released_nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id") and is_locked(c)}


def tampered_cells(nb, nb_snap: dict, released: dict[str, str]) -> list[dict]:
    """Locked cells (tests, given code) the student edited or deleted.

    nbgrader's ``OverwriteCells`` restores edited ones from the gradebook by
    checksum and, with ``add_missing_cells``, puts deleted grade cells back; this
    only names them for the report.
    """
    from nbgrader.utils import compute_checksum

    locked = released or {c["name"]: c["checksum"] for c in nb_snap["source_cells"] if c["locked"]}
    graded = {c["name"] for c in nb_snap["grade_cells"]}
    seen, found = set(), []
    for cell in nb.cells:
        cell_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell_id in locked:
            seen.add(cell_id)
            if compute_checksum(cell) != locked[cell_id]:
                found.append({"kind": "test_cell_edited", "cell": cell_id,
                              "message": "locked cell edited by the student; restored from the release"})
    for cell_id in sorted(graded - seen):
        found.append({"kind": "test_cell_deleted", "cell": cell_id,
                      "message": "test cell deleted by the student; put back from the release"})
    return found


# --- nbgrader configuration for the private course ------------------------------------------

def _autograde_config(job: GradingJob, root: Path, tmp: Path, isolation: Isolation):
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute
    from traitlets.config import Config

    from gradkit_autograder.grading.execute import GuardedExecute

    settings = AssignmentSettings.from_dict(job.settings)
    limits = settings.limits
    c = Config(copy.deepcopy(job.course_config))
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    for step in ("source", "release", "submitted", "autograded", "feedback"):
        setattr(c.CourseDirectory, f"{step}_directory", step)
    c.CourseDirectory.directory_structure = os.path.join("{nbgrader_step}", "{student_id}", "{assignment_id}")
    configured = c.Autograde.get("autograde_preprocessors")
    steps = configured if isinstance(configured, list) else (
        Autograde.class_traits()["autograde_preprocessors"].default())
    c.Autograde.autograde_preprocessors = [GuardedExecute if p in (Execute, "nbgrader.preprocessors.Execute")
                                           else p for p in steps]
    c.GuardedExecute.timeout = max(1, int(limits.cell_timeout_s))
    c.GuardedExecute.notebook_timeout = float(limits.notebook_timeout_s)
    c.GuardedExecute.max_output_bytes = int(limits.max_output_kb * 1024)
    c.GuardedExecute.scratch_root = str(tmp / "scratch")
    c.GuardedExecute.scratch_uid = isolation.uid
    c.LimitedKernelManager.isolation = dataclasses.asdict(isolation)
    c.LimitedKernelManager.memory_mb = int(limits.memory_mb)
    c.LimitedKernelManager.pids_max = int(limits.max_processes)
    c.LimitedKernelManager.file_mb = int(limits.max_file_mb)
    c.LimitedKernelManager.seed = int(job.seed)
    # kernel connection files go here, where the kernel's uid can reach them by name
    c.LimitedKernelManager.runtime_dir = str(tmp / "runtime")
    c.LimitedKernelManager.threads = max(1, int(settings.resources.num_cpus))
    c.NbGraderAPI.log_level = "WARN"
    return c


# --- reading the result back --------------------------------------------------------------

def _collect_results(root: Path, job: GradingJob, present: set[str],
                     timings: dict[str, float]) -> list[NotebookResult]:
    """Grades, comments and notebooks from the private course; adds GuardedExecute's timings."""
    from nbgrader.api import Gradebook

    results = []
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id(job.course_config)) as gb:
        submission = gb.find_submission(job.assignment, job.student)
        by_name = {nb.notebook.name: nb for nb in submission.notebooks}
        for nb_snap in job.snapshot["notebooks"]:
            name = nb_snap["name"]
            sub_nb = by_name[name]
            result = NotebookResult(name=name, submitted=name in present)
            for grade in sub_nb.grades:
                result.grades[grade.cell.name] = {"auto_score": grade.auto_score,
                                                  "max_score": grade.max_score,
                                                  "needs_manual_grade": bool(grade.needs_manual_grade)}
            for comment in sub_nb.comments:
                result.comments[comment.cell.name] = comment.auto_comment
            path = root / "autograded" / job.student / job.assignment / f"{name}.ipynb"
            if path.exists():
                # nbgrader's exporter validated this notebook when it wrote it: read it back
                # with nbformat's v4 reader and writer, which skip a second schema validation
                nb = nbformat.v4.reads(path.read_text(encoding="utf-8"))
                result.reports = notebook_reports(nb)
                result.incidents = list(nb.metadata.get("gradkit", {}).get("incidents", []))
                spent = nb.metadata.get("gradkit", {}).pop("timings", {})
                for phase, seconds in spent.items():
                    timings[phase] = timings.get(phase, 0.0) + seconds
                result.notebook_json = nbformat.v4.writes(nb)
            results.append(result)
    return results


def _node_id() -> str:
    """The Ray node this task runs on ('' outside Ray)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    except Exception:
        return ""


def _nothing_submitted(snapshot: dict) -> list[NotebookResult]:
    results = []
    for nb in snapshot["notebooks"]:
        result = NotebookResult(name=nb["name"], submitted=False)
        for cell in nb["grade_cells"] + nb["task_cells"]:
            result.grades[cell["name"]] = {"auto_score": 0.0, "max_score": cell["max_score"],
                                           "needs_manual_grade": False}
        results.append(result)
    return results


def grade_submission(job: GradingJob) -> GradingResult:
    """Autograde one submission with nbgrader in a private folder; return the outcome as data."""
    start = time.monotonic()
    timings: dict[str, float] = {}
    lap = [start]

    def clock(phase: str) -> None:   # seconds since the previous phase ended
        now = time.monotonic()
        timings[phase] = timings.get(phase, 0.0) + now - lap[0]
        lap[0] = now

    from nbgrader.apps import NbGraderAPI   # slow only in a fresh worker process
    from nbgrader.coursedir import CourseDirectory

    ensure_tools_on_path()
    quiet_nbgrader()
    clock("imports")
    settings = AssignmentSettings.from_dict(job.settings)
    isolation = decide_isolation(settings.sandbox, job.secrets or Secrets())   # cached per worker process
    clock("isolation")
    outcome = GradingResult(job.assignment, job.student, ok=False, isolation=isolation.describe(),
                            worker_pid=os.getpid(), node_id=_node_id(), timings=timings)
    files, outcome.incidents = screen_submission(job.files, job.snapshot, job.released)
    if TIMESTAMP_FILE in files:
        outcome.timestamp = files[TIMESTAMP_FILE].decode(errors="replace").strip() or None
    expected = {nb["name"] for nb in job.snapshot["notebooks"]}
    if not any(f"{name}.ipynb" in files for name in expected):
        # nbgrader refuses a submission without any known notebook; score it as it
        # scores a missing notebook: 0 on every cell, nothing left to grade by hand
        outcome.notebooks = _nothing_submitted(job.snapshot)
        outcome.ok = True
        clock("prepare")
        outcome.duration_s = time.monotonic() - start
        return outcome
    with private_workspace() as tmp:
        root = tmp / "course"
        root.mkdir(mode=0o700)
        for name in ("scratch", "runtime"):
            (tmp / name).mkdir()
            os.chmod(tmp / name, 0o711)   # passable by the kernel's uid, not listable
        isolation = dataclasses.replace(isolation, library_view=library_view(tuple(settings.withheld),
                                                                             tmp / "view"))
        _write_files(root / "submitted" / job.student / job.assignment, files)
        (root / "source" / job.assignment).mkdir(parents=True, exist_ok=True)
        _write_files(root / "source" / job.assignment, job.source_files)
        _gradebook_from_snapshot(job.snapshot, course_id(job.course_config), root / "gradebook.db",
                                 job.alembic_version)
        config = _autograde_config(job, root, tmp, isolation)
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        clock("prepare")
        status = api.autograde(job.assignment, job.student, force=True, create=True)
        clock("autograde")
        outcome.log = status.get("log", "")[-20000:]
        present = {Path(rel).stem for rel in files if rel.endswith(".ipynb") and "/" not in rel}
        try:
            outcome.notebooks = _collect_results(root, job, present, timings)
        except Exception as err:  # nbgrader failed before creating the submission
            status.setdefault("error", f"{type(err).__name__}: {err}")
            status["success"] = False
        outcome.ok = bool(status["success"])
        if not outcome.ok:
            outcome.error = failure_reason(status.get("log", ""), status.get("error", ""))
    clock("collect")   # reading the results back and removing the private folder
    outcome.duration_s = time.monotonic() - start
    return outcome


def failure_reason(log: str, error: str) -> str:
    """The last exception line nbgrader logged (its final message only says "see above")."""
    import re

    found = re.findall(r"^\s*([A-Za-z_.]*(?:Error|Exception)\b.*)$", log + "\n" + error, re.M)
    useful = [f for f in found if not f.startswith("nbgrader.converters.base.NbGraderException")]
    return (useful or found or ["nbgrader autograde failed"])[-1].strip()[:500]


def job_files_from_dir(path: Path) -> dict[str, bytes]:
    """Regular files under ``path`` (symbolic links are skipped, never followed)."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d != ".ipynb_checkpoints"
                       and not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            files[os.path.relpath(full, path)] = Path(full).read_bytes()
    return files
