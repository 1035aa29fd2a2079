"""A released assignment as plain data, to carry the gradebook's copy to Ray workers.

``nbgrader generate_assignment`` records in the gradebook what autograding needs:
every grade, solution and task cell, and the source and checksum of every
locked cell (hidden tests included). Grading workers must not write to the
course gradebook (the driver is its only writer) and may not even reach it (a
PostgreSQL server on the instructor's network, a remote Ray node), so the driver
reads that record into a snapshot, and each worker restores it into a private
SQLite gradebook on which nbgrader's ``autograde`` runs unchanged.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def take_snapshot(gradebook, assignment_id: str) -> dict[str, Any]:
    """Everything nbgrader's autograde reads from the gradebook about one assignment."""
    assignment = gradebook.find_assignment(assignment_id)
    notebooks = []
    for nb in sorted(assignment.notebooks, key=lambda n: n.name):
        notebooks.append({
            "name": nb.name,
            "kernelspec": nb.kernelspec,
            "grade_cells": [{"name": c.name, "max_score": c.max_score, "cell_type": c.cell_type}
                            for c in nb.grade_cells],
            "solution_cells": [{"name": c.name} for c in nb.solution_cells],
            "task_cells": [{"name": c.name, "max_score": c.max_score, "cell_type": c.cell_type}
                           for c in nb.task_cells],
            "source_cells": [{"name": c.name, "cell_type": c.cell_type, "locked": c.locked,
                              "source": c.source, "checksum": c.checksum}
                             for c in nb.source_cells],
        })
    return {
        "name": assignment.name,
        "duedate": assignment.duedate.isoformat() if assignment.duedate else None,
        "notebooks": notebooks,
    }


def restore_snapshot(gradebook, snapshot: dict[str, Any]) -> None:
    """Recreate the assignment of ``snapshot`` in (an empty) ``gradebook``."""
    name = snapshot["name"]
    extra = {"duedate": snapshot["duedate"]} if snapshot["duedate"] else {}
    gradebook.update_or_create_assignment(name, **extra)
    for nb in snapshot["notebooks"]:
        gradebook.update_or_create_notebook(nb["name"], name, kernelspec=nb["kernelspec"])
        for cell in nb["grade_cells"]:
            gradebook.update_or_create_grade_cell(
                cell["name"], nb["name"], name, max_score=cell["max_score"], cell_type=cell["cell_type"])
        for cell in nb["solution_cells"]:
            gradebook.update_or_create_solution_cell(cell["name"], nb["name"], name)
        for cell in nb["task_cells"]:
            gradebook.update_or_create_task_cell(
                cell["name"], nb["name"], name, max_score=cell["max_score"], cell_type=cell["cell_type"])
        for cell in nb["source_cells"]:
            fields = {k: cell[k] for k in ("cell_type", "locked", "source", "checksum")}
            gradebook.update_or_create_source_cell(cell["name"], nb["name"], name, **fields)


def snapshot_digest(snapshot: dict[str, Any]) -> str:
    """A stable hash: changes whenever a test, a checksum or a point value changes."""
    return hashlib.sha256(json.dumps(snapshot, sort_keys=True).encode()).hexdigest()

