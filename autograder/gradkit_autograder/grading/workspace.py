"""A grading task's private workspace: one temporary folder, its gradebook, its files.

Everything a task writes (the private nbgrader course, its SQLite gradebook, the
library view, the kernels' working folders and sockets) lives in one folder from
``private_workspace``, removed when the task ends. The gradebook is built from
the snapshot of the released assignment (``state.snapshot``), never from the
course gradebook; a worker process keeps each built gradebook as a template in
memory (it holds the hidden tests' source) and writes a copy for every task.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

from gradkit_autograder.state.snapshot import restore_snapshot, snapshot_digest


@contextmanager
def private_workspace() -> Iterator[Path]:
    """A temporary folder only root (or the grader's user) can list.

    Mode 0711: a kernel running as another uid may pass through it to its own
    working folder by exact path, but cannot list it or enter the 0700 course copy.
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
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (alembic_version,))
        db.commit()


def gradebook_from_snapshot(snapshot: dict, course: str, dest: Path, alembic_version: str = "") -> None:
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


def write_files(base: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative path -> bytes) under ``base``; a path that leaves it is refused."""
    for rel, data in files.items():
        path = (base / rel).resolve()
        if base.resolve() not in path.parents:
            continue   # collect never stores such paths; refuse them here too
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
