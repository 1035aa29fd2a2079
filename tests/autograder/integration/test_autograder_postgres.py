"""The gradebook in PostgreSQL: a real server is started for the test (skipped when none can be).

The server runs from Debian's binaries (``/usr/lib/postgresql/<version>/bin``) in a
temporary folder on a free loopback port, as an unprivileged user when the test
runs as root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from gradkit_autograder.state import grading_ledger
from gradkit_autograder.grading.class_builder import build_class
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course
from gradkit_autograder.commands.export import export
from gradkit.runtime import ray_session
from gradkit_autograder.commands.grade import grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from support import REPO_COURSE

pytestmark = pytest.mark.slow
A = "a0_warmup"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg2", reason="psycopg2 (pip install psycopg2-binary) is needed to "
                                           "reach PostgreSQL")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine; "
                    "apt-get install postgresql to run this test")
    user = None
    if os.geteuid() == 0:   # postgres refuses to run as root: use an unprivileged account
        for name in ("postgres", "nobody"):
            try:
                user = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        if user is None:
            pytest.skip("running as root and no unprivileged user (postgres, nobody) to run the server")
    data = Path(tempfile.mkdtemp(prefix="gradkit-pg-"))
    if user:
        os.chown(data, user.pw_uid, user.pw_gid)
    run_as = dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[]) if user else {}
    port = _free_port()
    env = {"PATH": f"{bindir}:{os.environ.get('PATH', '')}", "LC_ALL": "C"}

    def pg(*args):
        return subprocess.run([str(bindir / args[0]), *args[1:]], capture_output=True, text=True,
                              env=env, cwd=data, timeout=120, **run_as)

    init = pg("initdb", "-D", str(data / "db"), "-U", "gradkit", "--auth=trust", "-E", "UTF8")
    if init.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"initdb failed, no PostgreSQL server can start here: {init.stderr.strip()[-300:]}")
    start = pg("pg_ctl", "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-t", "60", "-o",
               f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")
    if start.returncode != 0:
        log = (data / "log").read_text() if (data / "log").exists() else start.stderr
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"pg_ctl start failed, no PostgreSQL server can start here: {log.strip()[-300:]}")
    try:
        created = pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "gradkit", "gradebook")
        assert created.returncode == 0, created.stderr
        yield f"postgresql+psycopg2://gradkit@127.0.0.1:{port}/gradebook"
    finally:
        pg("pg_ctl", "-D", str(data / "db"), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


def test_grades_land_in_postgresql(postgres_url, tmp_path):
    from sqlalchemy import create_engine, inspect

    course = scratch_course(Course.open(REPO_COURSE), tmp_path, [A], db_url=postgres_url)
    assert course.db_url == postgres_url
    release(course, [A])
    kinds = build_class(course, A, tmp_path / "class")
    collect(course, tmp_path / "class")
    with ray_session(None, num_cpus=2, what="postgres test"):
        summary = grade(course, A, workers=2, progress=False)
    assert summary.count("graded") == len(kinds)
    assert not (course.root / "gradebook.db").exists()          # nothing went to SQLite
    engine = create_engine(postgres_url)
    tables = set(inspect(engine).get_table_names())
    assert {"grade", "submitted_assignment", "gradkit_graded", "gradkit_reference"} <= tables
    with course.gradebook() as gb:
        assert gb.find_submission(A, "reference").score == 9
        assert gb.find_submission(A, "blank").score == 0
        assert 0 < gb.find_submission(A, "mutant-softplus_naive").score < 9
        assert {r["student"] for r in grading_ledger.rows(gb.engine, A)} == set(kinds)
    assert "reference" in export(course, "csv").read_text()
    engine.dispose()
