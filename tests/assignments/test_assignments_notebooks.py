"""Checks on the assignment notebooks built from assignments/tools/sources.

- each stored notebook is exactly what its text source builds (no hand edits, no outputs);
- its nbgrader metadata is valid (unique ids, points on every graded cell, balanced
  solution and hidden-test regions, the stated total equals the sum of the points);
- nbgrader's own ``generate_assignment`` releases it with no solution or hidden test left;
- the blank release runs in a plain kernel and every graded cell fails with a readable
  message (AssertionError or NotImplementedError with text, never a NameError);
- the reference runs top to bottom without an error in a kernel on the grader's library
  view, where what ``assignment.yaml`` withholds fails on use (as when grading), reports its hidden results
  through the trusted channel, and stays within the time budget;
- every stored mutant is the reference with exactly one solution cell changed;
- ``gradkit verify`` scores reference full, blank zero and each mutant in between.

The notebooks are executed once per module (reference and blank release of each,
two at a time) and shared by the tests through fixtures. a5_distributed_ray's notebook
starts its own Ray: its static checks run here with the others, its graded runs
(``gradkit verify``, marked ``a5_grading``) in ``make test-a5``, and its top-to-bottom
runs are the graded runs (tests/test_a5_grading.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from support import REPO

TOOLS = REPO / "assignments" / "tools"
import build_notebooks  # noqa: E402  (assignments/tools is not a package)

ASSIGNMENTS = sorted(a for a in build_notebooks.ASSIGNMENTS if (TOOLS / "sources" / f"{a}.py").exists())
# Notebooks that start their own Ray: run only by the graded checks of `make test-a5`.
STARTS_RAY = {"a5_distributed_ray"}
EXECUTED = [a for a in ASSIGNMENTS if a not in STARTS_RAY]
CHECK_MIME = "application/vnd.gradkit.check+json"
READABLE_ERRORS = {"AssertionError", "NotImplementedError"}
REFERENCE_BUDGET_S = 180  # the limit for one reference run on 2 CPU cores
CELL_TIMEOUT_S = 300


def notebook_path(assignment: str) -> Path:
    return REPO / "assignments" / assignment / build_notebooks.ASSIGNMENTS[assignment]


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def grade_cells(nb) -> list:
    return [c for c in nb.cells if nbgrader_meta(c).get("grade")]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def released(tmp_path_factory) -> dict[str, Path]:
    """Release every assignment with nbgrader's API into a throw-away course directory."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    base = tmp_path_factory.mktemp("course")
    course, source = base / "course", base / "assignments"
    course.mkdir()
    for assignment in ASSIGNMENTS:
        shutil.copytree(REPO / "assignments" / assignment, source / assignment)
    config = Config()
    config_file = REPO / "course" / "nbgrader_config.py"
    if config_file.exists():  # the course's real configuration, as instructors use it
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.source_directory = "../assignments"
    config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
    config.NbGraderAPI.log_level = "ERROR"
    # nbgrader runs the `alembic` executable to create the gradebook: it sits next to python.
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    out = {}
    for assignment in ASSIGNMENTS:
        result = api.generate_assignment(assignment, force=True)
        assert result["success"], f"nbgrader could not release {assignment}:\n{result.get('log')}\n{result.get('error')}"
        out[assignment] = course / "release" / assignment / build_notebooks.ASSIGNMENTS[assignment]
        assert out[assignment].exists(), f"no released notebook at {out[assignment]}"
    return out


def withheld_modules(assignment: str) -> list[str]:
    from gradkit_autograder.state.settings import load_settings

    return list(load_settings(REPO / "assignments" / assignment).withheld)


def _execute(source: Path, workdir: Path, withheld: list[str]) -> tuple[nbformat.NotebookNode, float]:
    """Run a notebook top to bottom in a fresh kernel on the grader's library view (what the
    assignment withholds fails on use), errors allowed.

    Returns the executed notebook and the seconds taken.
    """
    from gradkit_autograder.sandbox.library_view import library_view

    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / source.name
    shutil.copy(source, target)
    view = library_view(tuple(withheld), workdir / "view")
    python_path = os.pathsep.join(p for p in (view, os.environ.get("PYTHONPATH", "")) if p)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
         "--allow-errors", f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}", str(target)],
        cwd=workdir, capture_output=True, text=True,
        env={**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONPATH": python_path},
    )
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, f"executing {source} failed:\n{proc.stderr[-3000:]}"
    return nbformat.read(target, as_version=4), seconds


@pytest.fixture(scope="module")
def executed(released, tmp_path_factory) -> dict[tuple[str, str], tuple[nbformat.NotebookNode, float]]:
    """(assignment, "reference" | "blank") -> (executed notebook, wall seconds); two kernels at a time."""
    base = tmp_path_factory.mktemp("runs")
    jobs = {}
    for assignment in EXECUTED:
        withheld = withheld_modules(assignment)
        jobs[(assignment, "reference")] = (notebook_path(assignment), base / assignment / "reference", withheld)
        jobs[(assignment, "blank")] = (released[assignment], base / assignment / "blank", withheld)
    # Longest first, so the two workers finish together.
    order = sorted(jobs, key=lambda key: (key[1] != "reference", key[0]), reverse=False)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(_execute, *jobs[key]) for key in order}
        return {key: future.result() for key, future in futures.items()}


# ------------------------------------------------------------------------ static checks
def test_every_assignment_has_a_source():
    assert ASSIGNMENTS, "no assignment sources found under assignments/tools/sources/"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_stored_files_are_built_from_the_source(assignment):
    stale = [
        str(path.relative_to(REPO))
        for path, text in build_notebooks.planned_files(assignment).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"out of date, run assignments/tools/build_notebooks.py: {stale}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_is_stored_without_outputs(assignment):
    nb = nbformat.read(notebook_path(assignment), as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.id} has stored outputs"
            assert cell.execution_count is None, f"cell {cell.id} has an execution count"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_metadata_is_valid(assignment):
    nb = nbformat.read(notebook_path(assignment), as_version=4)
    ids = [cell.id for cell in nb.cells]
    assert len(ids) == len(set(ids)), "cell ids repeat"
    grade_ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(grade_ids) == len(set(grade_ids)), "nbgrader grade_ids repeat"
    total = 0.0
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if not meta:
            assert "BEGIN SOLUTION" not in cell.source, f"cell {cell.id} has a solution but no nbgrader metadata"
            continue
        assert meta["schema_version"] == 3
        source = cell.source
        begins, ends = source.count("### BEGIN SOLUTION"), source.count("### END SOLUTION")
        assert begins == ends, f"{meta['grade_id']}: unbalanced solution markers"
        if meta["solution"]:
            assert begins >= 1 and not meta["grade"] and not meta["locked"], meta["grade_id"]
        else:
            assert begins == 0, f"{meta['grade_id']}: a solution region in a non-solution cell"
        if meta["grade"]:
            assert meta["locked"] and meta.get("points", 0) > 0, f"{meta['grade_id']}: graded without points"
            assert source.count("### BEGIN HIDDEN TESTS") == source.count("### END HIDDEN TESTS") == 1, (
                f"{meta['grade_id']}: every graded cell has one hidden-test region")
            total += meta["points"]
    intro = nb.cells[0].source
    stated = re.search(r"\*\*total\*\* \| \*\*([\d.]+)\*\*", intro)
    assert stated and float(stated.group(1)) == total, "the total stated at the top differs from the points"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_mutants_each_change_one_solution_cell(assignment):
    source_cells = build_notebooks.as_submission(build_notebooks.fill_points(
        build_notebooks.load_source(TOOLS / "sources" / f"{assignment}.py")))
    mutants = build_notebooks.load_mutants(assignment)
    assert len(mutants) >= 3, f"{assignment}: at least three mutants are required"
    stored = sorted(p.name for p in (REPO / "assignments" / assignment / "mutants").iterdir() if p.is_dir())
    assert stored == sorted(m.name for m in mutants), "mutants/ holds a folder that no source defines (or lacks one)"
    for mutant in mutants:
        path = REPO / "assignments" / assignment / "mutants" / mutant.name / build_notebooks.ASSIGNMENTS[assignment]
        nb = nbformat.read(path, as_version=4)
        changed = [
            cell.id for cell, spec in zip(nb.cells, source_cells, strict=True)
            if cell.source != spec.text
        ]
        assert changed == [mutant.cell], f"{mutant.name}: expected only {mutant.cell} to differ, got {changed}"
        assert nbgrader_meta(nb.cells[ids_index(nb, mutant.cell)])["solution"]


DEMO_OPENING = "if GRADING:"


def _names(tree, context) -> set[str]:
    import ast

    made = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, context)}
    if context is not ast.Load:
        made |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        made |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                 for a in n.names}
    return made


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_demonstrations_feed_no_later_cell(assignment):
    """A cell skipped while grading (``if GRADING:``) makes nothing a later cell reads.

    Every name such a cell assigns, and no other cell assigns, is read by no later
    cell that does not bind it itself (hidden tests included): skipping it cannot
    change a score.
    """
    import ast

    cells = [c for c in build_notebooks.load_source(TOOLS / "sources" / f"{assignment}.py") if c.kind != "markdown"]
    trees = [ast.parse(c.text.replace("# {{include _helpers.py}}", "")) for c in cells]
    demos = [i for i, c in enumerate(cells) if c.kind == "code" and c.text.lstrip().startswith(DEMO_OPENING)]
    for i in demos:
        elsewhere = set().union(*(_names(t, ast.Store) for j, t in enumerate(trees) if j != i and j not in demos))
        only_here = _names(trees[i], ast.Store) - elsewhere
        for later, tree in zip(cells[i + 1:], trees[i + 1:]):
            if later in (cells[j] for j in demos):
                continue
            own = _names(tree, ast.Store) | {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
            used = only_here & _names(tree, ast.Load) - own   # a name the later cell binds is its own
            assert not used, (f"{assignment}: the demonstration at line {cells[i].line} makes {sorted(used)}, "
                              f"which the cell at line {later.line} reads; it must run while grading")


def ids_index(nb, cell_id: str) -> int:
    return [cell.id for cell in nb.cells].index(cell_id)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_withheld_modules_exist_and_no_hidden_test_imports_the_library(assignment):
    from gradkit_autograder.state.settings import resolve_withheld

    for name in withheld_modules(assignment):
        resolve_withheld(name)   # a module, or a function or class defined in one; LookupError if neither
    # A hidden block imports what it uses itself (a student could rebind the notebook's names), but
    # from the library only what the locked set-up gives every student: the reference solution is
    # the oracle, never the library's answer.
    nb = nbformat.read(notebook_path(assignment), as_version=4)
    imported = r"^\s*(?:from\s+(gradkit(?:\.[\w.]+)?)\s+import|import\s+(gradkit(?:\.[\w.]+)?)\b)"
    given = {m for c in nb.cells if nbgrader_meta(c).get("locked") and not nbgrader_meta(c).get("grade")
             for m in (a or b for a, b in re.findall(imported, c.source, flags=re.M))}
    for cell in grade_cells(nb):
        hidden = "".join(re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, flags=re.S))
        for module in (a or b for a, b in re.findall(imported, hidden, flags=re.M)):
            assert module in given, (f"{assignment}:{cell.id}: a hidden test imports {module}, which the "
                                     f"set-up does not give students (it gives {sorted(given)})")


# ------------------------------------------------------------------------ release checks
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_keeps_no_solution_or_hidden_test(assignment, released):
    nb = nbformat.read(released[assignment], as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "gradkit_autograder"):
        assert marker not in text, f"{marker!r} left in the released {assignment}"
    # Every distinctive line of a reference solution is gone (short or common lines
    # such as `return out` may legitimately appear elsewhere).
    source = nbformat.read(notebook_path(assignment), as_version=4)
    outside = "\n".join(c.source for c in source.cells if not nbgrader_meta(c).get("solution"))
    for cell in source.cells:
        if not nbgrader_meta(cell).get("solution"):
            continue
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, flags=re.S):
            for line in region.splitlines():
                line = line.strip()
                if len(line) > 30 and not line.startswith("#") and line not in outside:
                    assert line not in text, f"solution line left in the release of {assignment}: {line!r}"
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution"):
            assert "raise NotImplementedError()" in cell.source, f"{cell.id}: no stub in the released cell"


# ---------------------------------------------------------------------- execution checks
def _errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


@pytest.mark.slow   # executes every notebook
@pytest.mark.parametrize("assignment", EXECUTED)
def test_blank_release_fails_every_graded_cell_readably(assignment, executed):
    nb, _ = executed[(assignment, "blank")]
    for cell in grade_cells(nb):
        errors = _errors(cell)
        assert errors, f"{nbgrader_meta(cell)['grade_id']} passes on the blank release"
    for cell in nb.cells:
        for error in _errors(cell):
            if nbgrader_meta(cell).get("solution") and error.ename == "NotImplementedError":
                continue  # nbgrader's own stub, `raise NotImplementedError()` under `# YOUR CODE HERE`
            assert error.ename in READABLE_ERRORS and error.evalue.strip(), (
                f"cell {cell.id} of the blank {assignment} fails with {error.ename}: {error.evalue!r}; "
                "expected an AssertionError or NotImplementedError that says what to do")


@pytest.mark.slow   # executes every notebook
@pytest.mark.parametrize("assignment", EXECUTED)
def test_reference_runs_top_to_bottom(assignment, executed):
    nb, seconds = executed[(assignment, "reference")]
    failures = [(cell.id, e.ename, e.evalue[:300]) for cell in nb.cells for e in _errors(cell)]
    assert not failures, f"the reference {assignment} raised: {failures}"
    for cell in grade_cells(nb):
        reports = [o.data[CHECK_MIME] for o in cell.outputs
                   if o.output_type == "display_data" and CHECK_MIME in o.get("data", {})]
        grade_id = nbgrader_meta(cell)["grade_id"]
        assert reports, f"{grade_id}: no result sent through the trusted channel"
        # The grader compares every report of a key with the reference's last one,
        # so one key must not carry two different results.
        by_key = {}
        for payload in reports:
            by_key.setdefault(payload["key"], []).append(payload)
        for key, payloads in by_key.items():
            assert all(p == payloads[-1] for p in payloads), f"{grade_id}: key {key!r} reported with different values"
    assert seconds < REFERENCE_BUDGET_S, f"the reference {assignment} took {seconds:.0f} s"


# -------------------------------------------------------------------------- the grader
@pytest.mark.parametrize("assignments", [
    pytest.param(EXECUTED, id="without-ray", marks=pytest.mark.slow),
    *(pytest.param([a], id=a, marks=[pytest.mark.slow, pytest.mark.a5_grading]) for a in sorted(STARTS_RAY & set(ASSIGNMENTS))),
])
def test_gradkit_verify_passes(assignments):
    """The CI gate of issue 4: reference full, blank zero, every mutant strictly between."""
    proc = subprocess.run(
        [sys.executable, "-m", "gradkit_autograder", "verify", *assignments],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, f"gradkit verify failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"


@pytest.mark.slow   # gradkit verify of a0
def test_verify_rejects_a_check_that_cannot_tell_work_from_none(tmp_path):
    """Class 6 of the integrity issue: a hidden test that passes for the reference and for work
    not done (here a flag the do-nothing submission reaches too) makes verify fail."""
    shutil.copytree(REPO / "course", tmp_path / "course", ignore=shutil.ignore_patterns("autograded", "submitted",
                                                                                       "release", "feedback",
                                                                                       "*.db", ".gradkit"))
    shutil.copytree(REPO / "assignments" / "a0_warmup", tmp_path / "assignments" / "a0_warmup",
                    ignore=shutil.ignore_patterns("mutants"))
    path = tmp_path / "assignments" / "a0_warmup" / "warmup.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    hidden = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "test_softplus_hidden")
    hidden.source = ("### BEGIN HIDDEN TESTS\nfrom gradkit_autograder.kernel.channel import report\n"
                     "softplus(1.0)\n"
                     "report('softplus_ran', 1.0)   # a flag that work not done reaches too\n"
                     "### END HIDDEN TESTS")
    nbformat.write(nb, str(path))
    proc = subprocess.run(
        [sys.executable, "-m", "gradkit_autograder", "verify", "--course", str(tmp_path / "course"), "a0_warmup"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    lines = {ln.split()[2]: ln for ln in proc.stdout.splitlines() if ln.startswith(("ok", "FAIL"))}
    assert lines["do-nothing"].startswith("FAIL") and "test_softplus_hidden" in lines["do-nothing"], proc.stdout
    assert lines["reference"].startswith("ok") and lines["blank"].startswith("ok"), proc.stdout   # the stub raises

