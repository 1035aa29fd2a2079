"""gradkit's own tables, kept in the course gradebook database next to nbgrader's.

- ``gradkit_graded``: one row per (assignment, student): the hash of the content
  that was graded, when, the outcome and the incident lines. ``gradkit grade``
  skips a submission whose hash is already recorded, and writes the row *after*
  the grades, so an interrupted run leaves either no row (graded again on the
  next run: grades are overwritten, never added) or a complete one.
- ``gradkit_reference``: the trusted-channel reports of each assignment's
  reference solution from its latest grading run, keyed by that run's seed (a
  record for the instructor; each run grades the reference again with its own seed).

Living in the same database (SQLite file or PostgreSQL) means the gradebook and
its ledger are backed up, moved and locked together.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from sqlalchemy import (Column, DateTime, Float, Integer, MetaData, String, Table, Text, select)

metadata = MetaData()

graded = Table(
    "gradkit_graded", metadata,
    Column("assignment", String(128), primary_key=True),
    Column("student", String(128), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),          # "graded" or "failed"
    Column("score", Float),
    Column("max_score", Float),
    Column("incidents", Text, nullable=False, default="[]"),
    Column("isolation", String(300)),
    Column("duration_s", Float),
    Column("runs", Integer, nullable=False, default=0),     # times a result was stored
    Column("graded_at", DateTime, nullable=False),
)

reference = Table(
    "gradkit_reference", metadata,
    Column("assignment", String(128), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("reports", Text, nullable=False),
)


def ensure_tables(engine) -> None:
    metadata.create_all(engine)


def graded_hashes(engine, assignment: str) -> dict[str, tuple[str, str]]:
    """student -> (content hash, status) for an assignment."""
    with engine.connect() as conn:
        rows = conn.execute(select(graded.c.student, graded.c.content_hash, graded.c.status)
                            .where(graded.c.assignment == assignment))
        return {r.student: (r.content_hash, r.status) for r in rows}


def record(db, assignment: str, student: str, content_hash: str, status: str,
           score: float | None, max_score: float | None, incidents: list[dict],
           isolation: str, duration_s: float) -> None:
    """Insert or update the row of one submission.

    ``db`` is the gradebook's session (or a connection): the row joins the
    caller's transaction, so a batch of grades and their ledger rows commit together.
    """
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    values = dict(content_hash=content_hash, status=status, score=score, max_score=max_score,
                  incidents=json.dumps(incidents), isolation=isolation[:300],
                  duration_s=duration_s, graded_at=now)
    key = (graded.c.assignment == assignment) & (graded.c.student == student)
    old = db.execute(select(graded.c.runs).where(key)).first()
    if old is None:
        db.execute(graded.insert().values(assignment=assignment, student=student,
                                          runs=1 if status == "graded" else 0, **values))
    else:
        runs = old.runs + (1 if status == "graded" else 0)
        db.execute(graded.update().where(key).values(runs=runs, **values))


def rows(engine, assignment: str | None = None) -> list[dict[str, Any]]:
    """All ledger rows (of one assignment), incidents decoded."""
    query = select(graded)
    if assignment:
        query = query.where(graded.c.assignment == assignment)
    with engine.connect() as conn:
        out = [dict(r._mapping) for r in conn.execute(query.order_by(graded.c.assignment, graded.c.student))]
    for row in out:
        row["incidents"] = json.loads(row["incidents"] or "[]")
    return out


def store_reference(db, assignment: str, digest: str, reports: dict) -> None:
    """Keep the reference run's reports (``db``: the gradebook's session; the caller commits)."""
    db.execute(reference.delete().where(reference.c.assignment == assignment))
    db.execute(reference.insert().values(assignment=assignment, digest=digest,
                                         reports=json.dumps(reports)))
