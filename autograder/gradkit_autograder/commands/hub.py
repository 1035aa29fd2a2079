"""``gradkit hub``: the course's JupyterHub, with nbgrader's exchange and a shared formgrader.

``start`` makes what the course's ``c.CourseHub`` settings and roster ask for (the
accounts, the exchange, the per-role settings, the hub's configuration), hands the
course folder and its sources to the course account and starts the hub; ``stop``
ends exactly what it started; ``status`` says what runs; ``add_users`` makes the
accounts of people added to the roster since, and tells a running hub.

The exchange steps of the pipeline are here too: releasing an assignment and its
feedback into the exchange, run as the course account (nbgrader's exchange wants the
course's exchange folder to be the caller's own), as if the formgrader had done them.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
import sys
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path

from gradkit_autograder.hub import accounts, layout, process
from gradkit_autograder.hub.exchange import make_folders
from gradkit_autograder.hub.hub_config import write_hub_config
from gradkit_autograder.hub.settings import HubSettings, hub_settings
from gradkit_autograder.state.conventions import SUBMISSION_SECRET_FILE
from gradkit_autograder.state.course import Course, CourseError


@dataclass
class HubStarted:
    settings: HubSettings
    pid: int
    seconds: float
    accounts: accounts.AccountsSummary
    handed: list[Path] = field(default_factory=list)


def prepare(course: Course) -> tuple[HubSettings, accounts.AccountsSummary, list[Path]]:
    """Everything on disk the hub needs, without starting it."""
    accounts.require_root("gradkit hub start")
    settings = hub_settings(course)
    if importlib.util.find_spec("jupyterhub") is None:
        raise CourseError("the course hub needs JupyterHub: install the kit's hub extra "
                          "(`make hub`, or `pip install -e '.[hub]'`)")
    why = layout.environment_reachable()
    if why:
        raise CourseError(f"the hub's users run this Python environment, but {why}")
    layout.proxy_command()
    account = accounts.ensure_course_account(settings)
    made = accounts.ensure_people(settings)
    make_folders(settings.exchange_root, settings.course_id, account.pw_uid, account.pw_gid)
    layout.write_role_dirs(settings)
    write_hub_config(settings)
    handed = layout.hand_to_course_account(course, settings, account.pw_uid, account.pw_gid)
    return settings, made, handed


def start(course: Course) -> HubStarted:
    began = time.monotonic()
    settings, made, handed = prepare(course)
    pid = process.start(settings, settings.private_dir / "jupyterhub_config.py")
    return HubStarted(settings, pid, time.monotonic() - began, made, handed)


def stop(course: Course) -> int:
    accounts.require_root("gradkit hub stop")
    return process.stop(hub_settings(course))


@dataclass
class HubStatus:
    settings: HubSettings
    pid: int | None
    servers: list[str] = field(default_factory=list)     # users whose server runs
    services: list[str] = field(default_factory=list)
    error: str = ""


def status(course: Course) -> HubStatus:
    accounts.require_root("gradkit hub status")    # the hub's pid and token are in its root-only folder
    settings = hub_settings(course)
    pid = process.running_pid(settings)
    found = HubStatus(settings, pid)
    if pid:
        try:
            users = process.api(settings, "GET", "/users")
            found.servers = sorted(u["name"] for u in users if u.get("server"))
            found.services = sorted(process.api(settings, "GET", "/services"))
        except (urllib.error.URLError, OSError, ValueError) as err:
            found.error = f"the hub's API did not answer: {err}"
    return found


def add_users(course: Course, logins: list[str] | None = None) -> tuple[accounts.AccountsSummary, bool]:
    """Accounts for the roster's and staff's new people (or ``logins``); a running hub learns of them."""
    accounts.require_root("gradkit hub add-users")
    settings = hub_settings(course)
    unknown = sorted(set(logins or ()) - set(settings.users))
    if unknown:
        raise CourseError(f"{', '.join(unknown)}: not in {course.root / 'roster.csv'} nor c.CourseHub's staff; "
                          "add them there first (the hub lets in only those)")
    made = accounts.ensure_people(settings, tuple(logins) if logins else None)
    told = False
    if process.running_pid(settings):
        names = list(logins or settings.users)
        existing = {u["name"] for u in process.api(settings, "GET", "/users")}
        new = [n for n in names if n not in existing]
        if new:
            process.api(settings, "POST", "/users", {"usernames": new})
        for group, members in ((settings.staff_group, settings.staff), (settings.student_group, settings.students)):
            joining = [n for n in names if n in members]
            if joining:
                process.api(settings, "POST", f"/groups/{group}/users", {"users": joining})
        told = True
    return made, told


# --- the exchange steps of the pipeline ------------------------------------------------------

def as_course_account(course: Course, *nbgrader_args: str) -> str:
    """Run ``nbgrader <args>`` as the course account in the course folder (nbgrader's exchange
    insists that the course's exchange folder is the caller's own); its output."""
    settings = hub_settings(course)
    if not accounts.exists(settings.course_account):
        raise CourseError(f"the course account {settings.course_account} does not exist yet: "
                          "run `gradkit hub start` first")
    tools = Path(sys.executable).parent
    env = {"PATH": os.pathsep.join([str(tools), "/usr/local/bin", "/usr/bin", "/bin"]),
           "HOME": pwd.getpwnam(settings.course_account).pw_dir, "LANG": "C.UTF-8",
           "JUPYTER_CONFIG_PATH": str(settings.role_dir("grader"))}
    command = [str(tools / "nbgrader"), *nbgrader_args, f"--CourseDirectory.root={course.root}"]
    account = pwd.getpwnam(settings.course_account)
    become = {}
    if os.geteuid() == 0:
        become = dict(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    elif os.geteuid() != account.pw_uid:
        raise CourseError(f"the exchange's course folder is {settings.course_account}'s: run this as root "
                          f"or as {settings.course_account}")
    done = subprocess.run(command, cwd=course.root, env=env, capture_output=True, text=True, **become)
    if done.returncode:
        raise CourseError(f"nbgrader {' '.join(nbgrader_args)} (as {settings.course_account}) failed:\n"
                          f"{(done.stdout + done.stderr).strip()[-3000:]}")
    return done.stdout + done.stderr


def release_to_exchange(course: Course, assignment: str) -> Path:
    """nbgrader's release_assignment into the hub's exchange: students can fetch it."""
    as_course_account(course, "release_assignment", assignment, "--force")
    return hub_settings(course).exchange_course / "outbound" / assignment


def release_feedback(course: Course, assignment: str, students: list[str] | None = None) -> list[str]:
    """nbgrader's release_feedback for the students whose submission came through the exchange."""
    base = course.step_dir("feedback", ".", ".")
    released = []
    for student in sorted(students or (os.listdir(base) if base.is_dir() else [])):
        folder = course.feedback_dir(student, assignment)
        if (folder / SUBMISSION_SECRET_FILE).exists() and any(folder.glob("*.html")):
            as_course_account(course, "release_feedback", assignment, f"--student={student}")
            released.append(student)
    return released


def run(course: Course, action: str, logins: list[str], out=sys.stdout) -> int:
    """``gradkit hub <action>``: do it and say what happened; the exit code."""
    if action == "start":
        started = start(course)
        s, made = started.settings, started.accounts
        print(f"the course hub of {s.course_id} runs at {s.url}/hub/login (pid {started.pid}, "
              f"started in {started.seconds:.1f} s)", file=out)
        print(f"  {len(s.students)} students, staff {', '.join(s.staff)}; formgrader at "
              f"{s.url}/services/{s.course_id}/formgrader (staff only)", file=out)
        print(f"  accounts: {len(made.created)} created, {len(made.existing)} existed"
              + (f"; first passwords of the new ones: {made.passwords_file} (root only)"
                 if made.passwords_file else ""), file=out)
        for folder in started.handed:
            print(f"  {folder}: now the course account {s.course_account}'s, closed to other accounts", file=out)
        print(f"  exchange {s.exchange_course}; hub files {s.state_dir}; `gradkit hub stop` ends it", file=out)
    elif action == "stop":
        killed = stop(course)
        print("stopped the course hub" + (f" ({killed} leftover processes killed)" if killed else ""), file=out)
    elif action == "status":
        found = status(course)
        if not found.pid:
            print("the course hub is not running", file=out)
            return 3
        print(f"the course hub runs at {found.settings.url} (pid {found.pid}); servers running: "
              f"{', '.join(found.servers) or 'none'}; services: {', '.join(found.services)}", file=out)
        if found.error:
            print(found.error, file=out)
    else:
        made, told = add_users(course, logins or None)
        print(f"{len(made.created)} accounts created ({', '.join(made.created) or 'none'}), "
              f"{len(made.existing)} existed"
              + (f"; first passwords: {made.passwords_file}" if made.passwords_file else "")
              + ("; the running hub lets them in" if told else ""), file=out)
    return 0

