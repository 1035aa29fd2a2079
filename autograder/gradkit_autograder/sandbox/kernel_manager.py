"""A Jupyter kernel manager that starts each student kernel under limits.

nbclient (inside nbgrader's ``Execute``) asks this manager for kernels. Compared
with jupyter_client's ``AsyncKernelManager`` it changes only how the process is
launched and how it ends:

- the command is prefixed with the launch line of the worker's isolation mode
  (``sandbox.isolation.launch_prefix``: limits, a cgroup for the whole process tree,
  bubblewrap or private mounts, an unprivileged uid);
- the kernel gets a minimal environment (no Ray, cloud or grader variables;
  ``HOME`` in its working folder; BLAS threads matching the CPUs reserved on Ray;
  the library view first on ``PYTHONPATH``; this grading run's seed);
- under bubblewrap a cell is interrupted by a message on the control channel
  (bubblewrap itself would end on SIGINT and take the kernel with it);
- the kernel's channels are ZeroMQ IPC sockets in a folder of its own (``socket_dir``),
  not TCP ports: in its own network namespace a kernel has no port the grader could
  reach, and no kernel can find or reach another's channels (IOPub needs no key);
- when the kernel runs as another uid, its connection file and socket folder are handed to that uid;
- the kernel process's own stdout and stderr go to a log file beside the connection
  file (``kernel_log_path``), not to the grader's terminal;
- when the kernel is shut down, every process left in its cgroup is killed and
  the cgroup removed;
- the kernel's matplotlib folder starts with this environment's font list
  (``matplotlib_font_list``): a kernel in a new folder would otherwise scan every font
  of the machine again when it imports pyplot (0.15 s a kernel, measured);
- two fixed waits of jupyter_client are shortened (``ReadyKernelClient`` and
  ``exit_poll_s``): a grading worker that sleeps leaves its core idle, and a class
  pays each wait once per submission (kernel start and stop measured 0.83 s a task
  before, 0.56 s after: about 40 s of a 300-submission run on 2 workers).
"""

from __future__ import annotations

import functools
import os
import shutil
import time
import uuid
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Dict, Float, Integer, Type, Unicode

from gradkit_autograder.kernel.channel import SEED_VARIABLE
from gradkit_autograder.sandbox.isolation import Isolation, launch_prefix, library_path

# Variables a kernel may keep from the grader's environment; everything else
# (RAY_*, credentials, JUPYTER_* paths of the grader) is dropped.
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT", "CUDA_VISIBLE_DEVICES")


@functools.lru_cache(maxsize=None)
def matplotlib_font_list() -> str:
    """This environment's matplotlib font list, made once per process ('' without matplotlib).

    A kernel sees the same fonts (the Python installation and ``/usr`` are bound into
    every sandbox), so a copy of the list in its own matplotlib folder is the list it
    would have built itself. Each kernel gets a copy, never a shared file.
    """
    try:
        from matplotlib import font_manager, get_cachedir
    except ImportError:
        return ""
    path = os.path.join(get_cachedir(), f"fontlist-v{font_manager.FontManager.__version__}.json")
    return path if os.path.isfile(path) else ""


class ReadyKernelClient(AsyncKernelClient):
    """jupyter_client's async client with a ``wait_for_ready`` that does not idle at the end.

    The handshake is jupyter_client's: ask ``kernel_info`` until the reply comes on the
    shell channel *and* a message shows that IOPub is connected too (a kernel's first
    status messages can be lost while the subscription travels). jupyter_client then
    reads IOPub until it has been silent for 0.2 s, a fixed 0.2 s on every kernel start;
    here the messages already queued are dropped without waiting. A late one does no
    harm: nbclient ignores IOPub messages that do not answer the cell it is running.
    """

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                try:
                    await self.iopub_channel.get_msg(timeout=0.2)   # IOPub is connected
                except Empty:
                    pass   # not yet: ask again
                else:
                    self._handle_kernel_info_reply(reply)
                    break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
        while await self.iopub_channel.msg_ready():   # drop the start-up status messages
            await self.iopub_channel.get_msg(timeout=0)


class LimitedKernelManager(AsyncKernelManager):
    """Starts kernels under the worker's isolation, with limits, and cleans up after them."""

    isolation = Dict(help="sandbox.isolation.Isolation as a dict (mode, uid, library view, ...)").tag(config=True)
    memory_mb = Integer(0, help="memory cap of the kernel in MiB (0: none)").tag(config=True)
    pids_max = Integer(0, help="processes the kernel's tree may have at once (0: no cap)").tag(config=True)
    file_mb = Integer(0, help="largest file the kernel may write, MiB (0: none)").tag(config=True)
    threads = Integer(1, help="BLAS/OpenMP threads of the kernel").tag(config=True)
    seed = Integer(0, help="this grading run's seed, handed to hidden tests").tag(config=True)
    home = Unicode("", help="HOME (and IPython dir) of the kernel; default: its cwd").tag(config=True)
    runtime_dir = Unicode("", help="folder for the connection file (default: a temp file)").tag(config=True)
    exit_poll_s = Float(0.01, help="seconds between checks that a killed kernel has exited "
                                   "(jupyter_client checks every 0.1 s)").tag(config=True)
    client_class = DottedObjectName("gradkit_autograder.sandbox.kernel_manager.ReadyKernelClient")
    client_factory = Type(ReadyKernelClient, klass=AsyncKernelClient)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._cgroup = None
        self.tree_stats: dict[str, float] = {}
        if self.runtime_dir and not self.connection_file:
            # jupyter_client would use a file in the system temp folder, which a
            # sandboxed kernel cannot see; the name stays short, as a socket path must
            self.connection_file = os.path.join(self.runtime_dir, f"kernel-{uuid.uuid4().hex[:12]}.json")
            self.transport = "ipc"
            self.ip = os.path.join(self.socket_dir, "k")   # the sockets are k-1 ... k-5

    @property
    def socket_dir(self) -> str:
        """The folder of the kernel's IPC sockets: its own, the only one it writes besides its working folder."""
        return os.path.splitext(self.connection_file)[0]

    @property
    def sandbox(self) -> Isolation:
        data = dict(self.isolation or {"mode": "rlimits"})
        for key in ("hide", "expose"):
            data[key] = tuple(data.get(key, ()))
        return Isolation(**data)

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None and self.sandbox.mode == "bwrap":
            spec.interrupt_mode = "message"
        return spec

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
            SEED_VARIABLE: str(self.seed),
            # nbgrader's own marker, so notebooks can tell they are being autograded
            "NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION", "autograde"),
        })
        path = library_path(self.sandbox)
        if path:
            env["PYTHONPATH"] = path
        return env

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        sandbox = self.sandbox
        sockets = self.socket_dir if self.transport == "ipc" else ""
        if sockets:
            os.makedirs(sockets, mode=0o700, exist_ok=True)
        if sandbox.uid >= 0:
            for path in filter(None, (self.connection_file, sockets)):
                os.chown(path, sandbox.uid, sandbox.uid)
        cwd = kw.get("cwd") or os.getcwd()
        procs = []
        if sandbox.tree_limits:
            from gradkit_autograder.sandbox.cgroups import KernelCgroup

            self._cgroup = KernelCgroup(self.memory_mb, self.pids_max)
            procs = self._cgroup.create()
        kw["env"] = env = self.kernel_environment(cwd)
        self._give_font_list(env["MPLCONFIGDIR"], sandbox.uid)
        prefix = launch_prefix(sandbox, cwd=cwd, runtime_dir=os.path.dirname(self.connection_file),
                               sockets=sockets, memory_mb=self.memory_mb, file_mb=self.file_mb,
                               cgroup_procs=procs)
        # The kernel's own console output (start-up banners, Ray's warnings when a notebook
        # starts Ray) goes to a log next to the connection file, not to the grader's terminal,
        # where hundreds of kernels would bury the progress bar. What a cell prints still
        # reaches the notebook: that travels over the kernel's ZMQ channels, not these pipes.
        with open(self.kernel_log_path, "ab") as log:
            kw["stdout"] = kw["stderr"] = log
            await super()._async_launch_kernel(prefix + list(kernel_cmd), **kw)

    @staticmethod
    def _give_font_list(folder: str, uid: int) -> None:
        """Copy the font list into the kernel's (new) matplotlib folder, owned by the kernel's uid."""
        fonts = matplotlib_font_list()
        if not fonts or os.path.exists(folder):
            return
        os.makedirs(folder, mode=0o700)
        copied = shutil.copyfile(fonts, os.path.join(folder, os.path.basename(fonts)))
        if uid >= 0:
            for path in (folder, copied):
                os.chown(path, uid, uid)

    @property
    def kernel_log_path(self) -> str:
        """Where the kernel process's stdout and stderr go (next to its connection file)."""
        return os.path.splitext(self.connection_file)[0] + ".log"

    def end_process_tree(self) -> None:
        """Kill whatever the kernel left running (any session) and remove its cgroup."""
        if self._cgroup is not None:
            self.tree_stats = {"memory_limit_hits": self._cgroup.memory_limit_hits(),
                               "peak_memory_mb": self._cgroup.peak_memory_mb(),
                               "leftover_processes": self._cgroup.remove()}
            self._cgroup = None

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        # jupyter_client waits here, polling, for a killed kernel to exit; a killed
        # process exits within milliseconds, so poll at exit_poll_s instead
        await super()._async_wait(pollinterval=min(pollinterval, self.exit_poll_s))

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        self.end_process_tree()
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self.transport == "ipc":
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources   # the async manager's public name for it
