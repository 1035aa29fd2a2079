"""``gradkit feedback``: an HTML page per student and notebook that says why, without hidden tests.

nbgrader's ``generate_feedback`` renders the autograded notebook, in which the
hidden tests were put back, so students would see them (nbgrader issues 917,
1363); the course configuration makes that path safe too (``course/nbgrader_config.py``
runs ``HideHiddenTests``, below, in nbgrader's feedback). This page is built from
the autograded notebook and the gradebook scores:

- at the top, a summary table: each graded cell (a link to it), its points, and
  "passed" or "failed:" with why in at most three lines, ending with the author's
  hint; then the late-day line (days used and left, the penalty);
- why a cell lost points: the reason the grader wrote into the cell
  (``cell.metadata["gradkit"]``, made by ``judging.reasons``: the function, the
  exception and the student's line, or how many inputs of a hidden check differ, a
  limit that stopped it, a library function used where the student had to write
  it), in full at the cell; for a notebook graded before reasons existed, a visible
  test's message (``ename: evalue``), else, for a hidden test, a fixed sentence;
- a test cell shows its source as released (hidden parts removed); a visible
  test's error traceback is folded under its message; a cell with hidden tests
  shows no output at all (an ``evalue`` or traceback could quote hidden lines or
  expected values);
- the student's markdown (maths drawn as inline SVG by matplotlib's mathtext, so
  it shows offline; what mathtext cannot draw is left to MathJax) and
  code with its outputs and plots; locked set-up cells are folded; the page fits
  a phone's width.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_output
from nbgrader.preprocessors import ClearHiddenTests

from gradkit_autograder.kernel.channel import CHECK_MIME
from gradkit_autograder.state.conventions import (SUBMISSION_SECRET_FILE, TIMESTAMP_FILE,
                                                  hidden_test_delimiters)
from gradkit_autograder.state.course import Course, CourseError, find_released
from gradkit_autograder.state.late_days import Policy, apply_late_days, late_sentence

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_MESSAGE_CHARS = 600
HIDDEN_FAILED = ("A hidden check on fresh inputs did not pass; its inputs and expected values stay "
                 "hidden. Check your answer against the question's definition on other shapes and "
                 "edge cases.")
MATHJAX = ("<script>window.MathJax={tex:{inlineMath:[['$','$'],['\\\\(','\\\\)']]}};</script>"
           "<script async src='https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js'></script>")
STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 .8rem;color:#222;
line-height:1.45}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.85rem;white-space:pre-wrap;
word-break:break-word}
img{max-width:100%;height:auto}img.math{vertical-align:middle;max-height:3em}
.math-block{text-align:center;margin:.5rem 0}
table.summary{border-collapse:collapse;width:100%;table-layout:fixed}
.summary th,.summary td{border:1px solid #ccc;padding:.3rem .4rem;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
.summary col.cell{width:30%}.summary col.points{width:4.6em}
.test{border-left:4px solid #999;padding-left:.8rem;margin:1rem 0}
.pass{border-color:#2a7}.fail{border-color:#c33}
.ok{color:#186}.bad{color:#b22}
.badge{font-weight:bold}.message{background:#fff5f5}
details{margin:.5rem 0}summary{cursor:pointer;color:#555}
"""


def _esc(text: str) -> str:
    return html.escape(ANSI.sub("", text))


# $$display$$ or $inline$ maths (no space just inside the dollars, as in Jupyter's markdown)
MATH = re.compile(r"\$\$(.+?)\$\$|\$(?!\s)([^$\n]+?)(?<!\s)\$", re.S)
CODE = re.compile(r"(<pre.*?</pre>|<code.*?</code>)", re.S)


@functools.lru_cache(maxsize=4096)
def _math_svg(tex: str) -> str | None:
    """``tex`` drawn by matplotlib's mathtext as base64 SVG; None where mathtext cannot draw it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    buf = io.BytesIO()
    try:
        mathtext.math_to_image(f"${tex}$", buf, prop=FontProperties(size=13), format="svg")
    except Exception:   # mathtext knows a subset of TeX (no aligned, \lVert, ...)
        return None
    return base64.b64encode(buf.getvalue()).decode()


def render_math(fragment: str) -> str:
    """Draw the maths of rendered markdown as inline SVG, so the page needs no network.

    What mathtext cannot draw is left as TeX for MathJax (loaded by the page when
    online). Code spans and blocks are left alone.
    """
    def draw(m: re.Match) -> str:
        tex = html.unescape(m.group(1) if m.group(1) is not None else m.group(2)).strip()
        svg = _math_svg(tex)
        if svg is None:
            return m.group(0)
        img = f"<img class='math' alt='{html.escape(tex, quote=True)}' src='data:image/svg+xml;base64,{svg}'>"
        return f"<div class='math-block'>{img}</div>" if m.group(1) is not None else img

    parts = CODE.split(fragment)
    return "".join(part if i % 2 else MATH.sub(draw, part) for i, part in enumerate(parts))


@dataclass
class CellResult:
    """One graded cell as the student sees it in the summary."""

    cell_id: str
    score: float | None
    max_score: float
    passed: bool
    why: str            # "passed", or the summary of why not (safe to show)
    details: list[str] = field(default_factory=list)   # every failing check and hint, for the cell


def hidden_cells(course: Course, assignment: str, notebook: str) -> set[str]:
    """Grade ids of the source cells that contain hidden tests."""
    delimiter = hidden_test_delimiters(course.config)[0]
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


def grader_reason(cell) -> str | None:
    """The reason the grader wrote into the cell (``metadata.gradkit.reason``), if any."""
    reason = cell.metadata.get("gradkit", {}).get("reason")
    return reason.strip() if isinstance(reason, str) and reason.strip() else None


def visible_message(cell) -> str | None:
    """``ename: evalue`` of a visible test's error (the short message the helpers raise)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            text = ANSI.sub("", f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip())
            return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + " ..."
    return None


def cell_result(cell, grade, hidden: bool) -> CellResult:
    """Passed, or the safest informative reason why not."""
    cell_id = cell.metadata["nbgrader"]["grade_id"]
    if grade.score is None:
        return CellResult(cell_id, None, grade.max_score, False, "not graded yet (waits for a grader)")
    if grade.score >= grade.max_score:
        return CellResult(cell_id, grade.score, grade.max_score, True, "passed")
    why = grader_reason(cell)
    if why is None and not hidden:
        why = visible_message(cell) or "the test did not pass (no message)"
    why = why or HIDDEN_FAILED
    if not why.startswith("failed"):
        why = f"failed: {why}"
    details = cell.metadata.get("gradkit", {}).get("reason_details")
    details = [str(d) for d in details] if isinstance(details, list) and details else why.splitlines()
    return CellResult(cell_id, grade.score, grade.max_score, False, why, details)


def _lines(lines: list[str]) -> str:
    """Reason lines as HTML: escaped, maths drawn, one line each."""
    return "<br>".join(render_math(_esc(line)) for line in lines)


def _outputs(cell, errors: bool = True) -> str:
    parts = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(f"<pre>{_esc(out.get('text', ''))}</pre>")
        elif kind == "error" and errors:
            tb = "\n".join(out.get("traceback", [])) or f"{out.get('ename')}: {out.get('evalue')}"
            parts.append(f"<pre class='message'>{_esc(tb)}</pre>")
        elif kind in ("display_data", "execute_result"):
            data = {k: v for k, v in out.get("data", {}).items() if k != CHECK_MIME}
            if "image/png" in data:
                png = data["image/png"]
                png = png if isinstance(png, str) else base64.b64encode(png).decode()
                parts.append(f"<img alt='plot' src='data:image/png;base64,{png.strip()}'>")
            elif "text/plain" in data:
                parts.append(f"<pre>{_esc(str(data['text/plain']))}</pre>")
    return "\n".join(parts)


def _summary_table(results: list[CellResult]) -> str:
    rows = []
    for r in results:
        points = "&ndash;" if r.score is None else f"{r.score:g} / {r.max_score:g}"
        css, mark = ("ok", "&#10003; ") if r.passed else ("bad", "&#10007; ")
        rows.append(f"<tr><td><a href='#{_esc(r.cell_id)}'>{_esc(r.cell_id)}</a></td><td>{points}</td>"
                    f"<td class='{css}'>{mark}{_lines(r.why.splitlines())}</td></tr>")
    return ("<table class='summary'><colgroup><col class='cell'><col class='points'><col></colgroup>"
            "<thead><tr><th scope='col'>test</th><th scope='col'>points</th><th scope='col'>passed, or "
            "why not</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def render_notebook(course: Course, gb, assignment: str, student: str, notebook: str) -> str:
    """The feedback page of one student's notebook."""
    from nbconvert.filters import markdown2html

    path = course.autograded_dir(student, assignment) / f"{notebook}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    hidden = hidden_cells(course, assignment, notebook)
    released = released_sources(course, assignment, notebook)
    sub_nb = gb.find_submission_notebook(notebook, assignment, student)
    penalty = sub_nb.late_submission_penalty or 0.0
    results, cells = [], []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        cell_id = meta.get("grade_id")
        if cell.cell_type == "markdown":
            cells.append(render_math(markdown2html(cell.source)))
            continue
        if cell.cell_type != "code":
            continue
        if not meta.get("grade"):
            if meta.get("locked"):   # code the student did not write: folded, its plots kept
                cells.append(f"<details><summary>set-up cell {_esc(cell_id or '')}</summary>"
                             f"<pre>{_esc(cell.source)}</pre></details>" + _outputs(cell))
            else:
                cells.append(f"<pre>{_esc(cell.source)}</pre>" + _outputs(cell))
            continue
        grade = gb.find_grade(cell_id, notebook, assignment, student)
        result = cell_result(cell, grade, cell_id in hidden)
        results.append(result)
        verdict = "passed" if result.passed else "failed"
        score = "ungraded" if grade.score is None else f"{grade.score:g} / {grade.max_score:g}"
        block = [f"<div class='test {'pass' if result.passed else 'fail'}' id='{_esc(cell_id)}'>",
                 f"<p class='badge'>Test {_esc(cell_id)}: {verdict} ({score})</p>",
                 f"<pre>{_esc(released.get(cell_id, ''))}</pre>"]
        if not result.passed:
            block.append(f"<p class='bad'>&#10007; failed:<br>{_lines(result.details)}</p>")
        if cell_id in hidden:
            block.append("<p>This test also runs hidden checks; their code and output are not shown.</p>")
        elif not result.passed and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            block.append("<details><summary>full error output</summary>" + _outputs(cell) + "</details>")
        else:
            block.append(_outputs(cell, errors=False))
        block.append("</div>")
        cells.append("".join(block))
    total = max(0.0, sub_nb.score - penalty)
    head = [f"<h1>{_esc(assignment)} / {_esc(notebook)}</h1>",
            f"<p>Student: <b>{_esc(student)}</b> &mdash; score <b>{total:g} / {sub_nb.max_score:g}</b></p>"]
    late = late_sentence(gb, Policy.from_config(course.config), assignment, student)
    if late:
        head.append(f"<p class='late'>{_esc(late)}</p>")
    head += ["<h2>Summary</h2>", _summary_table(results), "<h2>Your notebook</h2>"]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_esc(assignment)} feedback</title><style>{STYLE}</style>{MATHJAX}</head>"
            f"<body>{''.join(head + cells)}</body></html>")


class HideHiddenTests(ClearHiddenTests):
    """nbgrader's ``ClearHiddenTests`` for feedback: also drops the outputs of hidden cells.

    ``course/nbgrader_config.py`` puts it in ``GenerateFeedback.preprocessors``, so
    ``nbgrader generate_feedback``, formgrader's "Generate Feedback" button and
    ``NbGraderAPI.generate_feedback`` all render pages without hidden tests. A cell
    that had a hidden region loses every output (a traceback or a value could quote
    hidden lines or expected values); in their place it gets the grader's reason
    when there is one. Channel reports are dropped from every cell.
    """

    enforce_metadata = False   # a student's own cell quoting the marker must not stop feedback

    def preprocess_cell(self, cell, resources, cell_index):
        removed = self._remove_hidden_test_region(cell)   # raises on unbalanced markers: no page
        if cell.cell_type != "code":
            return cell, resources
        if removed:
            reason = grader_reason(cell)
            cell.outputs = [new_output("stream", name="stdout", text=(
                "Hidden checks ran here; their code and output are not shown.\n"
                + (f"Why points were lost: {reason}\n" if reason else "")))]
        else:
            cell.outputs = [o for o in cell.outputs if CHECK_MIME not in o.get("data", {})]
        return cell, resources


def _keep_submission_files(course: Course, student: str, assignment: str, dest: Path) -> None:
    """The submission's time and secret beside its feedback: nbgrader's release_feedback reads them there."""
    submitted = course.submitted_dir(student, assignment)
    for name in (TIMESTAMP_FILE, SUBMISSION_SECRET_FILE):
        if (submitted / name).exists():
            shutil.copyfile(submitted / name, dest / name)


def write_feedback(course: Course, assignment: str, students: list[str] | None = None) -> list[Path]:
    """Write feedback/<student>/<assignment>/<notebook>.html for every graded student (or ``students``).

    The late-day policy is applied first, so the page's total and late-day line are
    the ones every export shows.
    """
    apply_late_days(course)
    written = []
    with course.gradebook() as gb:
        notebooks = [nb.name for nb in find_released(gb, assignment).notebooks]
        graded = sorted(s.student.id for s in gb.assignment_submissions(assignment))
        unknown = sorted(set(students or ()) - set(graded))
        if unknown:
            raise CourseError(f"no graded submission of {assignment} by {', '.join(unknown)}")
        for student in students or graded:
            graded_dir = course.autograded_dir(student, assignment)
            for notebook in notebooks:
                if not (graded_dir / f"{notebook}.ipynb").exists():
                    continue
                dest = course.feedback_dir(student, assignment)
                dest.mkdir(parents=True, exist_ok=True)
                page = dest / f"{notebook}.html"
                page.write_text(render_notebook(course, gb, assignment, student, notebook))
                written.append(page)
                _keep_submission_files(course, student, assignment, dest)
    return written
