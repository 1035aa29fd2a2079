"""A real two-node Ray cluster on this machine: ring training and a grading run reach both nodes.

The head (node IP 127.0.0.3) and a second raylet (127.0.0.2) are started with
``ray start`` the way the lab guide tells a lab admin to (``cluster/README.md``): own
``--temp-dir`` each, explicit ports, dashboard UI off, small object stores, 1 CPU
each. Work is sent to it *by address* only: ``train(strategy="ring", workers=2)`` from
a separate driver process, and ``gradkit grade a0_warmup --address`` on a scratch
course. Oracles: the ring's losses equal single-process training with the combined
batch (the library's promise, computed in the same driver); the grades are full marks
for the reference and zero for the blank; each node's own worker logs (Ray writes
``:actor_name:``/``:task_name:`` there) say which node ran each worker actor and each
grading task. At the end exactly the processes of the two temp
dirs are stopped (``cluster/labs/stop_cluster.py``; never ``ray stop``, which would stop
other people's Ray on a shared machine) and none of them is left.

Two Ray details shape it, both explained in the lab guide (Part 2):

* the head is not on ``127.0.0.1``: ``ray start`` replaces ``127.0.0.1``/``localhost``,
  in ``--node-ip-address`` *and* in a joining node's ``--address``, with the machine's
  outward address (``ray._private.services.resolve_ip_for_localhost``). A head started
  on 127.0.0.1 therefore advertises the outward address (not loopback); forcing
  127.0.0.1 with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes its GCS listen on
  127.0.0.1 only, and the second node, which rewrites ``--address=127.0.0.1:PORT`` to
  the outward address, then waits for it forever. Any other loopback address (Linux
  answers on all of 127.0.0.0/8) is kept as given, so the head uses 127.0.0.3 and the
  second node 127.0.0.2: the whole cluster stays on the loopback.
* the raylet waits a hard-coded 15 s for its dashboard agent to start and exits if it
  has not (ray-project/ray#65983): on a busy machine ``ray start`` then fails, so each
  node gets several attempts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gradkit.runtime.local_nodes import NodeStartError, start_node
from support import REPO

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
A = "a0_warmup"
HEAD_IP, WORKER_IP = "127.0.0.3", "127.0.0.2"
START_ATTEMPTS, START_TIMEOUT_S = 3, 90
OBJECT_STORE_BYTES = 100 * 1024 * 1024  # Ray's minimum is ~75 MB


def _load_stop_cluster():
    spec = importlib.util.spec_from_file_location("stop_cluster", REPO / "cluster" / "labs" / "stop_cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stop_cluster = _load_stop_cluster()


def _base_env() -> dict:
    env = dict(os.environ, RAY_AUTH_MODE="disabled", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("RAY_ADDRESS", None)  # a stray RAY_ADDRESS would redirect `--address`-less calls
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    return env


def _start_node(temp_dir: Path, head_address: str | None) -> str:
    """One node (1 CPU, a small object store) with START_ATTEMPTS tries; the GCS address."""
    try:
        return start_node(temp_dir, WORKER_IP if head_address else HEAD_IP, head_address,
                          num_cpus=1, object_store_bytes=OBJECT_STORE_BYTES, attempts=START_ATTEMPTS,
                          timeout_s=START_TIMEOUT_S, env=_base_env())
    except NodeStartError as error:
        pytest.fail(str(error))


def _processes_naming(directories: list[Path]) -> list[int]:
    """Pids whose command line names one of ``directories`` (the check the lab guide shows)."""
    needles = [str(d).encode() for d in directories]
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if any(needle in cmdline for needle in needles):
                found.append(int(entry.name))
    return found


def _ran_here(temp_dir: Path, kind: str, name: str) -> int:
    """How often the node of ``temp_dir`` ran ``name``: Ray's worker processes write a line
    ``:task_name:<function>`` (``kind="task"``) or ``:actor_name:<class>`` (``"actor"``)
    to their log, inside their node's own ``--temp-dir``, for every task they start and
    when they become an actor."""
    pattern = re.compile(rf":{kind}_name:[\w.]*\b{re.escape(name)}\b")
    return sum(len(pattern.findall(log.read_text(errors="replace")))
               for log in temp_dir.glob("session_*/logs/worker-*.out"))


TRAIN_DRIVER = textwrap.dedent("""
    import json, sys, time
    import ray
    from gradkit.distributed.examples import digits_data, mlp_factory
    from gradkit.distributed.trainer import train

    ray.init(address=sys.argv[1], log_to_driver=False)
    deadline = time.monotonic() + 120
    while len([n for n in ray.nodes() if n["Alive"]]) < 2 and time.monotonic() < deadline:
        time.sleep(1)  # the second node registers a moment after its `ray start` returns
    nodes = {n["NodeManagerAddress"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}
    X, y = digits_data("train")
    X, y = X[:512], y[:512]
    model = mlp_factory((64, 32, 10))
    ring = train(model, (X, y), strategy="ring", workers=2, batch_size=16, epochs=1, lr=0.1,
                 seed=3, address=sys.argv[1], use_gpu=False)
    single = train(model, (X, y), strategy="single", batch_size=32, epochs=1, lr=0.1, seed=3,
                   use_gpu=False)
    print("RESULT " + json.dumps({
        "nodes": nodes,
        "placement": ring.placement,
        "ring_loss": [e["loss"] for e in ring.history],
        "single_loss": [e["loss"] for e in single.history],
        "max_weight_gap": max(float((ring.state_dict[k] - single.state_dict[k]).abs().max())
                              for k in single.state_dict),
        "driver_joined": ray.get_runtime_context().gcs_address}))
""")


def _scratch_class(base: Path):
    """A scratch course with a0 released and two students collected: the reference and a blank."""
    from gradkit_autograder.grading.class_builder import reference_notebook, write_submission
    from gradkit_autograder.commands.collect import collect
    from gradkit_autograder.state.course import Course
    from gradkit_autograder.commands.release import release
    from gradkit_autograder.state.scratch_course import scratch_course

    course = scratch_course(Course.open(REPO / "course"), base, [A])
    release(course, [A])
    source, released = course.source_dir(A) / "warmup.ipynb", course.release_dir(A) / "warmup.ipynb"
    write_submission(base / "class" / "alice" / A, {"warmup.ipynb": reference_notebook(source, released)})
    write_submission(base / "class" / "bob" / A, {"warmup.ipynb": released})
    collect(course, base / "class")
    return course


def test_two_node_cluster_runs_ring_training_and_grading_on_both_nodes(tmp_path_factory):
    # Short temp dirs: Ray's unix sockets live under them and such paths may not exceed 107 bytes.
    short = tmp_path_factory.mktemp("ray")
    head_dir, worker_dir = short / "h", short / "w"
    assert len(str(short)) < 50, f"basetemp {short} is too long for Ray's socket paths"
    try:
        address = _start_node(head_dir, None)
        _start_node(worker_dir, address)

        # 1. Ring all-reduce over two workers, one per node, from a driver that joins by address.
        done = subprocess.run([sys.executable, "-c", TRAIN_DRIVER, address], env=_base_env(),
                              capture_output=True, text=True, timeout=300, cwd=REPO)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.split("RESULT ", 1)[1])
        assert sorted(result["nodes"]) == sorted([HEAD_IP, WORKER_IP]), result["nodes"]
        assert result["driver_joined"] == address
        assert sorted(place["node"] for place in result["placement"]) == sorted([HEAD_IP, WORKER_IP])
        assert result["ring_loss"] == pytest.approx(result["single_loss"], rel=1e-4)
        assert result["max_weight_gap"] < 1e-4
        for node_dir in (head_dir, worker_dir):  # Ray's own record, per node
            assert _ran_here(node_dir, "actor", "DataParallelWorker") >= 1, node_dir

        # 2. The grader against the same cluster, by address, on a scratch course.
        course = _scratch_class(short / "course")
        graded = subprocess.run([str(BIN / "gradkit"), "grade", A, "--address", address,
                                 "--course", str(course.root)], env=_base_env(),
                                capture_output=True, text=True, timeout=300)
        assert graded.returncode == 0, graded.stdout[-2000:] + graded.stderr[-2000:]
        assert f"{A}: 2 graded, 0 failed" in graded.stdout, graded.stdout
        with course.gradebook() as gb:
            scores = {s: gb.find_submission(A, s).score for s in ("alice", "bob")}
        assert scores == {"alice": 9, "bob": 0}
        # three grading tasks (the reference run and two students) on two 1-CPU nodes
        per_node = [_ran_here(d, "task", "grade_submission") for d in (head_dir, worker_dir)]
        assert min(per_node) >= 1, per_node
    finally:
        pids = sorted({pid for d in (head_dir, worker_dir) if d.exists()
                       for pid in stop_cluster.processes_of(d)})
        stop_cluster.stop_processes(pids, grace_s=5)
    left = [d for d in (head_dir, worker_dir) if d.exists() and stop_cluster.processes_of(d)]
    assert not left, f"processes of {left} still run"
    assert _processes_naming([head_dir, worker_dir]) == []


def test_stop_cluster_stops_the_processes_of_one_temp_dir_and_spares_the_rest(tmp_path):
    """Without Ray: processes that name the dir, hold a file in it, or descend from one of
    them are stopped (a SIGTERM-ignoring one by SIGKILL); a look-alike elsewhere is spared."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    sleeper = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN) if 'stubborn' in sys.argv else None; time.sleep(120)"
    parent_code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
                   "time.sleep(120)")
    started = [
        subprocess.Popen([sys.executable, "-c", sleeper, str(ours / "x")]),                # names the dir
        subprocess.Popen([sys.executable, "-c", sleeper, "stubborn", str(ours / "y")]),    # ignores SIGTERM
        subprocess.Popen([sys.executable, "-c", sleeper], stdout=open(ours / "log.out", "w")),  # a file in it
        subprocess.Popen([sys.executable, "-c", parent_code, str(ours / "z")]),            # and its child
    ]
    spared = subprocess.Popen([sys.executable, "-c", sleeper, str(theirs / "x")])
    try:
        deadline = time.monotonic() + 30
        while len(stop_cluster.processes_of(ours)) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)  # the grandchild needs a moment to start
        found = stop_cluster.processes_of(ours)
        assert {p.pid for p in started} <= set(found) and len(found) == 5, found
        assert spared.pid not in found and os.getpid() not in found
        how = stop_cluster.stop_processes(found, grace_s=1)
        assert how[started[1].pid] == "SIGKILL" and how[started[0].pid] == "SIGTERM"
        for process in started:
            assert process.wait(timeout=10) is not None
        assert stop_cluster.processes_of(ours) == []
        assert spared.poll() is None, "a process of another temp dir was stopped"
    finally:
        for process in started + [spared]:
            if process.poll() is None:
                process.kill()
                process.wait()
    with pytest.raises(ValueError, match="not a directory"):
        stop_cluster.processes_of(tmp_path / "missing")


def test_start_node_pins_a_node_to_its_cores_and_refuses_cores_it_does_not_have(tmp_path):
    """``cores=`` is what makes "1 CPU per node" one core per node (the scaling benchmark):
    a process started the way start_node starts ``ray start`` runs on those cores only."""
    from gradkit.runtime.local_nodes import _affinity_setter

    available = sorted(os.sched_getaffinity(0))
    probe = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
    pinned = subprocess.run(probe, preexec_fn=_affinity_setter([available[-1]]), capture_output=True,
                            text=True, check=True)
    assert json.loads(pinned.stdout) == [available[-1]]
    free = subprocess.run(probe, preexec_fn=_affinity_setter(None), capture_output=True, text=True, check=True)
    assert json.loads(free.stdout) == available
    missing = max(available) + 1
    with pytest.raises(ValueError, match=rf"subset of this process's CPU cores.*got \[{missing}\]"):
        start_node(tmp_path / "n", HEAD_IP, cores=[missing])
    assert not (tmp_path / "n").exists(), "nothing may start when the cores are wrong"
