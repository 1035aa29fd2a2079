"""Starting and stopping the hub's process, and only what it started.

The hub runs in a session of its own (so a terminal's Ctrl-C does not reach it),
with SIGINT restored to its default: a hub started from a script that ignores
SIGINT passes that on to its proxy, and then takes half a minute to stop. Its pid,
its log and its proxy's pid live in the private state folder; ``stop`` sends
SIGTERM (the hub stops its users' servers, its services and its proxy), waits, and
then kills whatever of that session, that proxy and the servers' cgroups is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from gradkit_autograder.hub.layout import cgroup_prefix, cli_token
from gradkit_autograder.hub.settings import HubSettings
from gradkit_autograder.sandbox import cgroups
from gradkit_autograder.state.course import CourseError

START_DEADLINE_S = 120.0
STOP_DEADLINE_S = 30.0
PID_FILE = "hub.pid"          # JupyterHub's own (c.JupyterHub.pid_file)
SESSION_FILE = "hub.session"  # the session id of everything `start` launched
LOG_FILE = "hub.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie of ours counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(settings: HubSettings) -> int | None:
    pid = _read_int(settings.private_dir / SESSION_FILE)
    return pid if pid and _alive(pid) else None


def api(settings: HubSettings, method: str, path: str, body: dict | None = None, timeout: float = 10.0):
    """Call the hub's REST API with the gradkit-cli service's token; the decoded JSON (or None)."""
    request = urllib.request.Request(
        f"{settings.url}/hub/api{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {cli_token(settings)}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


def _restore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(settings: HubSettings, config_path: Path) -> int:
    """Start the hub in its own session; its pid once its API answers (CourseError with its log if not)."""
    pid = running_pid(settings)
    if pid:
        return pid
    private = settings.private_dir
    log = open(private / LOG_FILE, "ab")
    tools = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=os.pathsep.join([tools, "/usr/local/bin", "/usr/bin", "/bin"]))
    env.pop("JUPYTER_CONFIG_PATH", None)
    process = subprocess.Popen(
        [f"{tools}/jupyterhub", "-f", str(config_path)], cwd=private, env=env, stdin=subprocess.DEVNULL,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_restore_sigint)
    (private / SESSION_FILE).write_text(str(process.pid))
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            api(settings, "GET", "/", timeout=5)
            return process.pid
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.5)
    ended = process.poll()
    stop(settings)
    tail = (private / LOG_FILE).read_text(errors="replace")[-2000:]
    why = f"exited with code {ended}" if ended is not None else f"did not answer within {START_DEADLINE_S:.0f} s"
    raise CourseError(f"the hub at {settings.url} {why}; the end of {private / LOG_FILE}:\n{tail}")


def _started_by_hub(settings: HubSettings, session: int | None) -> list[int]:
    """Processes of the hub's session, and those its servers and services started (they carry its API's URL)."""
    marker = f"JUPYTERHUB_API_URL=http://127.0.0.1:{settings.hub_api_port}/hub/api".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if session and os.getsid(int(entry.name)) == session:
                pids.append(int(entry.name))
            elif marker in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            pass
    return pids


def _server_groups(settings: HubSettings) -> list[cgroups.KernelCgroup]:
    """The cgroups of this course's user servers (``CourseSpawner`` names them <prefix>.<user>.<random>)."""
    found = {}
    for controller in cgroups.CONTROLLERS + ("cpu",):
        parent = cgroups._parent(controller)
        if parent.is_dir():
            for folder in parent.glob(f"{cgroup_prefix(settings)}.*"):
                found.setdefault(folder.name, cgroups.KernelCgroup(0, 0, name=folder.name, cpus=1.0))
    return list(found.values())


def stop(settings: HubSettings) -> int:
    """Stop the hub and everything it started; how many processes had to be killed."""
    private = settings.private_dir
    session = _read_int(private / SESSION_FILE)
    proxy = _read_int(private / "proxy.pid")
    killed = 0
    if session and _alive(session):
        os.kill(session, signal.SIGTERM)
        deadline = time.monotonic() + STOP_DEADLINE_S
        while _alive(session) and time.monotonic() < deadline:
            time.sleep(0.2)
    deadline = time.monotonic() + 5.0     # what the hub stopped may take a moment to exit
    while (left := _started_by_hub(settings, session)) and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        if proxy and b"configurable-http-proxy" in Path(f"/proc/{proxy}/cmdline").read_bytes():
            left.append(proxy)
    except OSError:
        pass
    for pid in set(left):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    for group in _server_groups(settings):
        killed += group.remove()
    for name in (SESSION_FILE, PID_FILE, "proxy.pid"):
        (private / name).unlink(missing_ok=True)
    return killed
