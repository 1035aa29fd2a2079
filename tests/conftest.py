"""Fixtures the test folders share: one released course and one Ray for the whole session.

- ``released_a0``: a scratch copy of the course with a0_warmup released, made once per
  session (nbgrader's release takes seconds). A test that changes a course takes
  ``a0_course``: its own copy of that folder.
- ``ray_address``: one Ray head for the session (a ``ray start`` of its own on the
  loopback, in a temp dir of its own), which tests join by address the way
  ``gradkit grade --address`` does; its processes are stopped by that temp dir at the end.

Plain helpers (paths, scripted students, generated classes) live in ``tests/support``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from support import REPO_COURSE

A0 = "a0_warmup"
RAY_NODE_IP = "127.0.0.3"   # `ray start` swaps 127.0.0.1 for the machine's address; other loopbacks stay


@pytest.fixture(scope="session")
def released_a0(tmp_path_factory) -> Path:
    """The folder that holds a scratch course (``course/``) with a0_warmup released."""
    from gradkit_autograder.commands.release import release
    from gradkit_autograder.state.course import Course
    from gradkit_autograder.state.scratch_course import scratch_course

    base = tmp_path_factory.mktemp("released_a0")
    release(scratch_course(Course.open(REPO_COURSE), base, [A0]), [A0])
    return base


@pytest.fixture
def a0_course(released_a0, tmp_path):
    """This test's own copy of the released a0 course (a ``Course``)."""
    from gradkit_autograder.state.course import Course

    shutil.copytree(released_a0, tmp_path / "course_copy", symlinks=True)
    return Course.open(tmp_path / "course_copy" / "course")


@pytest.fixture(scope="session")
def ray_address():
    """The address of the session's Ray head (2 CPUs), started on first use.

    Token authentication is off for this loopback-only head: since Ray 2.59 a head turns
    it on whenever the machine has a token, and a joining driver is then refused for
    ~20 s before it retries with the token (see ``gradkit.runtime.session.use_machine_token``).
    """
    from gradkit.runtime.local_nodes import processes_of, start_node, stop_processes

    temp_dir = tempfile.mkdtemp(prefix="gk-test-ray-")   # short: Ray's socket paths are limited
    try:
        yield start_node(temp_dir, RAY_NODE_IP, num_cpus=2, env=dict(os.environ, RAY_AUTH_MODE="disabled"))
    finally:
        stop_processes(processes_of(temp_dir))
        shutil.rmtree(temp_dir, ignore_errors=True)
