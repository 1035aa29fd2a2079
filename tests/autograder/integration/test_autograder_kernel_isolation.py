"""Kernels cannot reach each other, and a batch survives a passing failure and leaves nothing behind.

Reading other kernels: two kernels are started by the grader's own kernel manager under the worker's
isolation, each in a private workspace of its own with its own uid (as two grading
workers would be). The victim runs the a0 reference solution with its hidden tests,
over and over, until the attacker is done. The attacker reads ``/proc/net/tcp``,
``tcp6`` and ``unix``, connects to every TCP port open on 127.0.0.1, and subscribes
to every socket it found, as a kernel's IOPub subscriber would (reading needs no key).
It must find no socket and receive no message.

The batch and the machine: a reference run told to fail once is run again and the
batch is graded; one that fails twice stops the batch, naming the check; and no
library view, gradebook template or other folder of a grading worker is left in the
workers' temp folder after the run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import glob
import json
import os
import secrets
import shutil
import threading
import time
from pathlib import Path

import nbformat
import pytest
import ray

from gradkit.runtime import ray_session
from gradkit_autograder.commands.collect import collect
from gradkit_autograder.state.course import Course
from gradkit_autograder.commands.grade import GradeError, grade
from gradkit_autograder.sandbox.kernel_manager import LimitedKernelManager
from gradkit_autograder.commands.release import release
from gradkit_autograder.state.scratch_course import scratch_course
from gradkit_autograder.sandbox.isolation import Secrets, decide_isolation, make_workdir
from gradkit_autograder.sandbox.library_view import library_view
from gradkit_autograder.grading.workspace import private_workspace
from support import REPO

pytestmark = pytest.mark.slow
LISTEN_S = 5.0          # how long the attacker listens on what it connected to

ATTACK = r'''
import json, os, socket, time
import ipykernel, zmq

own = json.loads(ipykernel.get_connection_info())        # this kernel's own channels: left out
own_ports = {v for k, v in own.items() if k.endswith("_port")} if own["transport"] == "tcp" else set()
own_prefix = own["ip"] if own["transport"] == "ipc" else "\0"

def proc_net(name):
    try:
        with open(f"/proc/net/{name}") as f:
            return f.read().splitlines()[1:]
    except OSError:
        return []

def own_inodes():   # the sockets of this kernel's own process (ipykernel listens on one itself)
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:   # the folder's own descriptor, closed by now
            continue
        if link.startswith("socket:["):
            found.add(link[len("socket:["):-1])
    return found

mine = own_inodes()
tcp = [f for f in (line.split() for line in proc_net("tcp") + proc_net("tcp6")) if f[9] not in mine]
own_ports |= {int(f[1].rsplit(":", 1)[1], 16) for f in (line.split() for line in proc_net("tcp"))
              if f[9] in mine}
listed = sorted({int(f[1].rsplit(":", 1)[1], 16) for f in tcp if f[3] == "0A"})
open_ports = []
for port in range(1, 65536):
    if port not in own_ports:
        with socket.socket() as s:
            s.settimeout(0.2)
            # a connection to itself (its source port drawn equal to the port) is no find
            if s.connect_ex(("127.0.0.1", port)) == 0 and s.getsockname() != s.getpeername():
                open_ports.append(port)
unix = sorted({f[-1] for f in (line.split() for line in proc_net("unix"))
               if f[-1].startswith("/") and not f[-1].startswith(own_prefix)})

sub = zmq.Context.instance().socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.setsockopt(zmq.LINGER, 0)
endpoints = [f"tcp://127.0.0.1:{p}" for p in sorted(set(listed) | set(open_ports))] + [f"ipc://{p}" for p in unix]
for endpoint in endpoints:
    try:
        sub.connect(endpoint)
    except zmq.ZMQError:
        pass
marker = b"VICTIM" + b"-"
messages = secret = 0
deadline = time.monotonic() + LISTEN_S
while (left := deadline - time.monotonic()) > 0:
    if sub.poll(int(left * 1000) + 1):
        frames = sub.recv_multipart()
        messages += 1
        secret += any(marker in frame for frame in frames)
sub.close()
print("ATTACK" + json.dumps({"tcp_sockets": len(tcp), "listening": listed, "open_ports": open_ports,
                             "unix_paths": len(unix), "messages": messages, "victim_messages": secret}))
'''.replace("LISTEN_S", repr(LISTEN_S))


def _reference_cells(marker: str) -> list[str]:
    """The a0 source notebook's code cells (solutions and hidden tests), each tagged with ``marker``."""
    nb = nbformat.read(REPO / "assignments" / "a0_warmup" / "warmup.ipynb", as_version=4)
    return [f"# {marker}\n{c.source}" for c in nb.cells if c.cell_type == "code"]


async def _start(isolation, workspace: Path, name: str):
    """A kernel as a grading worker starts one: its working folder, runtime folder and limits."""
    for folder in ("workdir", "runtime", "empty"):
        (workspace / folder).mkdir()
        os.chmod(workspace / folder, 0o711)
    cwd = make_workdir(str(workspace / "empty"), str(workspace / "workdir" / name), isolation.uid)
    isolation = dataclasses.replace(isolation, library_view=library_view((), workspace / "view"))
    km = LimitedKernelManager(kernel_name="python3", isolation=dataclasses.asdict(isolation),
                              runtime_dir=str(workspace / "runtime"), memory_mb=2048, file_mb=64,
                              pids_max=256)
    await km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    return km, kc


async def _victim(kc, cells: list[str], marker: str, attacker_done: asyncio.Event) -> dict:
    """Run the reference cells until the attacker is done (at most 300 s); count what IOPub carried."""
    seen = {"runs": 0, "own_messages": 0}

    def hook(msg):
        seen["own_messages"] += marker in json.dumps(msg["content"])

    deadline = time.monotonic() + 300
    while not attacker_done.is_set() and time.monotonic() < deadline:
        for code in cells:
            await kc.execute_interactive(code, timeout=60, output_hook=hook)
        seen["runs"] += 1
    return seen


async def _attack(kc, attacker_done: asyncio.Event) -> dict:
    out = []
    try:
        reply = await kc.execute_interactive(
            ATTACK, timeout=240,
            output_hook=lambda msg: out.append(msg["content"].get("text", "")))
    finally:
        attacker_done.set()
    assert reply["content"]["status"] == "ok", reply["content"]
    text = "".join(out)
    return json.loads(text.split("ATTACK", 1)[1].splitlines()[0])


async def _attack_while_reference_runs(isolation) -> tuple[dict, dict]:
    marker = f"VICTIM-{secrets.token_hex(8)}"
    victim_isolation = dataclasses.replace(isolation, uid=isolation.uid + 1) if isolation.uid >= 0 else isolation
    started = []
    with private_workspace() as victim_ws, private_workspace() as attacker_ws:
        try:
            started.append(await _start(victim_isolation, victim_ws, "victim"))
            started.append(await _start(isolation, attacker_ws, "attacker"))
            (_, victim_kc), (_, attacker_kc) = started
            done = asyncio.Event()
            victim_task = asyncio.ensure_future(_victim(victim_kc, _reference_cells(marker), marker, done))
            attack = await _attack(attacker_kc, done)
            return attack, await victim_task
        finally:
            for km, kc in started:
                kc.stop_channels()
                await km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def isolation():
    chosen = decide_isolation("auto", Secrets())
    if not chosen.own_network:   # rlimits mode, or a machine that refuses network namespaces
        pytest.skip(f"kernels get no network namespace here: {chosen.describe()}")
    return chosen


def test_a_kernel_cannot_read_another_running_kernels_iopub(isolation):
    attack, victim = asyncio.run(_attack_while_reference_runs(isolation))
    # the victim ran the reference (hidden tests included) all the while, and its own client saw it
    assert victim["runs"] >= 1 and victim["own_messages"] > 0, victim
    # the attacker saw no socket of the host or of another kernel, and received nothing
    assert attack == {"tcp_sockets": 0, "listening": [], "open_ports": [], "unix_paths": 0,
                      "messages": 0, "victim_messages": 0}, attack


# --- the batch and the machine ----------------------------------------------------------------

A = "a0_warmup"
CHECK = "test_softplus_visible"
# the reference's first check waits until the test tells it, through a file in its working
# folder, whether this run fails ("fail") or passes ("go")
TOLD = """import os, time
_deadline = time.monotonic() + 60
while not (os.path.exists("go") or os.path.exists("fail")) and time.monotonic() < _deadline:
    time.sleep(0.05)
assert os.path.exists("go"), "this run was told to fail"
"""
LIMITS = "limits:\n  cell_timeout_s: 90\n  notebook_timeout_s: 300\n"


@pytest.fixture(scope="module")
def told_course(tmp_path_factory):
    """a0 whose reference fails when told to; one student who submitted none of its notebooks (no kernel)."""
    base = tmp_path_factory.mktemp("told")
    course = scratch_course(Course.open(REPO / "course"), base, [A])
    (course.source_dir(A) / "assignment.yaml").write_text(LIMITS)
    source = course.source_dir(A) / "warmup.ipynb"
    nb = nbformat.read(source, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == CHECK)
    cell.source = TOLD + cell.source
    nbformat.write(nb, source)
    release(course, [A])
    (base / "class" / "nobody" / A).mkdir(parents=True)
    (base / "class" / "nobody" / A / "notes.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    collect(course, base / "class", assignment=A)
    return course


def _tell_reference_runs(tmpdir: Path, verdicts: list[str], stop: threading.Event) -> None:
    """Write the next verdict into each new kernel working folder under ``tmpdir``, in turn ('go' after the list)."""
    told: set[str] = set()
    deadline = time.monotonic() + 600
    while not stop.is_set() and time.monotonic() < deadline:
        for folder in sorted(set(glob.glob(str(tmpdir / "gradkit-*" / "workdir" / "*"))) - told):
            told.add(folder)
            Path(folder, verdicts.pop(0) if verdicts else "go").write_text("")
        stop.wait(0.05)


def _grade_telling(course, tmpdir: Path, verdicts: list[str]):
    """Grade with the workers' temp folder at ``tmpdir``, telling the reference runs ``verdicts``."""
    assert not ray.is_initialized()   # the workers must start here, with this TMPDIR
    stop = threading.Event()
    teller = threading.Thread(target=_tell_reference_runs, args=(tmpdir, list(verdicts), stop), daemon=True)
    teller.start()
    try:
        with ray_session(None, num_cpus=2, what="reference retry test"):
            return grade(course, A, workers=2, force=True, progress=False)
    finally:
        stop.set()
        teller.join(timeout=5)


@pytest.fixture
def workers_tmpdir(monkeypatch):
    """A temp folder of the test's own for the Ray workers it starts (short: the kernels' socket paths)."""
    tmpdir = Path(f"/tmp/gk-{secrets.token_hex(4)}")
    tmpdir.mkdir()
    # Ray's own session folder stays where it was (Ray reads TMPDIR too)
    monkeypatch.setenv("RAY_TMPDIR", os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp")
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    yield tmpdir
    shutil.rmtree(tmpdir, ignore_errors=True)


def test_reference_failing_once_is_run_again_and_nothing_of_the_workers_is_left(told_course, workers_tmpdir):
    summary = _grade_telling(told_course, workers_tmpdir, ["fail"])
    retried = [o for o in summary.outcomes if o.status == "retried"]
    assert len(retried) == 1, summary.outcomes
    message = retried[0].incidents[0]["message"]
    assert CHECK in message and "this run was told to fail" in message, message
    assert summary.count("graded") == 1 and summary.count("failed") == 0, summary.outcomes
    # each task's library view, gradebook and working folders lived in its private folder, now gone
    assert sorted(p.name for p in workers_tmpdir.glob("gradkit-*")) == []


def test_reference_failing_twice_stops_the_batch_naming_the_check(told_course, workers_tmpdir):
    with pytest.raises(GradeError) as failed:
        _grade_telling(told_course, workers_tmpdir, ["fail", "fail"])
    message = str(failed.value)
    assert f"warmup: {CHECK} (0 of 1, AssertionError: this run was told to fail)" in message, message
    assert "failed twice" in message
