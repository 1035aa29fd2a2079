"""Does each feedback page teach? ``gradkit verify`` reads every page it rendered.

For the submissions ``gradkit verify`` builds (``grading.class_builder``), the feedback
a student would read must

- never show a report key of a hidden check (what the student cannot act on), nor a
  line of a hidden test;
- for the blank release: say, for each graded cell, "not written yet" or the exception;
- for each stored wrong answer: give each cell it fails a summary of at most three
  lines that starts "failed:" and shows an author's hint, and mention, in the summary
  or in the full reason at the cell, the words ``assignments/<id>/mutants/feedback.yaml``
  lists for it (the concept its hint points at);
- show each cell's reason on the page itself.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

from gradkit_autograder.grading.class_builder import MUTANTS_DIR
from gradkit_autograder.judging.reasons import NOT_WRITTEN, SUMMARY_LINES, hidden_lines
from gradkit_autograder.kernel.channel import CHECK_MIME
from gradkit_autograder.state.conventions import hidden_test_delimiters
from gradkit_autograder.state.course import Course

EXPECTATIONS_FILE = "feedback.yaml"
EXCEPTION_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception|Exit|Interrupt)\b")


@dataclass
class PageAudit:
    """What one submission's feedback says, and what is wrong with it."""

    student: str
    summaries: dict[str, str] = field(default_factory=dict)    # failing cell -> its summary
    details: dict[str, str] = field(default_factory=dict)      # failing cell -> all it says at the cell
    problems: list[str] = field(default_factory=list)


def expectations(course: Course, assignment: str) -> dict[str, dict]:
    """Mutant name -> {why, mentions} from ``mutants/feedback.yaml`` (empty when absent)."""
    path = course.source_dir(assignment) / MUTANTS_DIR / EXPECTATIONS_FILE
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def _report_keys(nb: dict) -> set[str]:
    return {o["data"][CHECK_MIME]["key"] for c in nb["cells"] for o in c.get("outputs", [])
            if isinstance(o.get("data", {}).get(CHECK_MIME), dict) and "key" in o["data"][CHECK_MIME]}


def internal_keys(course: Course, assignment: str, reference_student: str) -> dict[str, set[str]]:
    """Notebook -> the report keys of the reference's run that are not names a student knows.

    A key that is also a name in the released notebook (a function called
    ``optimal_step`` reported as ``optimal_step``) is the student's word too.
    """
    out = {}
    for path in sorted(course.autograded_dir(reference_student, assignment).glob("*.ipynb")):
        nb = json.loads(path.read_text())
        released = nbformat.read(str(course.release_dir(assignment) / path.name), as_version=4)
        known = set(re.findall(r"\w+", "\n".join(c.source for c in released.cells)))
        out[path.stem] = {k for k in _report_keys(nb) if k not in known}
    return out


def hidden_test_lines(course: Course, assignment: str) -> dict[str, set[str]]:
    """Notebook -> the lines only its hidden regions hold (stripped, 12 characters or more).

    A line that also stands outside the hidden regions of the source (in a solution,
    a visible test, the text) is one a page may show.
    """
    markers = hidden_test_delimiters(course.config)
    out = {}
    for path in sorted(course.source_dir(assignment).glob("*.ipynb")):
        hidden, shown = set(), set()
        for cell in nbformat.read(str(path), as_version=4).cells:
            numbers = hidden_lines(cell.source, markers)
            for number, line in enumerate(cell.source.splitlines(), 1):
                (hidden if number in numbers else shown).add(line.strip())
        out[path.stem] = {ln for ln in hidden - shown if len(ln) >= 12 and not any(m in ln for m in markers)}
    return out


def audit_submission(course: Course, assignment: str, student: str, kind: str,
                     keys: dict[str, set[str]], expected: dict[str, dict],
                     hidden: dict[str, set[str]] | None = None) -> PageAudit:
    """Read one submission's autograded notebooks and feedback pages against the rules above."""
    audit = PageAudit(student)
    for path in sorted(course.autograded_dir(student, assignment).glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        page_path = course.feedback_dir(student, assignment) / f"{path.stem}.html"
        page = html.unescape(page_path.read_text()) if page_path.exists() else ""
        if not page:
            audit.problems.append(f"no feedback page {page_path.name}")
        for key in sorted(keys.get(path.stem, ())):
            if re.search(rf"(?<!\w){re.escape(key)}(?!\w)", page):
                audit.problems.append(f"the page shows the internal key {key!r}")
        quoted = sorted(line for line in (hidden or {}).get(path.stem, ()) if line in page)
        if quoted:
            audit.problems.append(f"the page quotes {len(quoted)} hidden-test lines, e.g. {quoted[0]!r}")
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            reason = cell.metadata.get("gradkit", {}).get("reason")
            if kind == "blank" and meta.get("grade") and meta.get("points", 0) > 0 and not reason:
                audit.problems.append(f"{meta.get('grade_id')}: the blank has no reason")
            if not meta.get("grade") or not reason:
                continue
            cell_id = meta["grade_id"]
            audit.summaries[cell_id] = reason
            audit.details[cell_id] = "\n".join(cell.metadata.get("gradkit", {}).get("reason_details") or [])
            lines = reason.splitlines()
            if len(lines) > SUMMARY_LINES or not lines[0].startswith("failed:"):
                audit.problems.append(f"{cell_id}: the summary is not 'failed: ...' in at most "
                                      f"{SUMMARY_LINES} lines")
            if lines[0] not in page:
                audit.problems.append(f"{cell_id}: the page does not show its reason")
            if kind == "blank" and NOT_WRITTEN not in reason and not EXCEPTION_NAME.search(reason):
                audit.problems.append(f"{cell_id}: the blank's reason says neither '{NOT_WRITTEN}' nor "
                                      f"an exception")
            if kind.startswith("mutant:") and not any(ln.startswith("Hint:") for ln in lines):
                audit.problems.append(f"{cell_id}: no hint for this wrong answer")
    if kind.startswith("mutant:"):
        name = kind.split(":", 1)[1]
        wanted = expected.get(name, {}).get("mentions") or []
        if not wanted:
            audit.problems.append(f"{MUTANTS_DIR}/{EXPECTATIONS_FILE} lists no words its feedback must mention")
        said = " ".join(list(audit.summaries.values()) + list(audit.details.values())).lower()
        audit.problems += [f"the feedback does not mention {w!r}" for w in wanted if w.lower() not in said]
    return audit


def audit_feedback(course: Course, assignment: str, kinds: dict[str, str]) -> dict[str, PageAudit]:
    """Student -> audit of the feedback of every submission ``verify`` graded (``kinds``)."""
    reference = next(s for s, k in kinds.items() if k == "reference")
    keys = internal_keys(course, assignment, reference)
    expected = expectations(course, assignment)
    hidden = hidden_test_lines(course, assignment)
    return {student: audit_submission(course, assignment, student, kind, keys, expected, hidden)
            for student, kind in sorted(kinds.items())}
