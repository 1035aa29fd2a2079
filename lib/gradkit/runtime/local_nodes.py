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

:func:`start_node` is the other half: ``ray start`` of one node (a head, or a node
joining one) with its own temp dir and free ports, retried, so that a multi-node
cluster can be built on one machine (the two-node test and the grading benchmark).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

__all__ = ["processes_of", "stop_processes", "start_node", "NodeStartError"]


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


# --- starting a node -----------------------------------------------------------------

class NodeStartError(RuntimeError):
    """``ray start`` failed every attempt; the message holds each attempt's reason."""


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free right now (held together while chosen, so all differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("", 0))  # free on every interface: some Ray servers bind them all
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _node_command(temp_dir: Path, ports: list[int], node_ip: str, head_address: str | None,
                  num_cpus: int, object_store_bytes: int) -> list[str]:
    """``ray start`` for a head (``head_address`` None) or a node joining ``head_address``.

    Every port is chosen here (none of Ray's defaults), so that several nodes and other
    people's Rays can share one machine.
    """
    agent, grpc, metrics, runtime_env, node_manager, object_manager, client, dashboard, gcs = ports
    command = [str(Path(sys.executable).parent / "ray"), "start", f"--temp-dir={temp_dir}",
               f"--num-cpus={num_cpus}", "--num-gpus=0", f"--node-ip-address={node_ip}",
               f"--object-store-memory={object_store_bytes}", "--disable-usage-stats",
               f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
               f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={grpc}",
               f"--metrics-export-port={metrics}", f"--runtime-env-agent-port={runtime_env}",
               "--min-worker-port=0", "--max-worker-port=0",  # 0: the OS picks free worker ports
               # One Python process fewer competing with the dashboard agent at start-up
               # (worker prints then stay in the node's logs instead of reaching drivers).
               "--include-log-monitor=false"]
    if head_address is None:
        return command + ["--head", f"--port={gcs}", f"--ray-client-server-port={client}",
                          f"--dashboard-port={dashboard}", "--include-dashboard=false"]
    return command + [f"--address={head_address}"]


def _raylet_alive(temp_dir: Path) -> bool:
    return any(b"/raylet/raylet" in _read(pid, "cmdline") for pid in processes_of(temp_dir))


def _affinity_setter(cores: Iterable[int] | None):
    """A ``preexec_fn`` that pins the child to ``cores`` (None: no pinning); checks them first."""
    if cores is None:
        return None
    wanted = set(cores)
    available = os.sched_getaffinity(0)
    if not wanted or not wanted <= available:
        raise ValueError(f"start_node: cores must be a non-empty subset of this process's CPU cores "
                         f"{sorted(available)}, got {sorted(wanted)}")
    return lambda: os.sched_setaffinity(0, wanted)


def start_node(temp_dir: str | os.PathLike, node_ip: str, head_address: str | None = None, *,
               num_cpus: int = 1, object_store_bytes: int = 100 * 2**20, attempts: int = 3,
               timeout_s: float = 90.0, env: dict | None = None, cores: Iterable[int] | None = None) -> str:
    """Start one Ray node in ``temp_dir`` on ``node_ip``; return the cluster's GCS address.

    ``head_address`` None starts a head; otherwise the node joins that head. Use a
    loopback address other than 127.0.0.1 for ``node_ip`` (127.0.0.2, 127.0.0.3, ...):
    ``ray start`` replaces 127.0.0.1 with the machine's outward address. ``temp_dir``
    must be short (Ray's unix sockets live under it; such paths are limited to 107
    bytes). A start that fails or hangs (on a busy machine the raylet may give up on
    its dashboard agent after a fixed 15 s, ray-project/ray#65983) is stopped, by its
    temp dir, and retried; after ``attempts`` failures :class:`NodeStartError` says why.
    Stop the node with ``stop_processes(processes_of(temp_dir))``.

    ``cores`` (Linux) pins the node to those CPU cores: its raylet, its workers and
    everything they start inherit the affinity, as on a machine that has only these
    cores. Without it ``num_cpus`` is a count Ray schedules by, not a limit: a task
    of "1 CPU" whose work runs in two processes (a grading worker and its kernel)
    uses two cores when two are free.
    """
    temp_dir = Path(temp_dir)
    pin = _affinity_setter(cores)
    failures = []
    for attempt in range(1, attempts + 1):
        ports = _free_ports(9)
        temp_dir.mkdir(parents=True, exist_ok=True)
        command = _node_command(temp_dir, ports, node_ip, head_address, num_cpus, object_store_bytes)
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s,
                                  preexec_fn=pin)
            if done.returncode == 0 and _raylet_alive(temp_dir):
                return head_address or f"{node_ip}:{ports[-1]}"
            failures.append(f"attempt {attempt}: exit {done.returncode}: {done.stderr[-600:]}")
        except subprocess.TimeoutExpired:
            failures.append(f"attempt {attempt}: no answer in {timeout_s:g} s")
        raylet_log = next(temp_dir.glob("session_*/logs/raylet.out"), None)
        if raylet_log is not None:  # the raylet's fatal lines say why it stopped
            failures[-1] += " | raylet: " + " ".join(
                line for line in raylet_log.read_text(errors="replace").splitlines() if " C " in line)[:400]
        stop_processes(processes_of(temp_dir), grace_s=3)
        shutil.rmtree(temp_dir, ignore_errors=True)
    role = "head" if head_address is None else f"node joining {head_address}"
    raise NodeStartError(f"`ray start` ({role}) failed {attempts} times:\n" + "\n".join(failures))
