"""Turning Ray's failure modes into messages that say which worker or stage broke.

Ray reports a dead actor as ``RayActorError`` and a raising task as ``RayTaskError``,
often on a *different* call than the one that broke (a ring step fails because its
neighbour died; a gloo all-reduce raises "connection reset" because its peer died). :func:`wait_for` waits on a group's calls and, when something fails,
asks every actor of the group whether it is still alive, so that the error names the
dead rank or stage, and never waits forever (``timeout_s``). :func:`names_failure` is
the other half, inside the actors: a method that raises says which rank or stage it was.
"""

from __future__ import annotations

import functools
import time
from typing import Callable

import ray

__all__ = ["DistributedTrainingError", "ActorDiedError", "dead_members", "names_failure", "wait_for"]


class DistributedTrainingError(RuntimeError):
    """A distributed run could not continue; the message says where and what to do."""


class ActorDiedError(DistributedTrainingError):
    """A worker or stage process died (exited, was killed, or its node was lost)."""


def names_failure(error_type: type[Exception], role: str, index_attribute: str) -> Callable:
    """Decorator for actor methods: any exception becomes ``error_type`` naming the actor.

    The message reads ``"<role> <index> failed in <method>: <error type>: <error>"``, the
    index being the actor's attribute ``index_attribute`` (``"rank"`` of a worker,
    ``"index"`` of a pipeline stage); the original error is kept as ``__cause__``. An
    ``error_type`` raised inside (already named) passes unchanged.
    """
    def decorate(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except error_type:
                raise
            except Exception as error:
                raise error_type(f"{role} {getattr(self, index_attribute)} failed in "
                                 f"{method.__name__}: {type(error).__name__}: {error}") from error
        return wrapper
    return decorate


def dead_members(actors: list, probe_timeout_s: float = 1.0) -> list[int]:
    """Positions of the actors in ``actors`` whose process is gone.

    All actors are probed at once. A dead actor answers its probe with an error at once;
    a live one that is busy (blocked in a long call) simply does not answer within the
    probe time and is *not* counted as dead.
    """
    probes = [actor.ready.remote() for actor in actors]
    ray.wait(probes, num_returns=len(probes), timeout=probe_timeout_s)
    dead = []
    for position, probe in enumerate(probes):
        try:
            ray.get(probe, timeout=0)
        except ray.exceptions.RayActorError:
            dead.append(position)
        except ray.exceptions.GetTimeoutError:
            pass  # alive but busy
    return dead


def wait_for(refs: list, actors: list, role: str, what: str, timeout_s: float | None,
             recovery: str = ""):
    """``ray.get(refs)`` that names dead ``actors`` (as ``role`` 0, 1, ...) and never hangs.

    ``what`` says what was being waited for (``"epoch 2 of strategy 'ring'"``);
    ``recovery`` is appended to a died-actor message to say how to recover.
    """
    try:
        _wait_failing_fast(refs, timeout_s)
        return ray.get(refs)
    except ray.exceptions.GetTimeoutError:
        raise DistributedTrainingError(
            f"{what}: no result after {timeout_s:g} s; a {role} may be stuck or waiting for "
            "resources (see `ray status`)") from None
    except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError,
            ray.exceptions.RayTaskError) as error:
        # A process may be gone, and not necessarily the one whose call failed: a live
        # peer blocked in a collective with a dead one fails too ("connection reset by
        # peer"). The dead one is the cause, so find out whether any is dead, and name it.
        dead = dead_members(actors)
        if dead:
            names = ", ".join(f"{role} {position}" for position in dead)
            raise ActorDiedError(
                f"{what}: {names} died (its process exited or was killed). {recovery}".rstrip()
            ) from error
        raise


def _wait_failing_fast(refs: list, timeout_s: float | None, poll_s: float = 0.5) -> None:
    """Wait for all ``refs`` but raise soon after *any* of them fails.

    A plain ``ray.get(refs)`` would first wait for every ref, and some never finish once
    a peer has died (a worker blocked on a dead neighbour's message). So we wait for all
    of them at most ``poll_s`` at a time and look at the finished ones in between.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    pending = list(refs)
    while pending:
        remaining = poll_s if deadline is None else min(poll_s, deadline - time.monotonic())
        if remaining <= 0:
            raise ray.exceptions.GetTimeoutError()
        done, pending = ray.wait(pending, num_returns=len(pending), timeout=remaining)
        ray.get(done)  # raises the first finished ref's error, if any
