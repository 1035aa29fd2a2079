"""The notebook builder (assignments/tools) and the course documents around the assignments.

- the percent-format parser accepts what the sources use and rejects malformed input
  with a message naming the file and line;
- mutants apply exactly once and submissions lose solution markers and hidden tests;
- the set-up helpers give the messages the student guide shows;
- every hidden test has the new form: it only reports the student's results on inputs
  from ``grading_rng`` (no library or torch oracle, no expected values, no fixed seeds);
- the syllabus states each assignment's real point total, the roster imports into an
  nbgrader gradebook, and the instructor guide names every ``gradkit`` subcommand that exists.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from pathlib import Path

import pytest
from support import REPO

TOOLS = REPO / "assignments" / "tools"
import build_notebooks  # noqa: E402
import nbsource  # noqa: E402

GOOD = """docstring, not copied
# %% [markdown]
# # Title
#
# {{points_table}}
# %% [locked id=setup]
x = 1
# %% [solution id=answer]
def f():
    ### BEGIN SOLUTION
    return 42
    ### END SOLUTION
# %% [tests id=test_answer points=2.5]
assert f() == 42
### BEGIN HIDDEN TESTS
assert f() + 0 == 42
### END HIDDEN TESTS
"""


# ------------------------------------------------------------------------------ parser
def test_parse_builds_the_cells_with_nbgrader_metadata():
    cells = build_notebooks.fill_points(nbsource.parse_source(GOOD, "good.py"))
    assert [c.kind for c in cells] == ["markdown", "locked", "solution", "tests"]
    assert cells[0].text.startswith("# Title\n\n| graded cell | points |")
    assert "| **total** | **2.5** |" in cells[0].text
    nb = nbsource.build_notebook(cells)
    metas = [c.metadata.get("nbgrader") for c in nb.cells]
    assert metas[0] is None
    assert metas[1]["locked"] and not metas[1]["solution"] and not metas[1]["grade"]
    assert metas[2]["solution"] and not metas[2]["locked"]
    assert metas[3] == dict(grade=True, solution=False, locked=True, points=2.5, grade_id="test_answer",
                            schema_version=3, task=False)
    assert [c.id for c in nb.cells] == ["markdown-001", "setup", "answer", "test_answer"]
    assert all(c.get("outputs", []) == [] for c in nb.cells)


@pytest.mark.parametrize("source, message", [
    ("# %% [solution]\nx = 1\n", "needs id="),
    ("# %% [tests id=t]\nassert True\n", "needs points="),
    ("# %% [tests id=t points=0]\nassert True\n", "points must be positive"),
    ("# %% [code points=3]\nx = 1\n", "only tests cells carry points"),
    ("# %% [weird id=a]\nx = 1\n", "unknown cell kind"),
    ("# %% [locked id=a]\n# %% [locked id=a]\n", "already used at line 1"),
    ("# %% [locked id=has space!]\n", "is not key=value"),
    ("# %% [locked id=bad/id]\n", "must match"),
    ("x = 1\n# %%  oops\n", "malformed cell marker"),
])
def test_parse_rejects_malformed_sources_naming_file_and_line(source, message):
    with pytest.raises(nbsource.SourceError, match=re.escape(message)) as caught:
        nbsource.parse_source(source, "bad.py")
    assert str(caught.value).startswith("bad.py:")


def test_include_expands_the_shared_helpers(tmp_path):
    (tmp_path / "shared.py").write_text('"""doc"""\n# ---- include from here ----\nshared = 1\n')
    (tmp_path / "src.py").write_text("# %% [locked id=setup]\n# {{include shared.py}}\nmine = 2\n")
    (cell,) = nbsource.load_source(tmp_path / "src.py")
    assert cell.text == "shared = 1\nmine = 2"
    (tmp_path / "missing.py").write_text("# %% [locked id=setup]\n# {{include nope.py}}\n")
    with pytest.raises(nbsource.SourceError, match="does not exist"):
        nbsource.load_source(tmp_path / "missing.py")


# ----------------------------------------------------------------------------- mutants
def test_mutant_replaces_exactly_once_in_a_solution_cell():
    cells = nbsource.parse_source(GOOD, "good.py")
    mutated = build_notebooks.apply_mutant(cells, build_notebooks.Mutant("m", "why", "answer", "return 42", "return 41"))
    assert "return 41" in mutated[2].text and "return 42" in cells[2].text
    for mutant, message in [
        (build_notebooks.Mutant("m", "w", "answer", "return 7", "x"), "occurs 0 times"),
        (build_notebooks.Mutant("m", "w", "test_answer", "f()", "x"), "not a solution"),
        (build_notebooks.Mutant("m", "w", "nowhere", "x", "y"), "no solution cell"),
    ]:
        with pytest.raises(nbsource.SourceError, match=message):
            build_notebooks.apply_mutant(cells, mutant)


def test_submission_form_drops_markers_and_hidden_tests():
    cells = build_notebooks.as_submission(nbsource.parse_source(GOOD, "good.py"))
    text = "\n".join(c.text for c in cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN" not in text and "f() + 0" not in text
    assert "return 42" in cells[2].text and cells[3].text == "assert f() == 42"


# ----------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def helpers():
    """The set-up cell's helpers, run as a module named __main__ would run them."""
    text = (TOOLS / "sources" / "_helpers.py").read_text().split(nbsource.INCLUDE_FROM, 1)[1]
    namespace = {"__name__": "helpers_under_test"}
    exec(compile(text, "_helpers.py", "exec"), namespace)
    return namespace


def test_expect_close_message_matches_the_student_guide(helpers):
    with pytest.raises(AssertionError) as caught:
        helpers["expect_close"]("central_difference(x**3, x=1.0, h=0.1)", 6.02, 3.01)
    guide = (REPO / "course" / "student_guide.md").read_text()
    assert f"AssertionError: {caught.value}" in guide


def test_checking_turns_stubs_and_missing_names_into_instructions(helpers):
    with pytest.raises(NotImplementedError, match="f: not written yet. Replace"):
        with helpers["checking"]("f"):
            raise NotImplementedError()
    with pytest.raises(AssertionError, match="Run the cell that defines it"):
        with helpers["checking"]("g"):
            undefined_name  # noqa: B018, F821
    with pytest.raises(ValueError):  # anything else passes through unchanged
        with helpers["checking"]("h"):
            raise ValueError("mine")


HIDDEN_REGION = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
IMPORTS_TORCH = re.compile(r"^\s*(import|from) torch\b", re.M)
# What the old hidden tests did inside the student's kernel, and the new form forbids. (Which
# library modules a hidden block may import, only those the set-up gives every student, is checked
# on the built notebooks: test_assignments_notebooks.py.)
OLD_FORM = {
    "calls expect_* (an expected value in the student's kernel)": re.compile(r"\bexpect_\w+\("),
    "uses gradkit_references": re.compile(r"\bgradkit_references\b"),
    "reports an own-code count": re.compile(r"_own_code"),
    "draws from a fixed seed instead of grading_rng": re.compile(r"default_rng\(\s*\d"),
}
SOURCES_WITH_HIDDEN_TESTS = sorted(a for a in build_notebooks.ASSIGNMENTS if (TOOLS / "sources" / f"{a}.py").exists())


@pytest.mark.parametrize("assignment", SOURCES_WITH_HIDDEN_TESTS)
def test_hidden_tests_only_report_the_students_results(assignment):
    cells = nbsource.load_source(TOOLS / "sources" / f"{assignment}.py")
    # torch is an oracle where the notebook itself does not use it
    torch_is_oracle = not any(IMPORTS_TORCH.search(HIDDEN_REGION.sub("", c.text)) for c in cells if c.kind != "markdown")
    problems = []
    for cell in cells:
        if cell.kind != "tests":
            continue
        hidden = "".join(HIDDEN_REGION.findall(cell.text))
        assert "report(" in hidden, f"{assignment}:{cell.grade_id}: the hidden tests report nothing"
        if "_rng" in hidden:
            assert "grading_rng(" in hidden, f"{assignment}:{cell.grade_id}: inputs must come from grading_rng"
        for what, pattern in OLD_FORM.items():
            if pattern.search(hidden):
                problems.append(f"{cell.grade_id} {what}")
        if torch_is_oracle and IMPORTS_TORCH.search(hidden):
            problems.append(f"{cell.grade_id} imports torch (an oracle in the student's kernel)")
    assert not problems, f"{assignment}: hidden tests in the old form: {problems}"


def test_the_helpers_offer_no_oracle(helpers):
    assert "gradkit_references" not in helpers  # the grader checks sources and withholds modules itself


# ----------------------------------------------------------------------------- course/
def test_syllabus_states_each_assignments_real_total():
    syllabus = (REPO / "course" / "syllabus.md").read_text()
    for assignment in build_notebooks.ASSIGNMENTS:
        cells = build_notebooks.load_source(build_notebooks.SOURCES / f"{assignment}.py")
        total = re.search(r"\*\*total\*\* \| \*\*([\d.]+)\*\*", build_notebooks.points_table(cells)).group(1)
        row = next(line for line in syllabus.splitlines() if line.startswith(f"| {assignment} |"))
        assert row.rstrip(" |").split("|")[-1].strip() == total, f"{assignment}: syllabus says {row!r}, notebook {total}"


def test_roster_imports_into_an_nbgrader_gradebook(tmp_path, monkeypatch):
    from nbgrader.api import Gradebook

    # nbgrader creates the database with the `alembic` executable that sits next to python
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")

    with open(REPO / "course" / "roster.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {"id", "first_name", "last_name", "email", "lms_user_id"} <= set(rows[0])
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        for row in rows:
            gb.update_or_create_student(row.pop("id"), **row)
        assert len(gb.students) == len(set(r["email"] for r in rows))


def test_instructor_guide_names_every_gradkit_subcommand():
    from gradkit.cli import build_parser

    parser = build_parser()
    commands = set(next(a for a in parser._actions if a.dest == "command").choices)  # noqa: SLF001
    guide = (REPO / "course" / "instructor_guide.md").read_text()
    for command in ("release", "collect", "grade", "feedback", "export", "report", "verify"):
        assert command in commands, f"`gradkit {command}` does not exist"
        assert f"gradkit {command}" in guide, f"the instructor guide does not show `gradkit {command}`"
