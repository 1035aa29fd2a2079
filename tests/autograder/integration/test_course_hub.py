"""A term on the course hub, end to end through `gradkit hub` and the hub's and servers' APIs.

Two students, a TA and the instructor log in through PAM with the first passwords
`gradkit hub start` made; the instructor releases a0 into the exchange; both students
fetch it in their own JupyterLab server, answer and submit, one after the due date;
`gradkit collect --exchange`, `gradkit grade` (the sandbox) and `gradkit feedback
--release` run as the instructor would; the TA reads the scores in the shared
formgrader; each student fetches their feedback. Along the way, what a student must
not reach is tried as that student: another's home and submission, the exchange's
inbound list, the course folder, the gradebook, the solutions, another's server and
the formgrader. At the end, `gradkit hub stop` leaves nothing running.

Oracles: the grader's scores against the gradebook the formgrader reads, full marks
for the reference and fewer for the partial answer, the late-day policy's closed form
(one second late is one day late), and the kernel's refusal (EACCES) for each read.
"""

from __future__ import annotations

import datetime
import json
import os
import pwd
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from gradkit_autograder.grading.class_builder import reference_notebook
from gradkit_autograder.sandbox import cgroups
from support.course_hub import hub_course, need_root
from support.hub_client import HubUser
from support.scripted_student import submission_with

A = "a0_warmup"
PARTIAL = {"standardize": "def standardize(X):\n    raise NotImplementedError()"}
SCRIPT_OUTPUT = ("from IPython.display import HTML\n"
                 "HTML(\"<b id='xss-mark'>look</b><script>document.title = 'pwned-by-student'</script>\")")



def _as(login: str, code: str) -> subprocess.CompletedProcess:
    """Run Python ``code`` as ``login`` (like `su - login`), outside any server."""
    entry = pwd.getpwnam(login)
    return subprocess.run(["/usr/bin/env", "-i", f"HOME={entry.pw_dir}", "PATH=/usr/bin:/bin",
                           os.path.realpath(os.sys.executable), "-I", "-c", code],
                          user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], capture_output=True, text=True,
                          timeout=60)


def _refused(login: str, path: Path, how: str = "read") -> None:
    code = {"read": f"open({str(path)!r}, 'rb').read()", "list": f"import os; os.listdir({str(path)!r})"}[how]
    done = _as(login, code)
    assert done.returncode != 0 and "PermissionError" in done.stderr, (
        f"{login} could {how} {path}: exit {done.returncode}, {done.stderr[-300:]}")


def _server_pid(login: str) -> int:
    """The pid of ``login``'s JupyterLab server (jupyterhub-singleuser with JUPYTERHUB_USER=login)."""
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and b"jupyterhub-singleuser" in (entry / "cmdline").read_bytes()
                    and f"JUPYTERHUB_USER={login}".encode() in (entry / "environ").read_bytes().split(b"\0")):
                return int(entry.name)
        except OSError:
            pass
    raise AssertionError(f"no server process of {login}")


def _cgroup_dir(pid: int, controller: str) -> Path:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return cgroups.ROOT / controller / path.lstrip("/")
    raise AssertionError(f"process {pid} is in no {controller} cgroup")


def test_a_class_fetches_submits_is_graded_and_gets_feedback_on_the_hub(ray_address):
    need_root()
    with hub_course(A) as hc:
        started = hc.gradkit("hub", "start")
        assert f"{hc.url}/hub/login" in started.stdout, started.stdout
        assert "4 created" in started.stdout, started.stdout
        for login in hc.people + (hc.account,):
            assert os.stat(pwd.getpwnam(login).pw_dir).st_mode & 0o777 == 0o700, f"{login}'s home is not private"

        status = hc.gradkit("hub", "status").stdout
        assert "idle-culler" in status and hc.course_id in status, status

        # a student added to the roster mid-term gets an account and is let in by the running hub
        hc.join_roster(hc.late_joiner)
        added = hc.gradkit("hub", "add-users").stdout
        assert f"1 accounts created ({hc.late_joiner})" in added and "lets them in" in added, added
        HubUser.login(hc.url, hc.late_joiner, hc.passwords()[hc.late_joiner])

        hc.gradkit("release", A, "--exchange")
        passwords = hc.passwords()
        with pytest.raises(PermissionError):
            HubUser.login(hc.url, hc.students[0], "not-the-password")
        ada, alan = (HubUser.login(hc.url, s, passwords[s]) for s in hc.students)
        ta = HubUser.login(hc.url, hc.ta, passwords[hc.ta])
        HubUser.login(hc.url, hc.instructor, passwords[hc.instructor])

        # both students fetch and answer in their own servers
        course = hc.course
        source, released = course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb"
        partial = submission_with(source, released, answers=PARTIAL)
        partial.cells.append(nbformat.v4.new_code_cell(SCRIPT_OUTPUT))   # for the TA's page: must stay inert
        answers = [(ada, reference_notebook(source, released)), (alan, partial)]
        for student, notebook in answers:
            student.start_server()
            listed = student.assignments(hc.course_id)
            assert [a["assignment_id"] for a in listed] == [A] and listed[0]["status"] == "released", listed
            fetched = student.assignment_action("fetch", hc.course_id, A)
            assert fetched["value"][0]["status"] == "fetched", fetched
            assert student.read_file(f"{A}/warmup.ipynb")["type"] == "notebook"
            student.write_notebook(f"{A}/warmup.ipynb", json.loads(json.dumps(notebook)))
        alan.write_text(f"{A}/notes.html", "<script>document.title = 'pwned-by-student'</script>")   # handed in too

        # each server runs as its person, in a cgroup of its own with the course's memory and CPU limits
        for student in (ada, alan):
            pid = _server_pid(student.name)
            assert Path(f"/proc/{pid}").stat().st_uid == pwd.getpwnam(student.name).pw_uid
            if not cgroups.available(cgroups.CONTROLLERS + ("cpu",)):
                memory, cpu = _cgroup_dir(pid, "memory"), _cgroup_dir(pid, "cpu")
                assert memory.name.startswith(f"gradkit-hub.{hc.course_id}.{student.name}."), memory
                assert int((memory / "memory.limit_in_bytes").read_text()) == 1536 * 2**20
                assert int((cpu / "cpu.cfs_quota_us").read_text()) == int((cpu / "cpu.cfs_period_us").read_text())

        # the staff's Courses panel finds the shared formgrader; a student's server has no such panel
        ta.start_server()
        courses = json.loads(ta.server("GET", "/formgraders").text)
        assert [c["course_id"] for c in courses["value"]] == [hc.course_id], courses
        assert f"/services/{hc.course_id}" in courses["value"][0]["url"]
        assert alan.server("GET", "/formgraders").status_code == 404

        # ada submits on time; the due date passes; alan submits late
        ada.assignment_action("submit", hc.course_id, A)
        due = datetime.datetime.now(datetime.timezone.utc)
        time.sleep(1.5)
        hc.gradkit("release", A, "--due", due.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
        alan.assignment_action("submit", hc.course_id, A)

        # what a student may not reach, tried as alan
        inbound = hc.exchange / "inbound"
        ada_submission = next(p for p in inbound.iterdir() if p.name.startswith(f"{ada.name}+{A}+"))
        _refused(alan.name, inbound, "list")
        _refused(alan.name, ada_submission / "warmup.ipynb")
        _refused(alan.name, Path(pwd.getpwnam(ada.name).pw_dir) / A / "warmup.ipynb")
        _refused(alan.name, course.root, "list")
        _refused(alan.name, course.root / "gradebook.db")
        _refused(alan.name, source)
        assert alan.call("GET", f"/user/{ada.name}/api/contents/{A}").status_code in (403, 404)
        assert alan.call("GET", f"/services/{hc.course_id}/formgrader/api/submissions/{A}").status_code == 403
        assert alan.hub("GET", f"/users/{ada.name}").status_code in (403, 404)

        scores, max_score = hc.collect_and_grade(A, ray_address)
        assert scores[ada.name] == max_score and 0 < scores[alan.name] < max_score, scores

        # late days come from the exchange's times
        days = hc.days_late(A)
        assert days == {ada.name: 0, alan.name: 1}, days

        # the TA reads both scores in the shared formgrader
        listed = ta.call("GET", f"/services/{hc.course_id}/formgrader/api/submissions/{A}")
        assert listed.status_code == 200, listed.text[:300]
        seen = {s["student"]: s["score"] for s in listed.json()}
        assert seen == scores, (seen, scores)
        # the student's script output reaches the TA's page as inert text
        formgrader = f"/services/{hc.course_id}/formgrader"
        front = ta.call("GET", f"{formgrader}/manage_assignments")
        assert front.status_code == 200, front.text[:300]
        assert "frame-ancestors 'self'" in front.headers.get("Content-Security-Policy", ""), front.headers
        notebooks = ta.call("GET", f"{formgrader}/api/submitted_notebooks/{A}/warmup").json()
        alan_id = next(n["id"] for n in notebooks if n["student"] == alan.name)
        page = ta.call("GET", f"{formgrader}/submissions/{alan_id}")
        assert page.status_code == 200 and "xss-mark" in page.text, page.text[:300]
        assert "<script>document.title" not in page.text, "the student's <script> reached the formgrader's page"
        # the formgrader serves a submission's files from autograded/, which holds only what the grader
        # wrote: a page the student handed in beside the notebook is never served from its origin
        assert (course.submitted_dir(alan.name, A) / "notes.html").is_file()
        assert ta.call("GET", f"{formgrader}/submissions/{alan_id}/notes.html").status_code == 404
        assert ta.call("GET", f"{formgrader}/submissions/{alan_id}/warmup.ipynb").status_code == 200
        # the formgrader's server gives the staff no shell and no kernel as the course account
        service = f"/services/{hc.course_id}"
        assert ta.call("POST", f"{service}/api/terminals").status_code not in (200, 201)
        assert ta.call("POST", f"{service}/api/kernels", json={"name": "python3"}).status_code not in (200, 201)
        assert ta.call("GET", f"{service}/api/kernelspecs").json()["kernelspecs"] == {}
        # formgrader's own autograde would run the student's code as the course account: it fails,
        # and the notebook `gradkit grade` graded stays as it was
        graded = course.autograded_dir(alan.name, A) / "warmup.ipynb"
        before = graded.read_bytes()
        autograde = ta.call("POST", f"{formgrader}/api/submission/{A}/{alan.name}/autograde")
        assert autograde.status_code == 200 and not autograde.json()["success"], autograde.text[:300]
        assert graded.read_bytes() == before
        with course.gradebook() as gb:
            assert gb.find_submission(A, alan.name).score == scores[alan.name]

        # feedback goes back through the exchange and into each student's panel
        released_fb = hc.gradkit("feedback", A, "--release").stdout
        assert "for 2 student(s)" in released_fb, released_fb
        for student in (ada, alan):
            student.assignment_action("fetch_feedback", hc.course_id, A)
            folder = student.read_file(f"{A}/feedback")["content"]
            assert len(folder) == 1, folder
            pages = student.read_file(folder[0]["path"])["content"]
            page = student.server("GET", f"/files/{pages[0]['path']}").text
            assert student.name in page or "warmup" in page

        stopped = hc.gradkit("hub", "stop")
        assert "stopped" in stopped.stdout
        assert hc.processes() == []
        for login in hc.people + (hc.account, hc.late_joiner):
            assert subprocess.run(["pgrep", "-u", login], capture_output=True).returncode == 1, f"{login} left processes"
