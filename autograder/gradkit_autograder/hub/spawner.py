"""The hub's spawner: each person's JupyterLab as their own Unix user, with the panels of their role.

JupyterHub's ``LocalProcessSpawner`` starts the server as the user; this one adds
what a course needs:

- the role's settings: ``JUPYTER_CONFIG_PATH`` points at the folder of the user's
  role, chosen from their hub groups (staff: the course's ``formgrade-<course>`` group),
  which turns nbgrader's panels on or off and names the course and its exchange;
- the environment's ``bin/`` first on ``PATH``: nbgrader runs ``alembic`` and
  ``jupyter`` by name, and a hub started as root (or by systemd) has another PATH;
- limits for the server's whole process tree, its kernels included: a cgroup with
  ``mem_limit`` of memory and ``cpu_limit`` cores (the grader's kernels get theirs the same
  way), joined before the server drops root, emptied and removed when it stops.
"""

from __future__ import annotations

import asyncio
import os

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Dict, Int, List, Unicode

from gradkit_autograder.sandbox import cgroups

SERVER_PROCESSES = 4096


class CourseSpawner(LocalProcessSpawner):
    """A LocalProcessSpawner with per-role settings, the tools' PATH and cgroup limits."""

    role_dirs = Dict(config=True, help="role name -> its JUPYTER_CONFIG_PATH folder (student, staff)")
    staff_groups = List(Unicode(), config=True, help="hub groups whose members get the staff role")
    tool_bin = Unicode(config=True, help="the environment's bin folder, put first on PATH")
    max_processes = Int(SERVER_PROCESSES, config=True, help="processes and threads of a server's tree at once")
    cgroup_prefix = Unicode("gradkit-hub", config=True, help="names the servers' cgroups: <prefix>.<user>.<random>")

    def role(self) -> str:
        groups = {group.name for group in self.user.groups}
        return "staff" if groups & set(self.staff_groups) else "student"

    def get_env(self) -> dict:
        env = super().get_env()
        env["JUPYTER_CONFIG_PATH"] = self.role_dirs[self.role()]
        env["PATH"] = os.pathsep.join([self.tool_bin, "/usr/local/bin", "/usr/bin", "/bin"])
        return env

    def _new_cgroup(self) -> cgroups.KernelCgroup | None:
        missing = cgroups.available(cgroups.CONTROLLERS + ("cpu",))
        if missing:
            self.log.warning("%s's server runs without a cgroup (%s): no memory or CPU limit", self.user.name, missing)
            return None
        return cgroups.KernelCgroup(int((self.mem_limit or 0) // 2**20), self.max_processes,
                                    name=f"{self.cgroup_prefix}.{self.user.name}.{os.urandom(4).hex()}",
                                    cpus=float(self.cpu_limit or 0))

    def make_preexec_fn(self, name):
        become_user = super().make_preexec_fn(name)
        self._cgroup = self._new_cgroup()
        procs = self._cgroup.create() if self._cgroup else []

        def join_then_become_user():
            for path in procs:   # still root here: join the groups, then drop to the user
                with open(path, "w") as fh:
                    fh.write(str(os.getpid()))
            become_user()

        return join_then_become_user

    async def stop(self, now=False):
        await super().stop(now=now)
        tree, self._cgroup = getattr(self, "_cgroup", None), None
        if tree is not None:
            await asyncio.get_running_loop().run_in_executor(None, tree.remove)
