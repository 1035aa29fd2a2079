"""Why a grade cell lost points, in the student's terms: the words every grade page shows.

A failing test can mean that the student's code raised, that its numbers differ on
the hidden inputs, that a limit stopped it, or that it used what it had to write.
This module turns what the grader found (``trusted_checks.cell_findings``, the cell's
error output, the incidents, the own-code verdict) into a :class:`Reason`:

- ``summary``: at most three lines, the first starting "failed:": the function and
  what went wrong, then one more failing check (or how many more), then the
  author's hint;
- ``details``: every failing check and every hint, for the cell's own place on the page;
- ``label``: the same words for every student with the same cause (no counts, no
  values), so ``gradkit report`` can say what tripped the class.

The words of a hidden check come from its :class:`~gradkit_autograder.kernel.channel.Check`
in the *reference* run: report keys, hidden inputs and expected values never appear.
An exception's message is the student's own and is shown, except what could quote
the hidden test (a long run of characters, a name or line of the hidden block):
its location is the student's own cell and line, read from the traceback.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from gradkit_autograder.judging.trusted_checks import Finding

SUMMARY_LINES = 3
MAX_LINE = 300
NOT_WRITTEN = "not written yet"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# IPython's frame headers: "Cell In[12], line 5, in derivative(f, x)" or "File /x/y.py:40, in f"
FRAME = re.compile(r"^(?:Cell In\[(\d+)\], line (\d+)|File \S+?(?:, line |:)(\d+))(?:, in ([\w.<>]+))?", re.M)
LONG_RUN = re.compile(r"\S{40,}")


@dataclass
class Reason:
    """What a student reads about one failing grade cell."""

    summary: list[str]
    details: list[str]
    label: str

    @property
    def text(self) -> str:
        return "\n".join(self.summary)


@dataclass
class Raised:
    """The exception a grade cell ended with, located in the student's terms."""

    ename: str
    message: str | None        # safe to show (None: withheld, it could quote the hidden test)
    where: str                 # solution, visible, hidden or unknown (no frames to read)
    cell: str | None = None    # the student's cell it was raised in
    line: int | None = None
    function: str | None = None
    test_line: str | None = None   # the visible test's line it stopped at (the student sees it too)

    @property
    def not_written(self) -> bool:
        return self.ename == "NotImplementedError" and (not self.message or NOT_WRITTEN in self.message)


@dataclass
class CheckWords:
    """A hidden check's words, from the reference run (``channel.Check``)."""

    function: str
    inputs: str
    hint: str | None = None
    keys: list[str] = field(default_factory=list)


def _clip(text: str, limit: int = MAX_LINE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3].rstrip() + "..."


def hidden_lines(source: str, markers: tuple[str, str]) -> set[int]:
    """1-based line numbers of a cell's hidden regions, marker lines included.

    A marker counts wherever it stands in a line, as nbgrader's ``ClearHiddenTests``
    reads it (``### BEGIN HIDDEN TESTS`` holds the default ``BEGIN HIDDEN TESTS``).
    """
    lines, inside = set(), False
    for number, line in enumerate(source.splitlines(), 1):
        if markers[0] in line:
            inside = True
        if inside:
            lines.add(number)
        if markers[1] in line:
            inside = False
    return lines


def safe_message(text: str, hidden_source: str) -> str | None:
    """An exception message fit to show, or None when it quotes the hidden test.

    The message is the student's (their code, or Python's words about it), but a
    student's code can put anything in one; so a message that contains a line, a
    long fragment or an underscore name of the hidden block is withheld, and runs
    of 40 or more characters without a space are cut.
    """
    text = ANSI.sub("", text).strip()
    flat = " ".join(hidden_source.split())
    squeezed = " ".join(text.split())
    if flat and any(squeezed[i:i + 24] in flat for i in range(0, max(1, len(squeezed) - 23), 4)
                    if len(squeezed[i:i + 24]) == 24):
        return None
    names = set(re.findall(r"(?<![\w.])_[A-Za-z]\w*", hidden_source))
    if any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text) for n in names):
        return None
    return LONG_RUN.sub("...", text)


def hidden_text(cells: list[dict], markers: tuple[str, str]) -> str:
    """Every hidden region of a notebook, as one text (what no message may quote)."""
    parts = []
    for cell in cells:
        source = cell.get("source", "")
        hidden = hidden_lines(source, markers)
        parts += [ln for n, ln in enumerate(source.splitlines(), 1) if n in hidden]
    return "\n".join(parts)


def raised_in(cell: dict, cells_by_count: dict[int, dict], markers: tuple[str, str],
              secret: str | None = None) -> Raised | None:
    """The error a cell ended with, and where in the student's notebook it came from.

    The innermost frame in a solution cell or in the test cell itself decides: a
    solution cell is the student's own line; in the test cell, a line of the hidden
    region is a hidden check's. Frames in set-up cells (the helpers) and library
    files are passed over. Without frames (the helpers print their message alone),
    the place is unknown and the message is the visible test's. ``secret``: the
    notebook's hidden regions (``hidden_text``; a student's code can read earlier
    cells' sources in the kernel), else this cell's.
    """
    error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
    if error is None:
        return None
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    source = cell.get("source", "")
    hidden = hidden_lines(source, markers)
    if secret is None:
        secret = "\n".join(ln for n, ln in enumerate(source.splitlines(), 1) if n in hidden)
    ename = str(error.get("ename") or "Error")
    message = safe_message(str(error.get("evalue") or ""), secret)
    traceback = ANSI.sub("", "\n".join(error.get("traceback") or []))
    for match in reversed(list(FRAME.finditer(traceback))):
        if match.group(1) is None:
            continue
        frame_cell = cells_by_count.get(int(match.group(1)))
        if frame_cell is None:
            continue
        meta = frame_cell.get("metadata", {}).get("nbgrader", {})
        line, function = int(match.group(2)), match.group(4)
        function = None if function in (None, "<module>", "<lambda>") else function
        if meta.get("solution"):
            return Raised(ename, message, "solution", meta.get("grade_id"), line, function)
        if meta.get("grade_id") == grade_id:
            if line in hidden:
                return Raised(ename, message, "hidden", grade_id, line, function)
            lines = source.splitlines()
            text = lines[line - 1].strip() if 0 < line <= len(lines) else None
            return Raised(ename, message, "visible", grade_id, line, function, text)
    return Raised(ename, message, "unknown")


def check_words(reference_cell: dict[str, list[dict]], grade_id: str) -> dict[str, CheckWords]:
    """Report key -> its check's words, one CheckWords object per check (in report order)."""
    by_words: dict[tuple, CheckWords] = {}
    out = {}
    for key in reference_cell:
        payload = reference_cell[key][0] if reference_cell[key] else {}
        words = payload.get("check") if isinstance(payload.get("check"), dict) else {}
        function = str(words.get("function") or f"a hidden check of {grade_id}")
        inputs = str(words.get("inputs") or "inputs")
        hint = str(words["hint"]) if words.get("hint") else None
        group = by_words.setdefault((function, inputs, hint), CheckWords(function, inputs, hint))
        group.keys.append(key)
        out[key] = group
    return out


def cell_hints(reference_cell: dict[str, list[dict]], message: str | None = None) -> list[str]:
    """The distinct hints of one grade cell's checks, in report order.

    With ``message`` (a visible test's error), the checks of the function it names
    come first: "mean_vjp(grad=[3, 6, 9], ...): expected ..." shows mean_vjp's hint.
    """
    groups = list({id(g): g for g in check_words(reference_cell, "").values()}.values())
    if message:   # the longest name the message spells first (ArctanFunction.backward before Arctan)
        groups.sort(key=lambda g: -_named(g.function, message))
    return list(dict.fromkeys(g.hint for g in groups if g.hint))


def _named(function: str, message: str) -> int:
    """How long a name of the check's function ``message`` spells (``Value.backward`` also as
    ``backward``, any case); 0 when it names none."""
    name = re.split(r"[\s,(]", function.strip())[0]
    spellings = {name, name.rsplit(".", 1)[-1]} - {""}
    return max((len(n) for n in spellings if not n.startswith("__")
                and re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", message, re.I)), default=0)


def _group_line(words: CheckWords, found: list[Finding], reference_cell: dict) -> tuple[str, str]:
    """(line, label) for one check with failing reports."""
    fn, inputs, n_keys = words.function, words.inputs, len(words.keys)
    first = found[0]
    example = reference_cell.get(first.key, [{}])[0].get("example")
    example = f"; for example {example}" if example else ""
    kinds = {f.kind for f in found}
    if kinds & {"repeated", "unexpected"}:
        return (f"{fn}: your code sent results of its own to the grader, so this test scores 0",
                f"{fn}: sent results of its own")
    if "missing" in kinds and len(kinds) == 1:
        count = f"{len(found)} of {n_keys} {inputs}" if n_keys > 1 else inputs
        return f"{fn}: no result came back for {count} (the test stopped before them)", f"{fn}: no result"
    bad, total = (len(found), n_keys) if n_keys > 1 else (first.bad, first.total)
    if first.kind == "rule":
        share = f" ({len(found)} of {n_keys} {inputs})" if n_keys > 1 else ""
        return f"{fn}: {first.detail}{share}{example}", f"{fn}: misses what the test requires of {inputs}"
    if first.kind == "shape":
        detail = first.detail.replace("has shape ()", "returned one number (or None)", 1)
        detail = detail.replace("has shape", "returned shape", 1)
        count = f" ({bad} of {total} {inputs})" if n_keys > 1 else ""
        return f"{fn}: {detail}{count}{example}", f"{fn}: wrong shape"
    if first.kind == "unconvertible":
        return f"{fn}: returned something that {first.detail}{example}", f"{fn}: not numbers"
    errors = [f.error for f in found if f.error is not None]
    size = ("; some came out infinite or NaN" if errors and not math.isfinite(max(errors))
            else f"; largest error {max(errors):.2g}" if errors else "")
    if total == 1:
        return f"{fn}: the result for {inputs} differs{size}{example}", f"{fn}: wrong values"
    return f"{fn}: {bad} of {total} {inputs} differ{size}{example}", f"{fn}: wrong values"


def _raised_line(raised: Raised, fallback: str) -> tuple[str, str]:
    """(line, label) for the exception a cell ended with; ``fallback`` names the function."""
    fn = raised.function or fallback
    where = f"your cell '{raised.cell}'" + (f", line {raised.line}" if raised.line else "")
    message = raised.message if raised.message is not None else "(message not shown: it quotes the test)"
    if raised.where == "solution":
        if raised.not_written:
            said = (raised.message or "").split(":")[0] if NOT_WRITTEN in (raised.message or "") else ""
            name = said if said and ":" in (raised.message or "") else fn
            return f"{name}: {NOT_WRITTEN} ({raised.ename} in {where})", f"{name}: {NOT_WRITTEN}"
        return f"{fn} raised {raised.ename}: {message} ({where})", f"{fn} raised {raised.ename}"
    if raised.where == "hidden":
        return (f"{fallback}: a hidden check could not use your result: {raised.ename}: {message}",
                f"{fallback}: {raised.ename} in a hidden check")
    # a visible test's own message (the helpers print it alone), as the student saw it in Validate:
    # all of it (what was expected and what came back), on one line
    first = next((ln.strip() for ln in (raised.message or "").splitlines() if ln.strip()), "")
    if raised.not_written:
        name = first.split(":")[0] if NOT_WRITTEN in first and ":" in first else fallback
        return (f"{name}: {NOT_WRITTEN} (replace `raise NotImplementedError()` in its cell with your code)",
                f"{name}: {NOT_WRITTEN}")
    whole = " ".join((raised.message or "").split())
    line = f"{raised.ename}: {whole}" if whole else raised.ename
    if raised.test_line:
        line += f" (at the test's line {raised.line}: {raised.test_line})"
    return line, f"{raised.ename}: {first.split(':')[0]}" if first else f"{raised.ename} in {fallback}"


def build_reason(grade_id: str, findings: list[Finding], reference_cell: dict[str, list[dict]],
                 raised: Raised | None = None, stopped: str | None = None,
                 judged: str | None = None, related_hints: list[str] | None = None) -> Reason:
    """The reason one failing grade cell gets.

    ``stopped``: a limit or crash that ended the cell (already in words);
    ``judged``: the own-code or tampering verdict that zeroed it;
    ``related_hints``: the hints of the checks of the same solution cells in other
    tests, shown when none of this cell's own checks gives one (a visible test kept
    apart from its hidden checks).
    """
    words = check_words(reference_cell, grade_id)
    items: list[tuple[str, str]] = []      # (line, label)
    hints: list[str] = []

    def hint_of(group: CheckWords | None) -> None:
        if group is not None and group.hint and group.hint not in hints:
            hints.append(group.hint)

    if stopped:
        items.append((stopped, stopped))
    if judged:
        items.append((judged, judged.split(":")[0]))
    missing = [f for f in findings if f.kind == "missing"]
    first_missing = words.get(missing[0].key) if missing else None
    if raised is not None:
        fallback = first_missing.function if first_missing else grade_id
        items.append(_raised_line(raised, fallback))
        if raised.where in ("hidden", "solution"):
            hint_of(first_missing)
    explained = bool(stopped or raised)
    groups: dict[int, tuple[CheckWords, list[Finding]]] = {}
    for f in findings:
        if f.kind == "missing" and explained:
            continue
        group = words.get(f.key)
        if group is None:   # a key the reference never sent
            group = CheckWords(f"a hidden check of {grade_id}", "inputs")
        groups.setdefault(id(group), (group, []))[1].append(f)
    for group, found in groups.values():
        items.append(_group_line(group, found, reference_cell))
        hint_of(group)
    if not items:
        items.append(("the test did not pass (it gave no message)", "did not pass"))
    if not hints:   # no check of its own failed: the test's hint (of the function its error names)
        message = raised.message if raised is not None and raised.where in ("visible", "unknown") else None
        hints = (cell_hints(reference_cell, message) or list(dict.fromkeys(related_hints or [])))[:1]
    lines = [_clip(line) for line, _ in items]
    summary = [f"failed: {lines[0]}"]
    if len(lines) == 2:
        summary.append(lines[1])
    elif len(lines) > 2:   # the rest counted, by the names they concern; the page lists them at the cell
        names = ", ".join(dict.fromkeys(label.split(":")[0] for _, label in items[1:]))
        summary.append(_clip(f"also failed: {len(lines) - 1} more checks ({names}); all are listed at the test"))
    shown = hints[:2] if len(lines) <= 2 else hints[:1]
    if shown:
        summary.append(_clip("Hint: " + "; ".join(h.rstrip(".;") for h in shown)))
    details = lines + [f"Hint: {h}" for h in hints]
    return Reason(summary[:SUMMARY_LINES], details, _clip(items[0][1], 160))
