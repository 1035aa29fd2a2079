"""A course hub for a test: a course folder, unique Unix accounts, free ports; removed afterwards.

``hub_course`` builds a scratch course with a0_warmup whose ``c.CourseHub`` names an
instructor, a TA and two students with fresh logins (``gk<random><role>``), a course
account, an exchange, a state folder and homes under one temporary folder, and four
free loopback ports. ``started`` runs ``gradkit hub start`` and, at the end,
``gradkit hub stop``, deletes the accounts and the folder, and gives back the mode
of any folder it opened for other accounts' passage (a Python installed in root's
home; while other test processes hold it open, the last one gives it back). Needs root.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from gradkit_autograder.state.course import Course
from gradkit_autograder.state.scratch_course import scratch_course

GRADKIT = str(Path(sys.executable).parent / "gradkit")
KIT_COURSE = Path(__file__).resolve().parents[2] / "course"


@dataclass
class HubCourse:
    course: Course
    base: Path
    course_id: str
    instructor: str
    ta: str
    students: tuple[str, str]
    account: str
    port: int
    late_joiner: str        # not in the roster at first: for `gradkit hub add-users`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def people(self) -> tuple[str, ...]:
        return (self.instructor, self.ta) + self.students

    @property
    def exchange(self) -> Path:
        return self.base / "exchange" / self.course_id

    @property
    def state(self) -> Path:
        return self.base / "state"

    def passwords(self) -> dict[str, str]:
        with open(self.state / "private" / "first_passwords.csv", newline="") as fh:
            return {row["login"]: row["first_password"] for row in csv.DictReader(fh)}

    def processes(self) -> list[int]:
        """Every process that carries this hub's API address: the hub's servers, services and kernels."""
        marker = f"JUPYTERHUB_API_URL=http://127.0.0.1:{self.port + 1}/hub/api".encode()
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
        return found

    def join_roster(self, login: str) -> None:
        with open(self.course.root / "roster.csv", "a") as fh:
            fh.write(f"{login},Grace,Hopper,grace@example.edu,3\n")

    def collect_and_grade(self, assignment: str, ray_address: str) -> tuple[dict[str, float], float]:
        """`gradkit collect --exchange` (every student's submission imported), then `gradkit grade`:
        each student's score from the gradebook, and the assignment's full marks."""
        collected = self.gradkit("collect", "--exchange").stdout
        assert all(f"imported  {s}" in collected for s in self.students), collected
        self.gradkit("grade", assignment, "--workers", "2", "--address", ray_address)
        with self.course.gradebook() as gb:
            return ({s: gb.find_submission(assignment, s).score for s in self.students},
                    gb.find_assignment(assignment).max_score)

    def days_late(self, assignment: str) -> dict[str, int]:
        """Each student's days late on ``assignment``, from `gradkit status`'s term.csv."""
        self.gradkit("status")
        with open(self.course.root / "reports" / "term.csv", newline="") as fh:
            return {row["student"]: int(row["days_late"]) for row in csv.DictReader(fh)
                    if row["assignment"] == assignment}

    def gradkit(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        done = subprocess.run([GRADKIT, *args, "--course", str(self.course.root)], capture_output=True,
                              text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, f"gradkit {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
        return done


def need_root() -> None:
    """The hub makes Unix accounts and runs servers as them: skip without root, but fail under CI (which is root)."""
    if os.geteuid() != 0:
        why = "the course hub makes Unix accounts and runs servers as them: run the tests as root"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def _free_ports(count: int) -> int:
    """A first port p with p .. p+count-1 free on the loopback."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            with contextlib.ExitStack() as stack:
                for port in range(first, first + count):
                    probe = stack.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise RuntimeError("no run of free loopback ports found")


def _closed_to_others() -> list[Path]:
    """Folders above this Python that other accounts may not pass (root's home, with pyenv)."""
    closed = []
    for target in (Path(sys.executable).parent, Path(os.path.realpath(sys.executable)).parent, Path(sys.base_prefix)):
        for path in [target] + list(target.parents):
            if str(path) != "/" and not os.stat(path).st_mode & 0o001 and path not in closed:
                closed.append(path)
    return closed


PASSAGE_HOLDERS = Path(tempfile.gettempdir()) / "gradkit-hub-passage"


def _open_passage() -> list[tuple[Path, int]]:
    """Let other accounts pass the folders above this Python; (folder, mode to give back) for the last holder."""
    PASSAGE_HOLDERS.mkdir(exist_ok=True)
    (PASSAGE_HOLDERS / str(os.getpid())).touch()
    opened = []
    for path in _closed_to_others():
        opened.append((path, os.stat(path).st_mode & 0o7777))
        os.chmod(path, opened[-1][1] | 0o001)
    saved = PASSAGE_HOLDERS / "modes.json"
    if opened:
        saved.write_text(json.dumps([[str(p), m] for p, m in opened]))
    return [(Path(p), m) for p, m in json.loads(saved.read_text())] if saved.exists() else []


def _close_passage(opened: list[tuple[Path, int]]) -> None:
    """Give the modes back, unless another live test process still holds the passage open."""
    (PASSAGE_HOLDERS / str(os.getpid())).unlink(missing_ok=True)
    others = [p for p in PASSAGE_HOLDERS.iterdir() if p.name.isdigit() and Path(f"/proc/{p.name}").exists()]
    if others:
        return
    for path, mode in opened:
        os.chmod(path, mode)
    (PASSAGE_HOLDERS / "modes.json").unlink(missing_ok=True)


def _remove_account(login: str) -> None:
    with contextlib.suppress(KeyError):
        pwd.getpwnam(login)
        subprocess.run(["pkill", "-KILL", "-u", login], capture_output=True)
        subprocess.run(["userdel", "--force", "--remove", login], capture_output=True)
        subprocess.run(["groupdel", login], capture_output=True)


@contextlib.contextmanager
def hub_course(assignment: str = "a0_warmup"):
    tag = "gk" + secrets.token_hex(3)
    base = Path(tempfile.mkdtemp(prefix="gradkit-hub-"))
    os.chmod(base, 0o711)
    opened = _open_passage()
    people = (f"{tag}i", f"{tag}t", f"{tag}a", f"{tag}b")
    account, late_joiner = f"{tag}g", f"{tag}c"
    try:
        course = scratch_course(Course.open(KIT_COURSE), base, [assignment])
        port = _free_ports(4)
        config = course.root / "nbgrader_config.py"
        config.write_text(config.read_text() + "\n".join([
            "",
            f"c.CourseDirectory.course_id = {tag!r}",
            f"c.CourseHub.instructors = [{people[0]!r}]",
            f"c.CourseHub.tas = [{people[1]!r}]",
            f"c.CourseHub.port = {port}",
            f"c.CourseHub.exchange_root = {str(base / 'exchange')!r}",
            f"c.CourseHub.state_dir = {str(base / 'state')!r}",
            f"c.CourseHub.home_base = {str(base / 'home')!r}",
            f"c.CourseHub.course_account = {account!r}",
            "c.CourseHub.memory_mb = 1536",
            ""]))
        (base / "home").mkdir()
        (course.root / "roster.csv").write_text(
            "id,first_name,last_name,email,lms_user_id\n"
            f"{people[2]},Ada,Lovelace,ada@example.edu,1\n{people[3]},Alan,Turing,alan@example.edu,2\n")
        yield HubCourse(Course.open(course.root), base, tag, people[0], people[1], people[2:], account, port,
                        late_joiner)
    except BaseException:
        log = base / "state" / "private" / "hub.log"
        if log.exists():   # shown by pytest with the failure
            print(f"--- the end of {log}:\n{log.read_text(errors='replace')[-6000:]}")
        raise
    finally:
        subprocess.run([GRADKIT, "hub", "stop", "--course", str(base / "course")], capture_output=True, timeout=120)
        for login in people + (account, late_joiner):
            _remove_account(login)
        _close_passage(opened)
        shutil.rmtree(base, ignore_errors=True)
