"""nbgrader's filesystem exchange, as the hub uses it: its folders, private submissions, reading them in.

Layout (nbgrader's)::

    <root>/                      1777  anyone may create a course folder here
    <root>/<course>/             0755  the course account's
        outbound/<assignment>/   0755  released notebooks: students fetch from here
        inbound/                 2733  students write submissions, nobody but the course lists them
            <student>+<assignment>+<time>+<random>/
        feedback/                0711  <hash>.html, named by a secret only the submitter knows

Two things nbgrader leaves open are closed here:

- ``PrivateSubmit`` (set as the students' ``ExchangeFactory.submit``) makes each
  submission readable by its author and the course's group only; nbgrader's own
  leaves the files readable by every account that guesses the folder's name.
- ``inbound_submissions`` trusts neither the name nor the time a student's server
  wrote: a folder counts for the student whose account made it (a folder named
  after someone else is refused), and its time is when the exchange received it
  (the newest change time of its files, which no user can set back), so a
  ``timestamp.txt`` written earlier than that cannot save late days.
"""

from __future__ import annotations

import datetime
import os
import pwd
import stat
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.exchange.default.submit import ExchangeSubmit

from gradkit_autograder.state.conventions import TIMESTAMP_FILE

CLAIMED_TIME_SLACK_S = 120.0
MAX_FILE_BYTES = 50 * 1024 * 1024
FOLDER_MODES = {"": 0o755, "outbound": 0o755, "inbound": 0o2733, "feedback": 0o711}


class PrivateSubmit(ExchangeSubmit):
    """nbgrader's submit, then the submission closed to everyone but its author and the course's group."""

    def copy_files(self):
        super().copy_files()
        dest = Path(self.inbound_path) / self.assignment_filename
        if not dest.is_dir():   # nbgrader added its random suffix: find the folder it made
            found = sorted(Path(self.inbound_path).glob(f"{self.assignment_filename}+*"))
            if not found:
                return
            dest = found[-1]
        for folder, dirs, files in os.walk(dest):
            os.chmod(folder, 0o2770)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o640)


def make_folders(root: Path, course_id: str, uid: int, gid: int) -> Path:
    """The exchange's folders with nbgrader's modes, the course's owned by the course account."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o1777)
    course = root / course_id
    for sub, mode in FOLDER_MODES.items():
        folder = course / sub if sub else course
        folder.mkdir(exist_ok=True)
        os.chown(folder, uid, gid)
        os.chmod(folder, mode)
    return course


@dataclass
class InboundSubmission:
    student: str
    assignment: str
    folder: Path
    received: datetime.datetime
    claimed: str = ""
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class InboundRead:
    latest: list[InboundSubmission] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)    # folder name, why


def _owner_uid(login: str) -> int | None:
    try:
        return pwd.getpwnam(login).pw_uid
    except KeyError:
        return None


def _read_file(path: Path, uid: int) -> tuple[bytes | None, str, float]:
    """A file's bytes if it is a regular file of ``uid``'s, else None and why; its change time.

    Opened without following a link, then checked on the open file: a student who
    swaps the file for a link after a look at it still cannot make root read another's.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None, "not a regular file (a link?): left out", 0.0
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None, "not a regular file: left out", st.st_ctime
        if st.st_uid != uid:
            return None, "a file the student's account did not make: left out", st.st_ctime
        if st.st_size > MAX_FILE_BYTES:
            return None, f"larger than {MAX_FILE_BYTES >> 20} MiB: left out", st.st_ctime
        return fh.read(MAX_FILE_BYTES + 1), "", st.st_ctime


def _read(folder: Path, uid: int, refused: list) -> tuple[dict[str, bytes], float]:
    """The submission's regular files (never a link) and the newest change time among them."""
    files, newest = {}, os.lstat(folder).st_ctime
    for here, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(here, d)) and d != ".ipynb_checkpoints"]
        newest = max(newest, os.lstat(here).st_ctime)
        for name in names:
            path = Path(here) / name
            rel = str(path.relative_to(folder))
            data, why, changed = _read_file(path, uid)
            if data is None:
                refused.append((f"{folder.name}/{rel}", why))
                continue
            newest = max(newest, changed)
            files[rel] = data
    return files, newest


def inbound_submissions(course_folder: Path, assignment: str | None = None) -> InboundRead:
    """The newest submission of each student and assignment in ``<course_folder>/inbound``."""
    read = InboundRead()
    inbound = course_folder / "inbound"
    if not inbound.is_dir():
        return read
    newest: dict[tuple[str, str], InboundSubmission] = {}
    for folder in sorted(inbound.iterdir()):
        parts = folder.name.split("+")
        if len(parts) not in (3, 4) or not folder.is_dir() or folder.is_symlink():
            read.refused.append((folder.name, "not a submission folder (<student>+<assignment>+<time>[+<random>])"))
            continue
        student, name = parts[0], parts[1]
        if assignment and name != assignment:
            continue
        uid = _owner_uid(student)
        if uid is None or os.lstat(folder).st_uid != uid:
            read.refused.append((folder.name, f"not made by {student}'s account: refused"))
            continue
        files, changed = _read(folder, uid, read.refused)
        claimed = files.get(TIMESTAMP_FILE, b"").decode(errors="replace").strip()
        sub = InboundSubmission(student, name, folder,
                                datetime.datetime.fromtimestamp(changed, tz=datetime.timezone.utc), claimed, files)
        key = (student, name)
        if key not in newest or sub.received > newest[key].received:
            newest[key] = sub
    read.latest = [newest[k] for k in sorted(newest)]
    return read
