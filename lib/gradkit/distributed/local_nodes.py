"""The processes of a Ray started with its own ``--temp-dir``: find them, stop them, nobody else's.

``ray stop`` stops *every* Ray process of the user on the machine: on a shared lab
machine (or a laptop that also runs an embedded Ray in a notebook) that includes
other people's clusters. A Ray node started with ``ray start ... --temp-dir DIR``
is stopped here instead, by its folder (Linux: this reads ``/proc``; standard
library only, so the grader can use it without importing torch).

A process belongs to the node of ``DIR`` when its command line names ``DIR`` or one
of its open files lies inside ``DIR`` (every Ray process writes its logs there,
including the ones that rename themselves, such as ``ray::DashboardAgent``), and
so does everything such a process started (the worker processes, a grading
kernel). The calling process and its ancestors are never included. Like ``ray stop``,
``stop_processes`` stops the raylet first (its workers follow it), then the other
processes, the GCS last; each group gets ``SIGTERM`` and, after ``grace_s``, ``SIGKILL``.

Used by ``cluster/labs/stop_cluster.py`` (the lab's command), the course-local Ray
of ``gradkit ray stop`` and the multi-node tests.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

__all__ = ["processes_of", "stop_processes"]


def _read(pid: int, name: str) -> bytes:
    try:
        return (Path("/proc") / str(pid) / name).read_bytes()
    except OSError:  # the process ended, or it is not ours to read
        return b""


def _parent(pid: int) -> int:
    stat = _read(pid, "stat").decode(errors="replace")
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[1]) if len(fields) > 1 else 0


def _ancestors(pid: int) -> set[int]:
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        pid = _parent(pid)
    return seen


def _mentions(pid: int, directory: str) -> bool:
    """The process names ``directory`` on its command line or has a file open inside it."""
    if directory.encode() in _read(pid, "cmdline"):
        return True
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in descriptors:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target == directory or target.startswith(directory + "/"):
            return True
    return False


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def processes_of(temp_dir: str | os.PathLike) -> list[int]:
    """Pids of this user's processes that belong to the Ray node(s) of ``temp_dir``, and their children."""
    directory = os.path.realpath(temp_dir)
    if not os.path.isdir(directory):
        raise ValueError(f"temp_dir {str(temp_dir)!r} is not a directory "
                         "(give the --temp-dir that `ray start` was given)")
    spared = _ancestors(os.getpid())  # this script, the shell or the test that runs it
    uid = os.getuid()
    pids = [pid for pid in _all_pids() if pid not in spared]
    owned = {pid for pid in pids if _owner(pid) == uid}
    found = {pid for pid in owned if _mentions(pid, directory)}
    children: dict[int, list[int]] = {}
    for pid in owned:
        children.setdefault(_parent(pid), []).append(pid)
    stack = list(found)
    while stack:  # add everything the found processes started
        for child in children.get(stack.pop(), []):
            if child not in found and child not in spared:
                found.add(child)
                stack.append(child)
    return sorted(found)


def _owner(pid: int) -> int:
    for line in _read(pid, "status").decode(errors="replace").splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    return -1


def _name(pid: int) -> str:
    return _read(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace").strip()[:100]


def _alive(pid: int) -> bool:
    state = _read(pid, "stat").decode(errors="replace")
    return bool(state) and state[state.rfind(")") + 2:][:1] not in ("Z", "X", "")


def _stop_group(pids: list[int], grace_s: float) -> list[int]:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL what is left; return the pids killed so."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    forced = [pid for pid in pids if _alive(pid)]
    for pid in forced:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in forced):
        time.sleep(0.1)
    return forced


def stop_processes(pids: list[int], grace_s: float = 5.0) -> dict[int, str]:
    """Stop ``pids`` in Ray's order: raylets, then the rest, GCS servers last. Returns pid -> how."""
    names = {pid: _name(pid) for pid in pids}

    def is_(pid, program):
        return f"/{program} " in names[pid] or names[pid].endswith(f"/{program}")

    raylets = [pid for pid in pids if is_(pid, "raylet")]
    gcs = [pid for pid in pids if is_(pid, "gcs_server")]
    rest = [pid for pid in pids if pid not in raylets and pid not in gcs]
    how = {}
    for group in (raylets, rest, gcs):
        forced = set(_stop_group(group, grace_s))
        how.update({pid: "SIGKILL" if pid in forced else "SIGTERM" for pid in group})
    return how
