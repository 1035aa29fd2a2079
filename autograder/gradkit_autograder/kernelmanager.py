"""A Jupyter kernel manager that starts each student kernel under limits.

nbclient (inside nbgrader's ``Execute``) asks this manager for kernels. Compared
with jupyter_client's ``AsyncKernelManager`` it changes only how the process is
launched:

- the command is prefixed with ``python -m gradkit_autograder.kernel_launch``,
  which sets the memory and file-size limits and, when asked, hides folders in a
  private mount namespace and switches to an unprivileged uid before ``exec``-ing
  the kernel;
- the kernel gets a minimal environment (no Ray, cloud or grader variables;
  ``HOME`` in its scratch area; BLAS threads matching the CPUs reserved on Ray);
- when the kernel runs as another uid, its connection file is handed to that uid
  (jupyter_client writes it readable by the grader only).
"""

from __future__ import annotations

import os
import sys
import uuid

from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer, List, Unicode

# Variables a kernel may keep from the grader's environment; everything else
# (RAY_*, credentials, JUPYTER_* paths of the grader) is dropped.
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT", "CUDA_VISIBLE_DEVICES")


class LimitedKernelManager(AsyncKernelManager):
    """Starts kernels through ``gradkit_autograder.kernel_launch`` with limits."""

    memory_mb = Integer(0, help="address-space cap of the kernel in MiB (0: none)").tag(config=True)
    file_mb = Integer(0, help="largest file the kernel may write, MiB (0: none)").tag(config=True)
    uid = Integer(-1, help="run the kernel as this uid (needs root; -1: grader's uid)").tag(config=True)
    threads = Integer(1, help="BLAS/OpenMP threads of the kernel").tag(config=True)
    home = Unicode("", help="HOME (and IPython dir) of the kernel; default: its cwd").tag(config=True)
    hide = List(Unicode(), help="folders the kernel must not see (root only)").tag(config=True)
    expose = List(Unicode(), help="folders inside hidden ones the kernel needs").tag(config=True)
    expose_rw = List(Unicode(), help="folders inside hidden ones the kernel may write").tag(config=True)
    runtime_dir = Unicode("", help="folder for the connection file (default: a temp file)").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.runtime_dir and not self.connection_file:
            # jupyter_client would use a file in the system temp folder, which a
            # hidden /tmp makes unreachable for the kernel
            self.connection_file = os.path.join(self.runtime_dir, f"kernel-{uuid.uuid4().hex}.json")

    def kernel_environment(self, cwd: str | None) -> dict[str, str]:
        env = {k: os.environ[k] for k in KEPT_ENV if k in os.environ}
        home = self.home or cwd or os.getcwd()
        threads = str(max(1, self.threads))
        env.update({
            "HOME": home,
            "IPYTHONDIR": os.path.join(home, ".ipython"),
            "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
            "MPLBACKEND": "Agg",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
            # nbgrader's own marker, so notebooks can tell they are being autograded
            "NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION", "autograde"),
        })
        return env

    def launcher_prefix(self) -> list[str]:
        prefix = [sys.executable, "-m", "gradkit_autograder.kernel_launch",
                  "--memory-mb", str(self.memory_mb), "--file-mb", str(self.file_mb)]
        if self.uid >= 0:
            prefix += ["--uid", str(self.uid), "--gid", str(self.uid)]
        if self.hide:
            prefix += [f"--hide={p}" for p in self.hide] + [f"--expose={p}" for p in self.expose]
            prefix += [f"--expose-rw={p}" for p in self.expose_rw]
        return prefix + ["--"]

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if self.uid >= 0:
            os.chown(self.connection_file, self.uid, self.uid)
        kw["env"] = self.kernel_environment(kw.get("cwd"))
        await super()._async_launch_kernel(self.launcher_prefix() + list(kernel_cmd), **kw)
