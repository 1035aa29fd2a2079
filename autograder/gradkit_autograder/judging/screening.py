"""Screening a submission before nbgrader sees it, and repairing what copy/paste broke.

``screen_submission`` runs in the grading worker on the files as collected and
returns the files to grade with one incident per finding:

- a notebook that is not valid JSON / nbformat is removed (its cells score 0, as
  for a missing notebook);
- a renamed notebook (it carries the cell ids of the one that is missing) is
  graded under its released name;
- nbgrader metadata that was edited (JupyterLab's copy/paste and merge tools do
  this by accident) is put back from the released notebook (``repair_metadata``),
  so the answers score what they would have scored untouched;
- locked cells (tests, given code) that were edited or deleted are named
  (``tampered_cells``); nbgrader itself restores them by checksum.

Pure functions of notebooks and the snapshot (``state.snapshot``): nothing here
touches a gradebook or a kernel.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat


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
