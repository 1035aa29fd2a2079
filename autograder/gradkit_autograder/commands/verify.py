"""``gradkit verify``: are an assignment's tests able to tell right from wrong?

In a scratch course, for each assignment: release it, hand in the reference
solution, the blank release and every stored wrong answer (``mutants/``), grade
them all with ``gradkit grade``, and require

- reference: full marks;
- blank release: zero on every autograded cell;
- do-nothing (each stub returns None instead of raising): zero on every autograded
  cell too, since a check that cannot tell the reference from work not done
  checks nothing;
- each mutant: strictly between zero and full marks;
- every feedback page teaches (``commands.feedback_audit``): no report key shown, the
  blank's cells "not written yet" (or the exception), each mutant's failing cells a
  reason of at most three lines with the author's hint and the words
  ``mutants/feedback.yaml`` lists for it.

Under each submission it prints the summary a student would read for each cell it fails.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from gradkit_autograder.grading.class_builder import build_class
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.commands.feedback import write_feedback
from gradkit_autograder.commands.feedback_audit import audit_feedback
from gradkit_autograder.state.course import Course
from gradkit_autograder.commands.grade import grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course


@dataclass
class Verdict:
    assignment: str
    student: str
    kind: str
    score: float
    max_score: float
    ok: bool
    why: str
    reasons: dict[str, str] = field(default_factory=dict)    # failing cell -> summary


def verdict_for(gb, assignment: str, student: str, kind: str) -> Verdict:
    """Whether the graded submission of ``kind`` (reference, blank, do-nothing, a mutant) scored as required."""
    submission = gb.find_submission(assignment, student)
    score, top = submission.score, submission.max_score
    if kind == "reference":
        ok, why = score == top, "needs full marks"
    elif kind in ("blank", "do-nothing"):
        nonzero = [g.cell.name for nb in submission.notebooks for g in nb.grades
                   if g.auto_score not in (None, 0)]
        ok, why = not nonzero, f"needs 0 on every autograded cell (not on {nonzero})"
    else:
        ok, why = 0 < score < top, "needs a score strictly between 0 and full marks"
    return Verdict(assignment, student, kind, score, top, ok, "" if ok else why)


def verify_in(scratch: Course, assignments: list[str], workers: int | None,
              out: TextIO) -> list[Verdict]:
    release(scratch, assignments)
    kinds = {}
    for assignment in assignments:
        kinds[assignment] = build_class(scratch, assignment, scratch.root.parent / "class", do_nothing=True)
    collect(scratch, scratch.root.parent / "class")
    verdicts = []
    for assignment in assignments:
        summary = grade(scratch, assignment, workers=workers, force=True, progress=False)
        for o in summary.outcomes:
            if o.status == "failed":
                out.write(f"  grading failed for {assignment}/{o.student}: {o.error}\n")
        write_feedback(scratch, assignment)
        audits = audit_feedback(scratch, assignment, kinds[assignment])
        with scratch.gradebook() as gb:
            for student, kind in sorted(kinds[assignment].items()):
                verdict = verdict_for(gb, assignment, student, kind)
                audit = audits[student]
                verdict.reasons = audit.summaries
                if audit.problems:
                    verdict.ok = False
                    verdict.why = "; ".join(filter(None, [verdict.why, "feedback: " + "; ".join(audit.problems)]))
                verdicts.append(verdict)
    return verdicts


def verify(course: Course, assignments: list[str] | None = None, workers: int | None = None,
           out: TextIO = sys.stdout) -> bool:
    """Print one line per submission; True if every assignment passes."""
    from gradkit.runtime import ray_session

    assignments = assignments or course.source_assignments()
    for a in assignments:
        course.require_source(a)
    from gradkit_autograder.commands.course_ray import address_for

    with ray_session(address_for(course, None), num_cpus=workers or os.cpu_count() or 1, what="gradkit verify"), \
            tempfile.TemporaryDirectory(prefix="gradkit-verify-") as tmp:
        verdicts = verify_in(scratch_course(course, Path(tmp), assignments), assignments, workers, out)
    for v in verdicts:
        mark = "ok  " if v.ok else "FAIL"
        out.write(f"{mark} {v.assignment:<20} {v.kind:<28} {v.score:g}/{v.max_score:g}"
                  f"{'  ' + v.why if v.why else ''}\n")
        for cell, summary in sorted(v.reasons.items()):
            lines = summary.splitlines()
            out.write(f"       {cell}: {lines[0]}\n" + "".join(f"         {ln}\n" for ln in lines[1:]))
    bad = [v for v in verdicts if not v.ok]
    out.write(f"verify: {len(verdicts) - len(bad)}/{len(verdicts)} checks passed\n")
    return not bad
