"""The one place where gradkit starts or joins Ray, and checks resources before scheduling.

:func:`ray_session` is a ``with`` block around a Ray session: it joins the Ray at an
address, or starts an embedded one on this machine, and on leaving stops Ray only if it
started it. :func:`ensure_ray` (and :func:`shutdown_ray`) is the same start for code
that keeps Ray running between calls, such as ``train``. The same code therefore runs
on a laptop (an embedded Ray) and on a cluster (``address="ray://..."``), chosen by an
argument, never by editing code. This module imports ray but not torch, so that the
grader can start Ray without loading any training code.

Ray never fails when an actor asks for more than the cluster has: it waits, forever,
for a node that could fit it. :func:`check_resources` compares the request with the
cluster's totals *before* anything is scheduled and raises a message naming both, and
:func:`wait_until_ready` is the backstop timeout for the case the check cannot see
(resources that exist but are held by someone else).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

import ray

__all__ = [
    "InsufficientResourcesError",
    "RayStartError",
    "RaySession",
    "ray_session",
    "use_machine_token",
    "ensure_ray",
    "shutdown_ray",
    "cluster_resources",
    "check_resources",
    "wait_until_ready",
]

# Resources that describe the cluster but are not things a worker asks for.
_BOOKKEEPING_PREFIXES = ("node:", "memory", "object_store_memory", "accelerator_type:")

# Start-up limits of an embedded Ray, raised from Ray's defaults for a busy 2-core
# machine, where a worker process that imports numpy can take tens of seconds to
# register with the raylet (Ray's default limit is 60 s, after which the worker is killed).
# Some limits cannot be set (the raylet gives its dashboard agent a fixed 15 s, and
# some Ray versions wait a fixed 30 s for the raylet): hence the retries.
EMBEDDED_NODE_IP = "127.0.0.2"   # loopback; see _connect
_EMBEDDED_SYSTEM_CONFIG = {
    "worker_register_timeout_seconds": 180,
    "raylet_start_wait_time_s": 120,
}

# Seconds to wait before attempt k + 1 of a failed start: k * this.
_RETRY_PAUSE_S = 5.0

# Set when ensure_ray started the embedded instance, so shutdown_ray stops only what we began.
_started_here = False


class InsufficientResourcesError(RuntimeError):
    """The cluster cannot place what was asked for; the message names both sides."""


class RayStartError(RuntimeError):
    """Ray could not be started or joined; the one-line message says what to try."""


@dataclass
class RaySession:
    """The Ray this process is connected to.

    ``started`` is True when this process started it (an embedded Ray), False when
    it joined a running one; ``connected`` is True when this call connected to it
    (started it, or joined it by address), and so must disconnect when done (which
    stops a Ray it started); ``address`` is the GCS address of that Ray.
    """

    started: bool
    address: str
    connected: bool = False

    def resources(self) -> dict:
        """Schedulable resources of the whole cluster (see :func:`cluster_resources`)."""
        return cluster_resources()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Raise ConnectionError unless something listens at ``host:port`` (or ``ray://host:port``).

    Ray itself keeps retrying an address where nothing listens for minutes; this check
    makes a typo in ``--address`` fail in seconds. ``"auto"`` (found by Ray) is not checked.
    """
    host_port = address.removeprefix("ray://")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ConnectionError(f"nothing answers at {host_port} ({error.strerror or error})") from None


def _child_pids() -> set[int]:
    """Process ids of every descendant of this process."""
    import psutil  # a Ray dependency (Ray ships its own copy and puts it on sys.path)

    return {child.pid for child in psutil.Process().children(recursive=True)}


def _stop_new_children(before: set[int], grace_s: float = 5.0) -> None:
    """End the processes a failed ``ray.init`` started (GCS, raylet, ...) and left behind.

    When the start fails half-way, ``ray.shutdown()`` does not know these processes, and
    each retry would otherwise leave another set running on an already busy machine.
    Only descendants of this process that did not exist before the attempt are ended.
    """
    import psutil

    leftovers = []
    for pid in _child_pids() - before:
        try:
            process = psutil.Process(pid)
            process.terminate()
            leftovers.append(process)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(leftovers, timeout=grace_s)
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def _check_object_store_fits(object_store_memory: int | None) -> None:
    """Raise RayStartError when the object store could not be created under RLIMIT_FSIZE.

    An embedded Ray keeps its object store as one file in /dev/shm, as large as the store.
    A process with a file-size limit (a grading kernel has one) passes that limit to the
    raylet, which then dies creating the file, and Ray only reports, 30 s later, that the
    node "timed out during startup". This check says so before anything starts.
    """
    import resource

    limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if limit == resource.RLIM_INFINITY:
        return
    mib = 2**20
    if object_store_memory is None:
        raise RayStartError(
            f"this process may write files of at most {limit // mib} MiB (RLIMIT_FSIZE), and Ray's "
            f"default object store is larger: pass object_store_memory= below {limit // mib} MiB "
            f"(Ray's minimum is 75 MiB), or raise the limit (max_file_mb in assignment.yaml when grading)")
    if object_store_memory > limit:
        raise RayStartError(
            f"the object store ({object_store_memory // mib} MiB, one file in /dev/shm) is larger than "
            f"the largest file this process may write ({limit // mib} MiB, RLIMIT_FSIZE): lower "
            f"object_store_memory, or raise the limit (max_file_mb in assignment.yaml when grading)")


def _token_refused(error: BaseException) -> bool:
    """The join failed because the cluster asks for a Ray token this process did not send."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if "AuthenticationError" in type(error).__name__ or "InvalidAuthToken" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def use_machine_token() -> bool:
    """Send this machine's Ray token from now on; True if that changed anything.

    Since Ray 2.59, ``ray start --head`` turns token authentication on whenever the
    machine has a token (``~/.ray/auth_token``, which any ``ray.init()`` writes), but
    ``ray.init(address=...)`` never sends it, so a later process joining that head is
    refused ("Authentication token is missing"; raised in the review of
    ray-project/ray#64755). ``ray_session`` turns it on only then (a refused join costs
    ~20 s of Ray's retries), because a driver that sends a token to a cluster *without*
    authentication is itself unreachable to that cluster's workers; the course's own Ray,
    started with authentication, turns it on up front. Ray's own function does the work
    (it sets ``RAY_AUTH_MODE=token`` in this process, as Ray does when it starts a
    cluster). ``RAY_AUTH_MODE``, when set, decides alone.
    """
    if os.environ.get("RAY_AUTH_MODE") is not None:
        return False
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available)
    except ImportError:   # a Ray from before token authentication
        return False
    return maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def _connect(address: str | None, num_cpus: int | None, num_gpus: int | None,
             object_store_memory: int | None, quiet: bool, attempts: int, what: str) -> RaySession:
    """Join or start Ray; the one place that decides whether this process started it."""
    if ray.is_initialized():  # someone in this process already did: join, never stop it
        return RaySession(started=False, address=ray.get_runtime_context().gcs_address)
    if not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"{what}: attempts must be an integer >= 1, got {attempts!r}")
    # Keep worker processes from each grabbing every core for intra-op threads.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    options = dict(log_to_driver=False, logging_level=logging.WARNING) if quiet else {}
    if address is None:
        # "local": a new instance even when `ray start` left a cluster running on this
        # machine (plain ray.init() would silently join that one instead). The node IP
        # keeps the session on the loopback: Ray replaces 127.0.0.1 and localhost with
        # the machine's outward address, but keeps any other 127.x address as given.
        options.update(address="local", num_cpus=num_cpus, num_gpus=num_gpus,
                       object_store_memory=object_store_memory, include_dashboard=False,
                       _node_ip_address=EMBEDDED_NODE_IP, _system_config=_EMBEDDED_SYSTEM_CONFIG)
        _check_object_store_fits(object_store_memory)
        advice = "pass --address of a running Ray, or fewer workers"
        doing = "start a local Ray"
    else:
        # A cluster's resources are fixed by its nodes: num_cpus etc. do not apply.
        options.update(address=address)
        advice = "check that Ray runs there (`ray status`), or leave --address out to start a local one"
        doing = f"join the Ray at {address!r}"
    attempt = 0
    while attempt < attempts:
        attempt += 1
        before = _child_pids()
        try:
            if address is not None:
                _check_reachable(address)
            ray.init(**options)
            return RaySession(started=address is None, address=ray.get_runtime_context().gcs_address,
                              connected=True)
        except Exception as error:  # noqa: BLE001 - any failure to start is retried, then reported
            last = error
            ray.shutdown()  # a half-started Ray would make the next ray.init fail at once
            _stop_new_children(before)
            if address is not None and _token_refused(error) and use_machine_token():
                # the cluster wants the machine's token: join again at once, with it (this
                # happens once: use_machine_token is True only while RAY_AUTH_MODE is unset)
                attempt -= 1
                continue
            if attempt < attempts:
                time.sleep(_RETRY_PAUSE_S * attempt)
    raise RayStartError(f"{what}: could not {doing} in {attempts} attempt(s) "
                        f"({_first_line(last)}); {advice}") from last


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None,
                num_gpus: int | None = None, object_store_memory: int | None = None,
                attempts: int = 3, what: str = "gradkit", quiet: bool = False) -> Iterator[RaySession]:
    """``with ray_session() as session:`` runs the block connected to Ray.

    ``address=None`` starts an embedded single-node Ray (dashboard off, node IP
    127.0.0.2 on the loopback, start-up limits for slow machines) sized by ``num_cpus``, ``num_gpus``
    and ``object_store_memory`` (bytes); an address (``"host:6379"``, ``"ray://host:10001"``,
    or ``"auto"``) joins that Ray. A failed start is retried ``attempts`` times in all,
    then :class:`RayStartError` says what to try; ``what`` names the caller in it. If Ray
    is already initialised in this process the block joins it. On leaving, a Ray this
    call started is shut down and one it joined by address is disconnected from (never
    stopped). ``quiet=True`` keeps the workers' prints and
    Ray's info lines off this terminal.
    """
    session = _connect(address, num_cpus, num_gpus, object_store_memory, quiet, attempts, what)
    try:
        yield session
    finally:
        if session.connected and ray.is_initialized():
            ray.shutdown()


def ensure_ray(address: str | None = None, num_cpus: int | None = None,
               num_gpus: int | None = None, quiet: bool = False) -> dict:
    """Join or start Ray once, leave it running, and return the cluster's resources.

    The same start as :func:`ray_session` (same arguments, same retries and
    :class:`RayStartError`), for code that keeps Ray up between calls; stop it with
    :func:`shutdown_ray`. If Ray is already initialised in this process it is reused as it is.
    """
    global _started_here
    session = _connect(address, num_cpus, num_gpus, None, quiet, attempts=3,
                       what="ensure_ray")
    _started_here = _started_here or session.started
    return session.resources()


def shutdown_ray() -> None:
    """Stop Ray if (and only if) :func:`ensure_ray` started it in this process."""
    global _started_here
    if _started_here and ray.is_initialized():
        ray.shutdown()
    _started_here = False


def cluster_resources() -> dict:
    """Schedulable resources of the whole cluster (CPU, GPU, custom), bookkeeping dropped."""
    return {name: amount for name, amount in ray.cluster_resources().items()
            if not name.startswith(_BOOKKEEPING_PREFIXES)}


def _fmt(resources: Mapping[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(resources.items())) + "}"


def check_resources(what: str, per_actor: Mapping[str, float], count: int,
                    extra: Mapping[str, float] | None = None) -> None:
    """Raise :class:`InsufficientResourcesError` if ``count`` actors of ``per_actor`` cannot fit.

    The check is against the cluster's totals and against the largest single node,
    because one actor must fit on one node (a 4-CPU cluster of two 2-CPU nodes cannot host
    a 3-CPU actor). ``extra`` is a one-off request added on top (a server, a trainer).
    """
    asked: dict[str, float] = {}
    for name, amount in per_actor.items():
        if amount:
            asked[name] = asked.get(name, 0.0) + amount * count
    for name, amount in (extra or {}).items():
        if amount:
            asked[name] = asked.get(name, 0.0) + amount
    present = cluster_resources()
    short = {name: amount for name, amount in asked.items() if present.get(name, 0.0) + 1e-9 < amount}
    if short:
        raise InsufficientResourcesError(
            f"{what}: asked for {count} x {_fmt(per_actor)}"
            + (f" + {_fmt(extra)}" if extra else "")
            + f" = {_fmt(asked)}, but the Ray cluster has {_fmt(present)} "
            f"(short of {', '.join(sorted(short))}). Use fewer workers, fractional GPUs, "
            "or a bigger cluster.")
    largest_node = _largest_node_resources()
    too_big = {name: amount for name, amount in per_actor.items()
               if amount and largest_node.get(name, 0.0) + 1e-9 < amount}
    if too_big:
        raise InsufficientResourcesError(
            f"{what}: one actor asks for {_fmt(per_actor)} but the largest node has "
            f"{_fmt(largest_node)}; an actor must fit on a single node.")


def _largest_node_resources() -> dict:
    """Per resource, the most that any single alive node offers."""
    best: dict[str, float] = {}
    for node in ray.nodes():
        if not node.get("Alive", False):
            continue
        for name, amount in node.get("Resources", {}).items():
            if not name.startswith(_BOOKKEEPING_PREFIXES):
                best[name] = max(best.get(name, 0.0), amount)
    return best


def wait_until_ready(actors: Iterable, what: str, timeout_s: float = 60.0) -> None:
    """Block until every actor answers ``ready()``; raise instead of hanging forever.

    Each actor class in this package has a trivial ``ready`` method. A timeout here almost
    always means the cluster has the resources in total but they are taken (another job,
    another test) so Ray keeps the actors pending.
    """
    actors = list(actors)
    try:
        ray.get([actor.ready.remote() for actor in actors], timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        raise InsufficientResourcesError(
            f"{what}: {len(actors)} actor(s) were not placed within {timeout_s:g} s. "
            f"Cluster total {_fmt(cluster_resources())}, free now "
            f"{_fmt({k: v for k, v in ray.available_resources().items() if not k.startswith(_BOOKKEEPING_PREFIXES)})}. "
            "Another job may hold the resources.") from None
