"""A course-local Ray: ``gradkit ray start`` once, later commands join it, ``gradkit ray stop`` ends it.

Each ``gradkit grade`` (or verify, or demo) that starts its own embedded Ray pays
Ray's start-up again: 5 to 20 s on a busy 2-core laptop, before any notebook runs.
An instructor who grades several assignments in one sitting starts one Ray for the
course instead::

    gradkit ray start --workers 2     # a Ray head on the loopback, its own temp folder
    gradkit grade a1_gradients        # "joined the Ray at 127.0.0.3:PORT (the course's ...)"
    gradkit grade a2_tensor_autodiff  # no start-up cost again
    gradkit ray stop                  # ends exactly that Ray's processes

Where it is is kept in ``<course>/.gradkit/ray.json`` (address, temp folder). A
command given ``--address`` uses that address; without one it joins the course's
Ray when it is running, and otherwise starts the embedded Ray as before (and stops
it when done). ``stop`` ends only the processes of that Ray's temp folder, never
another Ray on the machine.

The course's Ray uses Ray's token authentication (the machine's token,
``~/.ray/auth_token``, made by Ray when missing): on a shared lab machine other users
can reach the loopback too, and a Ray without it runs anyone's code as the
instructor. The commands that join it send the token.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = Path(".gradkit") / "ray.json"
# A loopback address other than 127.0.0.1: `ray start` replaces 127.0.0.1 and
# localhost with the machine's outward address, which would put the course's Ray
# on the network; any other 127.x address is kept as given.
NODE_IP = "127.0.0.3"


class CourseRayError(RuntimeError):
    """The course-local Ray could not be started (the message says what to try)."""


@dataclass
class CourseRay:
    address: str        # NODE_IP:PORT, for --address and ray.init
    temp_dir: str       # Ray's --temp-dir: every process of this Ray names it
    num_cpus: int
    token_auth: bool = False   # started with Ray's token authentication


def _state_path(course) -> Path:
    return Path(course.root) / STATE_FILE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((NODE_IP, 0))
        return sock.getsockname()[1]


def _answers(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except (OSError, ValueError):
        return False


def running(course) -> CourseRay | None:
    """The course's Ray if it is up; a stale state file (a reboot, a crash) is removed."""
    path = _state_path(course)
    if not path.exists():
        return None
    try:
        ray = CourseRay(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if _answers(ray.address):
        return ray
    path.unlink(missing_ok=True)
    return None


def start(course, num_cpus: int, attempts: int = 3) -> CourseRay:
    """Start a Ray head for the course (loopback only, no dashboard); reuse one that runs."""
    existing = running(course)
    if existing:
        return existing
    ray_cli = str(Path(sys.executable).parent / "ray")
    # the machine's Ray token, made when missing (a Ray without token authentication has
    # no such command; its head then starts as before, without authentication)
    token_auth = subprocess.run([ray_cli, "get-auth-token", "--generate"], capture_output=True,
                                timeout=120).returncode == 0
    env = dict(os.environ, RAY_AUTH_MODE="token") if token_auth else None
    last = ""
    for _ in range(attempts):
        temp_dir = tempfile.mkdtemp(prefix="gradkit-ray-")   # short: Ray's socket paths must stay short
        address = f"{NODE_IP}:{_free_port()}"
        cmd = [ray_cli, "start", "--head", f"--node-ip-address={NODE_IP}", f"--port={address.split(':')[1]}",
               f"--num-cpus={num_cpus}", "--include-dashboard=false", "--disable-usage-stats",
               f"--temp-dir={temp_dir}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
        if proc.returncode == 0 and _answers(address):
            ray = CourseRay(address, temp_dir, num_cpus, token_auth)
            path = _state_path(course)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(ray)))
            return ray
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        _stop_temp_dir(temp_dir)   # a half-started head would hold its ports
        time.sleep(2)
    raise CourseRayError(f"could not start the course's Ray in {attempts} attempts ({last}); "
                         f"try fewer --workers, or leave it out: each command then starts its own Ray")


def _stop_temp_dir(temp_dir: str) -> int:
    from gradkit.runtime.local_nodes import processes_of, stop_processes

    if not Path(temp_dir).is_dir():
        return 0
    pids = processes_of(temp_dir)
    stop_processes(pids)
    shutil.rmtree(temp_dir, ignore_errors=True)
    return len(pids)


def stop(course) -> int:
    """Stop the course's Ray (only its own processes); how many processes were stopped."""
    path = _state_path(course)
    if not path.exists():
        return 0
    try:
        ray = CourseRay(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        path.unlink(missing_ok=True)
        return 0
    stopped = _stop_temp_dir(ray.temp_dir)
    path.unlink(missing_ok=True)
    return stopped


def address_for(course, address: str | None) -> str | None:
    """The Ray a command should use: ``--address`` if given, else the course's if running, else None.

    For the course's Ray this process will send the machine's Ray token when it joins.
    """
    if address:
        return address
    ray = running(course)
    if ray is None:
        return None
    if ray.token_auth:
        from gradkit.runtime import use_machine_token

        use_machine_token()
    return ray.address
