"""``gradkit_autograder.api``: the objects the command line calls, and a script that uses them."""

from __future__ import annotations

import ast
import importlib
import inspect

import nbformat

from gradkit_autograder import api, cli
from gradkit_autograder.grading.class_builder import reference_notebook
from support import REPO_COURSE

A = "a0_warmup"


def _cli_imports() -> set[tuple[str, str]]:
    """(module, name) of every ``from gradkit_autograder... import name`` in cli.py."""
    tree = ast.parse(inspect.getsource(cli))
    return {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("gradkit_autograder") for alias in node.names}


def test_the_api_names_are_the_objects_the_command_line_calls():
    used = _cli_imports()
    for name in api.__all__:
        obj = getattr(api, name)
        home = next((module for module, imported in used if imported == name), None)
        if home is None:   # only the API offers it (scratch_course), or the CLI reaches it another way
            continue
        assert getattr(importlib.import_module(home), name) is obj, name
    verbs = {"release", "collect", "grade", "write_feedback", "export", "apply_late_days", "term_table",
             "write_report", "write_similarity", "verify", "run_demo", "Course", "CourseError", "GradeError",
             "SettingsError", "set_due_date"}
    assert verbs <= {name for _, name in used} & set(api.__all__)


def test_the_docstring_example_is_python_that_names_only_api_names():
    after = api.__doc__.split("::", 1)[1].splitlines()[1:]
    block = [line[4:] for line in after[:next(i for i, line in enumerate(after) if line and not line.startswith("    "))]]
    tree = ast.parse("\n".join(block))
    [first] = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert first.module == "gradkit_autograder.api" and {a.name for a in first.names} <= set(api.__all__)
    assert len([line for line in block if line.strip()]) <= 6   # the import and five lines


def test_a_script_releases_and_collects_with_the_api(tmp_path):
    course = api.scratch_course(api.Course.open(REPO_COURSE), tmp_path / "copy", [A])
    [summary] = api.release(course, [A])
    assert summary.assignment == A and summary.graded_cells > 0
    assert (course.release_dir(A) / "warmup.ipynb").exists()
    ref = reference_notebook(course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb")
    (tmp_path / "class" / "alice").mkdir(parents=True)
    nbformat.write(ref, tmp_path / "class" / "alice" / "warmup.ipynb")
    got = api.collect(api.Course.open(course.root), tmp_path / "class", A)
    assert [(s, a) for s, a, _ in got.imported] == [("alice", A)]
    assert (course.submitted_dir("alice", A) / "warmup.ipynb").exists()
