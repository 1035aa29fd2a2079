"""The hub's Unix accounts: one per person (PAM logs them in), and the course account.

A person's home is made private (0700): Debian's ``useradd`` makes 0755 homes, in
which every student could read every other student's notebooks. A new person gets
a random first password, written to the hub's private folder for the instructor to
hand out (``passwd`` changes it). The course account has no password and no login
shell: it owns the course folder and the gradebook and runs the shared formgrader.
Accounts that exist are left as they are, but for their home's mode.
"""

from __future__ import annotations

import csv
import os
import pwd
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from gradkit_autograder.hub.settings import HubSettings
from gradkit_autograder.state.course import CourseError

PASSWORDS_FILE = "first_passwords.csv"


@dataclass
class AccountsSummary:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    passwords_file: Path | None = None


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise CourseError(f"{what} failed: {' '.join(cmd)}: {done.stderr.strip() or done.stdout.strip()}")


def exists(login: str) -> bool:
    try:
        pwd.getpwnam(login)
        return True
    except KeyError:
        return False


def _private_home(login: str) -> None:
    home = Path(pwd.getpwnam(login).pw_dir)
    if home.is_dir():
        os.chmod(home, 0o700)


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise CourseError(f"{what} needs root: it creates Unix accounts, starts servers as other users "
                          "and puts them in cgroups (run it with sudo)")


def ensure_course_account(settings: HubSettings) -> pwd.struct_passwd:
    """The course account: a system user with a private home, no password, no login shell."""
    name = settings.course_account
    if not exists(name):
        _run(["useradd", "--system", "--user-group", "--create-home",
              "--home-dir", str(settings.home_base / name), "--shell", "/usr/sbin/nologin", name],
             f"creating the course account {name}")
    _private_home(name)
    return pwd.getpwnam(name)


def ensure_people(settings: HubSettings, logins: tuple[str, ...] | None = None) -> AccountsSummary:
    """Accounts for the hub's people (or ``logins``): 0700 homes, a first password for each new one."""
    summary = AccountsSummary()
    new_passwords = []
    for login in logins if logins is not None else settings.users:
        if exists(login):
            summary.existing.append(login)
        else:
            _run(["useradd", "--create-home", "--user-group", "--home-dir", str(settings.home_base / login),
                  "--shell", "/bin/bash", login], f"creating the account {login}")
            password = secrets.token_urlsafe(12)
            _run_input(["chpasswd"], f"{login}:{password}\n", f"setting {login}'s first password")
            new_passwords.append((login, password))
            summary.created.append(login)
        _private_home(login)
    if new_passwords:
        summary.passwords_file = _record_passwords(settings, new_passwords)
    return summary


def _run_input(cmd: list[str], text: str, what: str) -> None:
    done = subprocess.run(cmd, input=text, capture_output=True, text=True)
    if done.returncode:
        raise CourseError(f"{what} failed: {done.stderr.strip()}")


def _record_passwords(settings: HubSettings, rows: list[tuple[str, str]]) -> Path:
    """Append to the private folder's first-passwords list (root only, 0600)."""
    settings.private_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = settings.private_dir / PASSWORDS_FILE
    fresh = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", newline="") as fh:
        writer = csv.writer(fh)
        if fresh:
            writer.writerow(["login", "first_password"])
        writer.writerows(rows)
    os.chmod(path, 0o600)
    return path
