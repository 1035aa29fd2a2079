"""The course hub's settings: ``c.CourseHub`` in the course's ``nbgrader_config.py``.

Example (every key but ``instructors`` is optional)::

    c.CourseHub.instructors = ["hinton"]       # Unix logins: hub admins, share the formgrader
    c.CourseHub.tas = ["lecun"]                # Unix logins: share the formgrader
    c.CourseHub.ip = "127.0.0.1"               # where the hub listens (behind a TLS proxy: keep loopback)
    c.CourseHub.port = 8000                    # the hub's page; port+1 its API, +2 the proxy's API, +3 the formgrader
    c.CourseHub.exchange_root = "/srv/nbgrader/exchange"
    c.CourseHub.state_dir = "/var/lib/gradkit-hub/gradkit"
    c.CourseHub.course_account = "grader-gradkit"   # owns the course folder, the gradebook, runs the formgrader
    c.CourseHub.home_base = "/home"            # where new accounts get their 0700 home
    c.CourseHub.memory_mb = 2048               # per user server, its kernels included (cgroup)
    c.CourseHub.cpus = 1.0                     # per user server (cgroup CPU quota)
    c.CourseHub.idle_timeout_s = 3600          # jupyterhub-idle-culler stops servers idle this long

The students are the ids of ``roster.csv``; the course id is ``c.CourseDirectory.course_id``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

from gradkit_autograder.state.course import Course, CourseError
from gradkit_autograder.state.roster import ROSTER_FILE, read_roster_csv

CONFIG_SECTION = "CourseHub"
# What useradd accepts on Debian without --badname, and what nbgrader's exchange can hold
# (its submission folders are named <student>+<assignment>+<time>).
LOGIN = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class HubSettings:
    """One course's hub: who uses it, where it listens, where its files live."""

    course_id: str
    course_dir: Path
    instructors: tuple[str, ...]
    tas: tuple[str, ...] = ()
    students: tuple[str, ...] = ()
    ip: str = "127.0.0.1"
    port: int = 8000
    exchange_root: Path = Path("/srv/nbgrader/exchange")
    state_dir: Path = Path("")
    course_account: str = ""
    home_base: Path = Path("/home")
    memory_mb: int = 2048
    cpus: float = 1.0
    idle_timeout_s: int = 3600

    # --- who -------------------------------------------------------------------------------
    @property
    def staff(self) -> tuple[str, ...]:
        return self.instructors + tuple(t for t in self.tas if t not in self.instructors)

    @property
    def users(self) -> tuple[str, ...]:
        return self.staff + tuple(s for s in self.students if s not in self.staff)

    @property
    def staff_group(self) -> str:
        """nbgrader's name for the course's graders (its JupyterHub auth plugin reads it)."""
        return f"formgrade-{self.course_id}"

    @property
    def student_group(self) -> str:
        return f"nbgrader-{self.course_id}"

    # --- where -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def hub_api_port(self) -> int:
        return self.port + 1

    @property
    def proxy_api_port(self) -> int:
        return self.port + 2

    @property
    def formgrader_port(self) -> int:
        return self.port + 3

    @property
    def private_dir(self) -> Path:
        """Root only (0700): the hub's database, cookie secret, tokens, logs, first passwords."""
        return self.state_dir / "private"

    def role_dir(self, role: str) -> Path:
        """The ``JUPYTER_CONFIG_PATH`` folder of ``student``, ``staff`` or ``grader`` servers."""
        return self.state_dir / "roles" / role

    @property
    def exchange_course(self) -> Path:
        return self.exchange_root / self.course_id


def _logins(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise CourseError(f"{where}: expected a list of Unix logins, got {value!r}")
    bad = [v for v in value if not isinstance(v, str) or not LOGIN.match(v)]
    if bad:
        raise CourseError(f"{where}: {bad} are not usable Unix logins (lower-case letters, digits, _ and -, "
                          "starting with a letter or _, at most 32 characters)")
    return tuple(value)


def hub_settings(course: Course) -> HubSettings:
    """The course's hub settings; CourseError names a missing or bad key."""
    section = dict(course.config.get(CONFIG_SECTION, {}))
    where = f"{course.root / 'nbgrader_config.py'}: c.{CONFIG_SECTION}"
    known = {f.name for f in fields(HubSettings)} - {"course_id", "course_dir", "students"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise CourseError(f"{where} has no setting {unknown}; expected some of {sorted(known)}")
    if not section.get("instructors"):
        raise CourseError(f"{where}.instructors is not set: name the instructors' Unix logins, "
                          f"e.g. c.{CONFIG_SECTION}.instructors = ['hinton']")
    course_id = course.coursedir().course_id
    if not course_id or not LOGIN.match(course_id):
        raise CourseError(f"{course.root / 'nbgrader_config.py'}: c.CourseDirectory.course_id must be set to a "
                          f"short name (letters, digits, _ and -) for a hub, got {course_id!r}")
    roster = course.root / ROSTER_FILE
    if not roster.exists():
        raise CourseError(f"{roster} is missing: the hub's students are the ids of the course's roster")
    students = _logins([e.id for e in read_roster_csv(roster)], f"{roster}: id column")
    values = dict(
        instructors=_logins(section["instructors"], f"{where}.instructors"),
        tas=_logins(section.get("tas", []), f"{where}.tas"),
    )
    for name, kind in (("ip", str), ("exchange_root", Path), ("state_dir", Path), ("home_base", Path),
                       ("course_account", str)):
        if name in section:
            if not isinstance(section[name], (str, Path)) or not str(section[name]):
                raise CourseError(f"{where}.{name}: expected a non-empty string, got {section[name]!r}")
            values[name] = kind(section[name])
    for name, kind, low in (("port", int, 1), ("memory_mb", int, 64), ("cpus", float, 0.01),
                            ("idle_timeout_s", int, 60)):
        if name in section:
            value = section[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (
                    kind is int and value != int(value)):
                raise CourseError(f"{where}.{name}: expected a number >= {low}, got {value!r}")
            values[name] = kind(value)
    if values.get("port", 8000) + 3 > 65535:
        raise CourseError(f"{where}.port: the hub uses port to port+3, so at most 65532")
    account = values.get("course_account") or f"grader-{course_id}"[:32]
    if not LOGIN.match(account):
        raise CourseError(f"{where}.course_account: {account!r} is not a usable Unix login")
    values["course_account"] = account
    clash = set(values["instructors"] + values["tas"]) & {account}
    if clash:
        raise CourseError(f"{where}: the course account {account} cannot also be a person's login")
    values.setdefault("state_dir", Path("/var/lib/gradkit-hub") / course_id)
    for name in ("exchange_root", "state_dir", "home_base"):
        if name in values and not values[name].is_absolute():
            raise CourseError(f"{where}.{name}: expected an absolute path, got {str(values[name])!r}")
    return HubSettings(course_id=course_id, course_dir=course.root, students=students, **values)
