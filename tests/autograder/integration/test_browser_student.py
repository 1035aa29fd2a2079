"""A student and their feedback, in JupyterLab in a real headless Chromium.

With the student configuration (``course/student/``), JupyterLab opens the
released a0 notebook; the test types an answer into the solution cell, runs it and
its visible test with Shift+Enter, saves and presses Validate. The saved notebook
is then collected, graded (embedded Ray) and given feedback, and the feedback
page is opened in the same browser: its summary is there, and no hidden-test line
or value is. Screenshots land in ``$GRADKIT_BROWSER_SHOTS`` (default: the test's
temporary folder) and are named in the failure message.

Needs Debian's ``chromium`` and ``tests/support/browser/node_modules`` (``make browser-deps``):
skipped without them, saying so, and failed instead where ``CI`` is set (``.ci/run`` sets it).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course
from gradkit_autograder.commands.feedback import write_feedback
from gradkit_autograder.commands.grade import grade
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from support.hidden_source import hidden_lines
from support import REPO
from support.headless import BROWSER_DIR, need_browser

pytestmark = pytest.mark.slow
STUDENT_CONFIG = REPO / "course" / "student"
A = "a0_warmup"
ANSWER = ('def softplus(x):\n'
          '    """Numerically stable log(1 + exp(x)), elementwise."""\n'
          '    x = np.asarray(x, dtype=float)\n'
          '    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))\n')
BAD_LOG = re.compile(r"^\[(E|C) |Traceback|Error fetching", re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _drive(args: dict, shots: Path) -> dict:
    proc = subprocess.run(["node", str(BROWSER_DIR / "student.mjs"), json.dumps({**args, "shots": str(shots)})],
                          cwd=BROWSER_DIR, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"browser ({args['phase']}) failed; screenshots in {shots}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _hidden_lines(course: Course) -> list[str]:
    return hidden_lines(course.source_dir(A) / "warmup.ipynb")


class JupyterLab:
    """JupyterLab with the student configuration, on 127.0.0.1, stopped by its pid."""

    def __init__(self, workdir: Path, logfile: Path):
        self.port, self.token = _free_port(), os.urandom(16).hex()
        self.logfile = logfile
        # a copy of the student configuration: JupyterLab writes its workspace state and a
        # "migrated" stamp into its config dir, which must not land in the checkout
        config = workdir.parent / "jupyter-config"
        shutil.copytree(STUDENT_CONFIG, config, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("workspaces", "migrated"))
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config),
               "JUPYTER_RUNTIME_DIR": str(workdir.parent / "runtime"),
               "JUPYTER_DATA_DIR": str(workdir.parent / "data"),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={workdir}", "--LabApp.expose_app_in_browser=True"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")     # CI containers run as root; students do not
        self.log = open(logfile, "w")
        self.proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"JupyterLab did not start:\n{logfile.read_text()[-3000:]}")
                time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)     # its own session: the lab and its kernels
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def test_student_answers_validates_and_reads_feedback(tmp_path):
    need_browser()
    shots = Path(os.environ.get("GRADKIT_BROWSER_SHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    course = scratch_course(Course.open(REPO / "course"), tmp_path / "kit", [A])
    release(course, [A])
    work = tmp_path / "home" / "student"
    work.mkdir(parents=True)
    shutil.copy(course.release_dir(A) / "warmup.ipynb", work / "warmup.ipynb")

    lab = JupyterLab(work, tmp_path / "lab.log")
    try:
        seen = _drive({"phase": "student", "url": f"{lab.base}/lab/tree/warmup.ipynb?token={lab.token}",
                       "answer": ANSWER}, shots)
        log = (tmp_path / "lab.log").read_text()      # before the stop, which logs its signal
    finally:
        lab.stop()
    print(json.dumps({k: v for k, v in seen.items() if k != "body"}, indent=1))
    assert not BAD_LOG.search(log), f"errors in the server log:\n{log[-3000:]}"
    assert seen["lockedCellKept"]                                     # a locked test cell is read-only
    assert re.fullmatch(r"\[\d+\]:", seen["testPrompt"].strip()), seen["testPrompt"]
    assert "Error" not in seen["testOutput"], seen["testOutput"]       # the visible test passed
    for absent in ("Formgrader", "Create Assignment", "Error fetching courses", "Assignment List"):
        assert absent not in seen["body"], absent
    # Validate names the unanswered questions' tests, not the answered one
    assert "The following cell failed" in seen["validate"] and "standardize(X)" in seen["validate"]
    assert "softplus(xs)" not in seen["validate"]
    saved = nbformat.read(str(work / "warmup.ipynb"), as_version=4)
    assert any("np.log1p(np.exp(-np.abs(x)))" in c.source for c in saved.cells)

    subs = tmp_path / "subs"
    for student, notebook in (("ada", work / "warmup.ipynb"),
                              ("bob", course.source_dir(A) / "mutants" / "pairwise_sign" / "warmup.ipynb")):
        (subs / student / A).mkdir(parents=True)
        shutil.copy(notebook, subs / student / A / "warmup.ipynb")
    assert sorted(s for s, _, _ in collect(course, subs).imported) == ["ada", "bob"]
    summary = grade(course, A, workers=1, progress=False)
    assert summary.count("graded") == 2, summary
    pages = {p.parent.parent.name: p for p in write_feedback(course, A)}

    shown = _drive({"phase": "feedback", "url": pages["ada"].as_uri()}, shots)
    assert "test_softplus_visible" in shown["summary"] and "passed" in shown["summary"]
    assert "test_standardize_visible" in shown["summary"]
    assert "standardize: not written yet" in shown["summary"]
    # bob handed in a wrong answer (the cross term's sign): its page read on a 375 px phone
    wrong = _drive({"phase": "feedback", "url": pages["bob"].as_uri()}, shots)
    for seen in (shown, wrong):
        assert seen["phoneWidth"] <= 375, "the feedback page scrolls sideways on a phone"
        assert seen["reasons"], "no failing row in the summary"
        for row in seen["reasons"]:
            assert row["text"].strip().startswith("\u2717 failed:"), row
            assert row["left"] >= 0 and row["right"] <= 375 and row["height"] > 0, row
        everything = html.unescape(seen["html"]) + seen["text"]
        leaked = [line for line in _hidden_lines(course) if line in everything]
        assert not leaked, leaked
    assert "pairwise_sq_dists" in wrong["summary"] and "Hint: " in wrong["summary"]
    assert "cross term" in wrong["summary"]
