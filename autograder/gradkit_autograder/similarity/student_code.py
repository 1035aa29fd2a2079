"""The code each student wrote, read from the notebooks and fingerprinted.

Only the code a student wrote is compared: the solution cells (nbgrader's
``solution`` cells, by grade id) and code cells the student added or changed;
never the release's locked cells, tests or markdown. The release's own code
(starter code, tests, set-up) is fingerprinted too (``release_kgrams``), so that
``similarity.winnowing.fingerprint`` can remove it from every submission.
``class_codes`` gives the fingerprinted code of every submitted student, the
reference solution and the earlier terms of an archive.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gradkit_autograder.grading.class_builder import reference_notebook
from gradkit_autograder.similarity.winnowing import K, Code, fingerprint, kgram_hashes, normalise
from gradkit_autograder.state.course import Course, CourseError

REFERENCE = "(reference solution)"


def read_cells(path: Path) -> list[dict]:
    """The code cells of a notebook as dicts (``source`` a string); plain JSON, no validation."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CourseError(f"{path} is not a readable notebook (.ipynb JSON): {err}") from None
    out = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        out.append({"id": cell.get("id"), "meta": cell.get("metadata", {}).get("nbgrader", {}),
                    "source": "".join(source) if isinstance(source, list) else source})
    return out


def student_cells(cells: list[dict], release: list[dict], prefix: str = "") -> list[tuple[str, str, str]]:
    """(label, source, starter) of each cell the student wrote in, in notebook order.

    Solution cells are labelled by grade id; cells without nbgrader metadata that the
    student added or changed by the cell they follow, ``<grade id> (+)``. Locked and
    test cells are never student code. ``starter`` is the released cell with the same
    grade id (or cell id).
    """
    by_grade = {c["meta"].get("grade_id"): c["source"] for c in release if c["meta"].get("grade_id")}
    by_id = {c["id"]: c["source"] for c in release if c["id"]}
    out, last = [], "top"
    for cell in cells:
        meta = cell["meta"]
        grade_id = meta.get("grade_id")
        if grade_id:
            last = grade_id
            if meta.get("solution"):
                out.append((prefix + grade_id, cell["source"], by_grade.get(grade_id, "")))
        elif cell["source"].strip() and cell["source"] != by_id.get(cell["id"]):
            out.append((f"{prefix}{last} (+)", cell["source"], by_id.get(cell["id"], "")))
    return out


def release_cells(course: Course, assignment: str) -> dict[str, list[dict]]:
    """notebook name -> code cells of the released notebook (the starter code)."""
    release = course.release_dir(assignment)
    names = sorted(p.name for p in release.glob("*.ipynb")) if release.is_dir() else []
    if not names:
        raise CourseError(f"assignment {assignment!r} has no release in {release}; "
                          f"run `gradkit release {assignment}` first")
    return {name: read_cells(release / name) for name in names}


def submission_cells(folder: Path, released: dict[str, list[dict]],
                     unreadable: list[str] | None = None) -> list[tuple[str, str, str]]:
    """The student code of one submission folder (the released notebook names only).

    A notebook that is not valid JSON counts as empty and is named in ``unreadable``.
    """
    several = len(released) > 1
    cells = []
    for name, release in released.items():
        path = folder / name
        if path.is_file():
            prefix = f"{Path(name).stem}:" if several else ""
            try:
                cells += student_cells(read_cells(path), release, prefix)
            except CourseError as err:
                if unreadable is None:
                    raise
                unreadable.append(str(err))
    return cells


def reference_cells(course: Course, assignment: str, released: dict[str, list[dict]]):
    """The reference solution's cells, from the source notebooks (markers removed)."""
    cells = []
    for name, release in released.items():
        nb = reference_notebook(course.source_dir(assignment) / name, course.release_dir(assignment) / name,
                                course.config)
        as_dicts = [{"id": c.get("id"), "meta": c.metadata.get("nbgrader", {}), "source": c.source}
                    for c in nb.cells if c.cell_type == "code"]
        prefix = f"{Path(name).stem}:" if len(released) > 1 else ""
        cells += student_cells(as_dicts, release, prefix)
    return cells


def release_kgrams(released: dict[str, list[dict]], vocab: dict[str, int], k: int = K) -> np.ndarray:
    """Every k-gram hash of the release's code cells (starter code, tests, set-up)."""
    hashes = [kgram_hashes(np.array([vocab.setdefault(s, len(vocab)) for s in normalise(c["source"])[0]],
                                    dtype=np.int64), k)
              for cells in released.values() for c in cells]
    return np.unique(np.concatenate(hashes + [np.zeros(0, np.uint64)]))


def archive_folders(archive: Path, assignment: str) -> dict[str, Path]:
    """Earlier terms' submissions: ``DIR/<student>/<assignment>/`` or ``DIR/<student>/*.ipynb``."""
    archive = Path(archive)
    if not archive.is_dir():
        raise CourseError(f"--archive {archive}: not a folder; expected DIR/<student>/{assignment}/*.ipynb")
    found = {}
    for student in sorted(p for p in archive.iterdir() if p.is_dir()):
        folder = student / assignment if (student / assignment).is_dir() else student
        if any(folder.glob("*.ipynb")):
            found[f"{archive.name}/{student.name}"] = folder
    if not found:
        raise CourseError(f"--archive {archive}: no submissions of {assignment} "
                          f"(expected DIR/<student>/{assignment}/*.ipynb)")
    return found


def class_codes(course: Course, assignment: str, archives: list[Path] | None = None):
    """Fingerprinted code of every submitted student, the reference and the archive.

    Returns (codes, current, unreadable): ``current`` holds the indices of this term's
    students, ``unreadable`` a line for each notebook that could not be read.
    """
    course.require_source(assignment)
    released = release_cells(course, assignment)
    students = course.submitted_students(assignment)
    if not students:
        raise CourseError(f"no submissions of {assignment} in {course.step_dir('submitted', '.', '.')}; "
                          f"run `gradkit collect` first")
    vocab: dict[str, int] = {}
    boilerplate = release_kgrams(released, vocab)
    unreadable: list[str] = []

    def code_of(owner: str, cells) -> Code:
        return fingerprint(owner, cells, vocab, boilerplate=boilerplate)

    codes = [code_of(s, submission_cells(course.submitted_dir(s, assignment), released, unreadable))
             for s in students]
    current = set(range(len(codes)))
    codes.append(code_of(REFERENCE, reference_cells(course, assignment, released)))
    for archive in archives or []:
        for owner, folder in archive_folders(archive, assignment).items():
            codes.append(code_of(owner, submission_cells(folder, released, unreadable)))
    return codes, current, unreadable
