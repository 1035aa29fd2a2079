"""``gradkit feedback``: an HTML page per student and notebook, without hidden tests.

nbgrader's ``generate_feedback`` renders the autograded notebook, in which the
hidden tests were put back, so students see them (nbgrader issues 917, 1363).
This page is built from the same autograded notebook and gradebook scores, but a
test cell is shown as the student saw it in the release:

- a visible test shows its source, its outputs (the assertion message or
  traceback) and its points;
- a test with hidden parts shows only its visible source, passed/failed and its
  points: no output at all, since a traceback quotes the hidden lines.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import nbformat

from gradkit_autograder.channel import CHECK_MIME
from gradkit_autograder.course import Course, CourseError, find_released

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.85rem}
.test{border-left:4px solid #999;padding-left:.8rem;margin:1rem 0}
.pass{border-color:#2a7}.fail{border-color:#c33}
.badge{font-weight:bold}.out{background:#fff5f5}
"""


def _esc(text: str) -> str:
    return html.escape(ANSI.sub("", text))


def hidden_cells(course: Course, assignment: str, notebook: str) -> set[str]:
    """Grade ids of the source cells that contain hidden tests."""
    delimiter = course.config.ClearHiddenTests.get("begin_test_delimeter", "BEGIN HIDDEN TESTS")
    source = nbformat.read(str(course.source_dir(assignment) / f"{notebook}.ipynb"), as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id") for c in source.cells
            if delimiter in c.source} - {None}


def released_sources(course: Course, assignment: str, notebook: str) -> dict[str, str]:
    """grade id -> source of the cell as released (hidden parts removed)."""
    path = course.release_dir(assignment) / f"{notebook}.ipynb"
    if not path.exists():
        raise CourseError(f"feedback needs the release {path}: run `gradkit release {assignment}`")
    release = nbformat.read(str(path), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in release.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}


def _outputs(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(f"<pre>{_esc(out.get('text', ''))}</pre>")
        elif kind == "error":
            tb = "\n".join(out.get("traceback", [])) or f"{out.get('ename')}: {out.get('evalue')}"
            parts.append(f"<pre class='out'>{_esc(tb)}</pre>")
        elif kind in ("display_data", "execute_result"):
            data = {k: v for k, v in out.get("data", {}).items() if k != CHECK_MIME}
            if "image/png" in data:
                png = data["image/png"]
                png = png if isinstance(png, str) else base64.b64encode(png).decode()
                parts.append(f"<img alt='plot' src='data:image/png;base64,{png}'>")
            elif "text/plain" in data:
                parts.append(f"<pre>{_esc(str(data['text/plain']))}</pre>")
    return "\n".join(parts)


def render_notebook(course: Course, gb, assignment: str, student: str, notebook: str) -> str:
    """The feedback page of one student's notebook."""
    from nbconvert.filters import markdown2html

    path = course.autograded_dir(student, assignment) / f"{notebook}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    hidden = hidden_cells(course, assignment, notebook)
    released = released_sources(course, assignment, notebook)
    sub_nb = gb.find_submission_notebook(notebook, assignment, student)
    body = [f"<h1>{_esc(assignment)} / {_esc(notebook)}</h1>",
            f"<p>Student: <b>{_esc(student)}</b> &mdash; score "
            f"<b>{sub_nb.score:g} / {sub_nb.max_score:g}</b></p>"]
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        cell_id = meta.get("grade_id")
        if cell.cell_type == "markdown":
            body.append(markdown2html(cell.source))
            continue
        if cell.cell_type != "code":
            continue
        if not meta.get("grade"):
            body.append(f"<pre>{_esc(cell.source)}</pre>")
            if not meta.get("locked"):
                body.append(_outputs(cell))
            continue
        grade = gb.find_grade(cell_id, notebook, assignment, student)
        passed = grade.score is not None and grade.score >= grade.max_score
        verdict = "passed" if passed else "failed"
        score = "ungraded" if grade.score is None else f"{grade.score:g} / {grade.max_score:g}"
        body.append(f"<div class='test {'pass' if passed else 'fail'}'>"
                    f"<p class='badge'>Test {_esc(cell_id)}: {verdict} ({score})</p>"
                    f"<pre>{_esc(released.get(cell_id, ''))}</pre>")
        if cell_id in hidden:
            body.append("<p>This test also runs hidden checks; their code and output are not "
                        "shown.</p>")
        else:
            body.append(_outputs(cell))
        body.append("</div>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(assignment)} "
            f"feedback</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>")


def write_feedback(course: Course, assignment: str) -> list[Path]:
    """Write feedback/<student>/<assignment>/<notebook>.html for every graded student."""
    written = []
    with course.gradebook() as gb:
        notebooks = [nb.name for nb in find_released(gb, assignment).notebooks]
        for student in sorted(s.student.id for s in gb.assignment_submissions(assignment)):
            graded_dir = course.autograded_dir(student, assignment)
            for notebook in notebooks:
                if not (graded_dir / f"{notebook}.ipynb").exists():
                    continue
                dest = course.feedback_dir(student, assignment)
                dest.mkdir(parents=True, exist_ok=True)
                page = dest / f"{notebook}.html"
                page.write_text(render_notebook(course, gb, assignment, student, notebook))
                written.append(page)
    return written
