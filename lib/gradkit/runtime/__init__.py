"""gradkit.runtime: the plumbing that runs Ray for the kit, kept apart from what the lectures teach.

- ``session``: start or join Ray (``ray_session``, ``ensure_ray``, ``shutdown_ray``)
  and check a request against the cluster's resources before scheduling it. Imports
  ray, never torch, so that the grader can start Ray without any training code.
- ``local_nodes``: ``ray start`` of one node with its own ``--temp-dir`` and stopping
  exactly that node's processes (standard library only): the course-local Ray, the
  labs' ``stop_cluster`` and the multi-node tests.

``gradkit.distributed`` uses this package; students read that one, not this.
"""

from gradkit.runtime.session import (
    InsufficientResourcesError,
    RaySession,
    RayStartError,
    check_resources,
    cluster_resources,
    ensure_ray,
    ray_session,
    shutdown_ray,
    use_machine_token,
    wait_until_ready,
)

__all__ = [
    "InsufficientResourcesError",
    "RaySession",
    "RayStartError",
    "check_resources",
    "cluster_resources",
    "ensure_ray",
    "ray_session",
    "shutdown_ray",
    "use_machine_token",
    "wait_until_ready",
]
