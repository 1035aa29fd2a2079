"""The one place where gradkit starts or joins Ray, and checks resources before scheduling.

Every strategy in ``gradkit.distributed`` calls :func:`ensure_ray` instead of ``ray.init``
so that the same code runs on a laptop (an embedded Ray started here) and on a cluster
(``address="ray://..."`` or ``"auto"``), chosen by an argument, never by editing code.

Ray never fails when an actor asks for more than the cluster has: it waits, forever,
for a node that could fit it. :func:`check_resources` compares the request with the
cluster's totals *before* anything is scheduled and raises a message naming both, and
:func:`wait_until_ready` is the backstop timeout for the case the check cannot see
(resources that exist but are held by someone else).
"""

from __future__ import annotations

import logging
import os
from typing import Iterable, Mapping

import ray

__all__ = [
    "InsufficientResourcesError",
    "ensure_ray",
    "shutdown_ray",
    "cluster_resources",
    "check_resources",
    "wait_until_ready",
]

# Resources that describe the cluster but are not things a worker asks for.
_BOOKKEEPING_PREFIXES = ("node:", "memory", "object_store_memory", "accelerator_type:")

# Set when ensure_ray started the embedded instance, so shutdown_ray stops only what we began.
_started_here = False


class InsufficientResourcesError(RuntimeError):
    """The cluster cannot place what was asked for; the message names both sides."""


def ensure_ray(address: str | None = None, num_cpus: int | None = None,
               num_gpus: int | None = None, quiet: bool = False) -> dict:
    """Join or start Ray once and return the cluster's resources.

    ``address=None`` starts an embedded single-node Ray with the dashboard off (it costs
    seconds and memory on a laptop). Any other address (``"auto"``, ``"ray://host:10001"``,
    ``"host:6379"``) joins an existing cluster; ``num_cpus``/``num_gpus`` are then ignored
    because a cluster's resources are fixed by its nodes.
    If Ray is already initialised in this process it is reused as it is.
    ``quiet=True`` keeps the workers' prints and Ray's info lines off this terminal (the
    grader, whose own progress bar they would break).
    """
    global _started_here
    if not ray.is_initialized():
        # Keep worker processes from each grabbing every core for intra-op threads.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        logs = dict(log_to_driver=False, logging_level=logging.WARNING) if quiet else {}
        if address is None:
            # "local": a new instance even when `ray start` left a cluster running on this
            # machine (plain ray.init() would silently join that one instead).
            ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus,
                     include_dashboard=False, **logs)
            _started_here = True
        else:
            ray.init(address=address, **logs)
    return cluster_resources()


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
