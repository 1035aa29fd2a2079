"""One limit per kernel, not per process: a cgroup for each kernel's whole process tree.

An rlimit such as ``RLIMIT_AS`` caps each process on its own, so a kernel that
starts ten children may use ten times its share. A cgroup counts the kernel and
every process it starts, however they detach: the ``memory`` controller caps
their memory together (the kernel's OOM killer ends a process of the group when
it is exceeded) and the ``pids`` controller caps how many processes exist at
once (a fork bomb stops at the cap). When the notebook ends, every process still
in the group is killed and the group removed, whatever session it started.

The grader makes one group per kernel, as a child of its own cgroup, before the
kernel starts; ``kernel.launch`` joins it (``--cgroup-procs``), and children follow.
cgroup v1 ``memory`` and ``pids`` hierarchies are used where they are mounted and
writable (the course machines have them); elsewhere ``available()`` says why not
and the kernel keeps the per-process limits only.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids")


def _own_path(controller: str) -> str:
    """This process's cgroup path in a v1 hierarchy (``/`` if not listed)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            if controller in names.split(","):
                return path
    except OSError:
        pass
    return "/"


def _parent(controller: str) -> Path:
    return ROOT / controller / _own_path(controller).lstrip("/")


def available(controllers: tuple[str, ...] = CONTROLLERS) -> str:
    """'' if per-kernel cgroups can be made here; otherwise the reason they cannot."""
    for controller in controllers:
        parent = _parent(controller)
        if not (parent / "cgroup.procs").exists():
            return f"no cgroup v1 '{controller}' hierarchy at {ROOT / controller}"
        probe = parent / f"gradkit-probe-{uuid.uuid4().hex[:8]}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError as err:
            return f"cannot create a cgroup under {parent} ({err.strerror})"
    return ""


class KernelCgroup:
    """The groups of one process tree (a kernel, or a hub user's server): create, fill, read, empty, remove.

    ``cpus`` > 0 adds a ``cpu`` group whose CFS quota is that many cores.
    """

    def __init__(self, memory_mb: int, pids_max: int, name: str | None = None, cpus: float = 0.0):
        self.name = name or f"gradkit-kernel-{uuid.uuid4().hex[:12]}"
        self.memory_mb = memory_mb
        self.pids_max = pids_max
        self.cpus = cpus
        self.dirs = {c: _parent(c) / self.name for c in CONTROLLERS + (("cpu",) if cpus > 0 else ())}

    def create(self) -> list[str]:
        """Make the groups with their limits; the ``cgroup.procs`` files for the launcher."""
        for folder in self.dirs.values():
            folder.mkdir(exist_ok=True)
        if self.memory_mb > 0:
            limit = str(self.memory_mb * 1024 * 1024)
            (self.dirs["memory"] / "memory.limit_in_bytes").write_text(limit)
            swap = self.dirs["memory"] / "memory.memsw.limit_in_bytes"
            if swap.exists():   # memory + swap: no escape into swap
                try:
                    swap.write_text(limit)
                except OSError:
                    pass
        if self.pids_max > 0:
            (self.dirs["pids"] / "pids.max").write_text(str(self.pids_max))
        if self.cpus > 0:
            period = int((self.dirs["cpu"] / "cpu.cfs_period_us").read_text())
            (self.dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(max(1000, int(self.cpus * period))))
        return [str(folder / "cgroup.procs") for folder in self.dirs.values()]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.dirs.values():
            try:
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def memory_limit_hits(self) -> int:
        """How many processes of the group the OOM killer ended (``oom_kill`` in ``memory.oom_control``).

        ``memory.failcnt`` would count every time the limit was reached, but not
        every kernel keeps it up to date; the OOM kills are what grading needs to know.
        """
        try:
            for line in (self.dirs["memory"] / "memory.oom_control").read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def peak_memory_mb(self) -> float:
        try:
            return int((self.dirs["memory"] / "memory.max_usage_in_bytes").read_text()) / 2**20
        except (OSError, ValueError):
            return 0.0

    def kill_all(self, timeout_s: float = 5.0) -> int:
        """SIGKILL every process left in the group, until it is empty; how many were killed."""
        killed: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            left = self.pids()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        return len(killed)

    def wait_empty(self, timeout_s: float = 2.0) -> None:
        """Give processes that are already dying (the killed kernel, its sandbox) time to go."""
        deadline = time.monotonic() + timeout_s
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.02)

    def remove(self) -> int:
        """Kill what is left and remove the groups; the number of processes killed."""
        self.wait_empty()
        killed = self.kill_all()
        for folder in self.dirs.values():
            for _ in range(50):   # a killed process leaves the group a moment later
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
        return killed
