"""A term on the course hub in a real headless Chromium: the hub's login page, JupyterLab, the formgrader.

The browser version of ``test_course_hub.py``. `gradkit hub start` makes the accounts;
the instructor releases a0 into the exchange. Each student signs in on the hub's own
login page (PAM, the first password), waits for their server, opens nbgrader's
Assignments panel (the Nbgrader menu), fetches a0, opens the notebook from the panel,
types answers into the solution cells, runs them with Shift+Enter, saves, presses
Validate and then Submit in the panel: the first student with every answer, before the
due date; the second with one answer and a cell of their own whose output is HTML with
a ``<script>``, after it. (That script runs in the student's own JupyterLab: the payload
is live.) The instructor's steps run on the command line: ``collect --exchange``,
``grade`` (the sandbox, on the session's Ray), ``feedback --release``. The TA signs in,
opens the Courses panel in their JupyterLab and follows its link to the shared formgrader
(a new tab, through the hub's OAuth): both logins are listed; the second student's
submission page opens from their name, and the student's script did not run there
(the page's title is its own, the script's window variable is unset, no script of the
student's is in the page). Each student then presses Fetch Feedback in the panel,
follows "view feedback" and reads their score in the page. `gradkit hub stop` leaves
no process behind.

Oracles: what the browser saw (the panel's lists, Validate's verdict, the formgrader's
rows and the submission page's state, the feedback page's score) against the notebooks
saved on disk and the gradebook. Screenshots land in ``$GRADKIT_BROWSER_SHOTS`` (default:
the test's temporary folder) and are named in the failure message.

Needs root (the hub's Unix accounts), Debian's ``chromium`` and
``tests/support/browser/node_modules`` (``make browser-deps``): skipped without them,
failed instead where ``CI`` is set (``.ci/run`` sets it).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from gradkit_autograder.grading.class_builder import reference_notebook
from support.course_hub import hub_course, need_root
from support.headless import BROWSER_DIR, need_browser

pytestmark = pytest.mark.slow

A = "a0_warmup"
XSS_VAR = "gkStudentScriptRan"
XSS_TITLE = "pwned-by-student"
SCRIPT_CELL = ("from IPython.display import HTML\n"
               f"HTML(\"<b id='xss-mark'>look</b><script>window.{XSS_VAR} = true; "
               f"document.title = '{XSS_TITLE}'</script>\")")
LAST_VISIBLE_TEST = "visible test: a 2x1 example"     # Q3's: running down to it runs every question
FIRST_VISIBLE_TEST = "visible test: small inputs"     # Q1's
SCORE = re.compile(r"score\s+([\d.]+)\s*/\s*([\d.]+)")


def _drive(args: dict, shots: Path, timeout: float = 300) -> dict:
    what = f"{args['phase']} as {args['login']}"
    try:
        proc = subprocess.run(["node", str(BROWSER_DIR / "hub.mjs"), json.dumps({**args, "shots": str(shots)})],
                              cwd=BROWSER_DIR, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        said = err.stderr.decode(errors="replace") if isinstance(err.stderr, bytes) else err.stderr or ""
        pytest.fail(f"browser ({what}) ran past {timeout:.0f} s; screenshots in {shots}\n{said[-3000:]}")
    assert proc.returncode == 0, f"browser ({what}) failed; screenshots in {shots}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _solutions(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> source of each solution cell."""
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in notebook.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _answer(source: str) -> dict:
    return {"marker": source.split("(", 1)[0] + "(", "code": source}   # "def softplus(": the cell to type into


def test_students_ta_and_feedback_through_the_hub_in_a_browser(ray_address, tmp_path):
    need_root()
    need_browser()
    shots = Path(os.environ.get("GRADKIT_BROWSER_SHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    with hub_course(A) as hc:
        hc.gradkit("hub", "start")
        hc.gradkit("release", A, "--exchange")
        passwords = hc.passwords()
        course = hc.course
        ada, alan = hc.students
        source, released = course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb"
        reference = _solutions(reference_notebook(source, released))
        cells = len(nbformat.read(str(released), as_version=4).cells)
        assert set(reference) == {"softplus", "standardize", "pairwise"}, reference.keys()

        def person(login: str, phase: str, **more) -> dict:
            return {"phase": phase, "url": hc.url, "login": login, "password": passwords[login],
                    "course": hc.course_id, "assignment": A, "notebook": "warmup", "xssVar": XSS_VAR,
                    "xssTitle": XSS_TITLE, **more}

        # ada answers everything, validates and submits before the due date
        first = _drive(person(ada, "student", answers=[_answer(s) for s in reference.values()],
                              runThrough=LAST_VISIBLE_TEST, extraCell=None, cells=cells), shots)
        due = datetime.datetime.now(datetime.timezone.utc)
        time.sleep(1.0)
        hc.gradkit("release", A, "--due", due.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
        # alan answers Q1 only, adds a cell whose output carries a script, and submits late
        second = _drive(person(alan, "student", answers=[_answer(reference["softplus"])],
                               runThrough=FIRST_VISIBLE_TEST, extraCell=SCRIPT_CELL, cells=cells), shots)

        for seen in (first, second):
            assert any(row == f"{A} {hc.course_id} Fetch" for row in seen["released"]), seen["released"]
            assert any(row.startswith(f"{A} {hc.course_id}") and "Submit" in row for row in seen["fetched"]), seen
            assert seen["cellCount"] == cells, (seen["cellCount"], cells)
            assert all(re.fullmatch(r"\[\d+\]:", cell["prompt"]) for cell in seen["ran"]), seen["ran"]
            assert not any("Error" in cell["output"] for cell in seen["ran"]), seen["ran"]   # the visible tests ran
            assert len(seen["submitted"]) == 1 and seen["submitted"][0].startswith(f"{A} {hc.course_id}"), seen
            assert not seen["alerts"], seen["alerts"]
        assert len(first["ran"]) == 9 and len(second["ran"]) == 3, (first["ran"], second["ran"])
        assert "Success! Your notebook passes all the tests" in first["validate"], first["validate"]
        assert "The following cell failed" in second["validate"] and "standardize(X)" in second["validate"], (
            second["validate"])
        assert "softplus(xs)" not in second["validate"], second["validate"]
        assert second["extraMarkInOwnLab"] == 1 and "look" in second["extraOutput"], second
        assert second["xssRanInOwnLab"], "the student's script did not run even in their own JupyterLab"
        # what the browser saved is on disk, in each student's home
        for login, expected in ((ada, list(reference.values())), (alan, [reference["softplus"], SCRIPT_CELL])):
            saved = nbformat.read(str(hc.base / "home" / login / A / "warmup.ipynb"), as_version=4)
            sources = [c.source.strip() for c in saved.cells]
            assert all(text.strip() in sources for text in expected), (login, sources)

        scores, max_score = hc.collect_and_grade(A, ray_address)
        assert scores[ada] == max_score and 0 < scores[alan] < max_score, scores
        days = hc.days_late(A)
        assert days == {ada: 0, alan: 1}, days
        released_fb = hc.gradkit("feedback", A, "--release").stdout
        assert "for 2 student(s)" in released_fb, released_fb

        # the TA: the formgrader lists both, and alan's page does not run alan's script
        ta = _drive(person(hc.ta, "formgrader", students=list(hc.students), open=alan), shots)
        print(json.dumps({"ta": {**ta, "frames": [{k: v for k, v in f.items() if k != "text"} for f in ta["frames"]]}},
                         indent=1))
        assert any(row.startswith(hc.course_id) for row in ta["courses"]), ta["courses"]
        assert f"/services/{hc.course_id}/" in ta["courseLink"], ta["courseLink"]
        assert any("Formgrader" in tab for tab in ta["landing"]["tabs"]), ta["landing"]
        listed = {row["id"]: row for row in ta["listed"]}
        assert set(listed) == {ada, alan}, ta["listed"]
        assert listed[ada]["name"] == "Lovelace, Ada" and listed[alan]["name"] == "Turing, Alan", ta["listed"]
        for login in hc.students:
            assert f"{scores[login]:g} / {max_score:g}" in listed[login]["score"], (login, listed[login], scores)
        assert f"/services/{hc.course_id}/formgrader/submissions/" in ta["submissionUrl"], ta["submissionUrl"]
        shown = [f for f in ta["frames"] if f["url"] == ta["submissionUrl"]]
        assert len(shown) == 1 and len(ta["frames"]) >= 2, ta["frames"]   # the lab and, in its frame, the page
        assert "def softplus" in shown[0]["text"] and XSS_VAR in shown[0]["text"], shown[0]["text"][:500]   # alan's
        assert shown[0]["marks"] <= 1 and shown[0]["markText"] in ("", "look"), shown[0]
        for frame in ta["frames"]:   # the student's script ran in none of them
            assert not frame["varSet"], f"the student's script ran on the TA's page: {frame['url']}"
            assert not frame["titleTaken"] and frame["title"] != XSS_TITLE, frame["title"]
            assert frame["payloadScripts"] == 0, f"the student's <script> is in the TA's page: {frame['url']}"
        assert not ta["alerts"], ta["alerts"]

        # each student fetches their feedback in the panel and reads their score
        for login in hc.students:
            fb = _drive(person(login, "feedback"), shots)
            assert any("(feedback available to fetch)" in row for row in fb["before"]), fb["before"]
            assert any("view feedback" in row for row in fb["after"]), fb["after"]
            assert "feedback" in fb["folder"], fb["folder"]
            assert login in fb["page"], fb["page"][:500]
            score = SCORE.search(fb["page"])
            assert score, fb["page"][:1000]
            got, out_of = float(score.group(1)), float(score.group(2))
            assert out_of == max_score, (login, score.group(0))
            if login == ada:
                assert got == max_score, score.group(0)
            else:
                assert got <= scores[alan] < max_score, (score.group(0), scores)

        stopped = hc.gradkit("hub", "stop")
        assert "stopped" in stopped.stdout
        assert hc.processes() == []
        for login in hc.people + (hc.account,):
            left = subprocess.run(["pgrep", "-u", login], capture_output=True)
            assert left.returncode == 1, f"{login} left processes"
