"""How a grading worker isolates student kernels, decided once per worker and setup.

``decide_isolation`` picks the strongest mode that works on this machine, by
starting a throw-away interpreter exactly the way kernels will be started:

``bwrap`` (bubblewrap is installed; the usual case on the course machines)
    Default-deny: the kernel sees only what is bound into an empty root: the
    system folders (``/usr``, ``/etc``, ...), the Python installation and its
    third-party packages (read-only), a read-only copy of the library *without
    what the assignment asks students to write* (``withheld`` in assignment.yaml:
    each withheld function or class raises, when used, an error saying so),
    the kernel's own working folder and a private ``/tmp`` and ``/dev/shm``. No
    checkout, course, sources or gradebook exists inside, whatever the course
    layout. It gets its own PID namespace (``--unshare-pid``, ``--die-with-parent``):
    every process it starts, in any session, ends with it. As root the kernel
    also runs as its own unprivileged uid.

``namespace`` (root, no bubblewrap, mount namespaces allowed)
    The hand-made fallback: a private mount namespace in which a list of
    folders (the course, the sources, the kit's checkout, ``/root``, ``/home``,
    ``/tmp``) are covered with empty tmpfs, the Python installation and the
    library view bound back read-only; an unprivileged uid.

``uid`` (root, but no mount namespaces)
    As above without the private mounts: world-readable files stay readable.

``rlimits`` (not root and no bubblewrap, or ``sandbox: off``)
    The kernel runs as the grader's user with the limits below only, on the
    host's network. For trusted classes and development machines.

In ``bwrap``, ``namespace`` and ``uid`` mode the kernel also has a network namespace
of its own (``own_network``): only a loopback of its own, so it can neither list
(``/proc/net/tcp``) nor reach the sockets of the host or of other kernels. Its Jupyter
channels are IPC sockets in a folder of its own (``sandbox.kernel_manager``), which the grader
reaches by path. Where the namespace cannot be made, a mode runs on the host's
network and its description says so.

In every mode where the grader may create cgroups (``cgroups.available()``),
memory and process count are limited for the kernel's whole process tree and
every process left in its group is killed when the notebook ends.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gradkit_autograder.sandbox import cgroups
from gradkit_autograder.sandbox.library_view import library_view

UID_BASE = 20000
UID_SPAN = 40000
LIBRARY_MOUNT = "/gradkit"          # where the library view appears inside a bwrap sandbox
# System folders a Python kernel needs, bound read-only when present.
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")


@dataclass(frozen=True)
class Isolation:
    """What the kernel manager needs to start kernels in the chosen mode."""

    mode: str                                   # bwrap | namespace | uid | rlimits
    uid: int = -1
    hide: tuple[str, ...] = ()                  # namespace mode: folders covered
    expose: tuple[str, ...] = ()                # namespace mode: folders bound back
    library_view: str = ""                      # the library without withheld modules
    tree_limits: bool = False                   # a cgroup per kernel
    why: str = ""
    own_network: bool = False                   # a network namespace with only its own loopback

    def describe(self) -> str:
        tree = "cgroup per kernel" if self.tree_limits else "per-process limits only"
        network = "own network namespace" if self.own_network else "host network"
        return f"{self.mode}: {self.why}; {network}; {tree}"


@dataclass(frozen=True)
class Secrets:
    """Folders a kernel must not see (namespace mode), and the folders it needs inside them."""

    hide: tuple[str, ...] = field(default_factory=tuple)
    expose: tuple[str, ...] = field(default_factory=tuple)


def kernel_uid_for(pid: int | None = None) -> int:
    """A uid for the kernels of one worker process: unique among live workers on a host."""
    return UID_BASE + (pid if pid is not None else os.getpid()) % UID_SPAN


def git_toplevel(path: str | Path) -> str | None:
    """The repository folder holding ``path`` (its history has the sources too)."""
    for folder in [Path(path).resolve(), *Path(path).resolve().parents]:
        if (folder / ".git").exists():
            return str(folder)
    return None


def default_secrets(course_root: str, source_base: str) -> Secrets:
    """For the fallback modes: hide the course, the sources, the kit's checkout and home folders."""
    import gradkit_autograder

    kit = str(Path(gradkit_autograder.__file__).resolve().parent)
    hide = {course_root, source_base, "/root", "/home", tempfile.gettempdir()}
    for path in (course_root, source_base, kit):
        top = git_toplevel(path)
        if top and top != "/":
            hide.add(top)
    return Secrets(tuple(sorted(hide)), tuple(sorted({sys.prefix, sys.base_prefix})))


# --- the kernel's command line ------------------------------------------------------------------

def _python_folders() -> list[str]:
    """The Python installation and the environment's packages (read-only in the sandbox)."""
    folders = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(f for f in folders if os.path.isdir(f))


def bwrap_args(isolation: Isolation, cwd: str, runtime_dir: str, sockets: str = "") -> list[str]:
    """bubblewrap's arguments: an empty root with only what a kernel needs bound into it.

    ``sockets``: the folder of the kernel's IPC channels, bound writable (the kernel creates them).
    """
    args = ["bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "grading", "--proc", "/proc",
            "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/dev/shm"]
    if isolation.own_network:
        args += ["--unshare-net"]    # bubblewrap brings up the namespace's own loopback
    if os.geteuid() != 0:
        args += ["--unshare-user"]   # an unprivileged grader: bubblewrap needs a user namespace
    binds: list[tuple[str, str, str]] = []          # (option, source, destination)
    for folder in SYSTEM_FOLDERS:
        if os.path.islink(folder):   # merged /usr: /lib -> usr/lib
            args += ["--symlink", os.readlink(folder), folder]
        else:
            binds.append(("--ro-bind-try", folder, folder))
    binds += [("--ro-bind", folder, folder) for folder in _python_folders()]
    binds += [("--dev-bind", device, device) for device in sorted(glob.glob("/dev/nvidia*"))]   # GPUs
    if isolation.library_view:
        binds.append(("--ro-bind", isolation.library_view, LIBRARY_MOUNT))
    binds += [("--ro-bind", runtime_dir, runtime_dir), ("--bind", cwd, cwd)]
    if sockets:
        binds.append(("--bind", sockets, sockets))
    # bubblewrap makes missing parent folders of a mount point private (0700), which
    # the kernel's uid could not pass: make them first, passable by everyone
    targets = {dest for _, _, dest in binds}
    parents = {str(parent) for dest in targets for parent in Path(dest).parents}
    for parent in sorted(parents - targets - {"/", "/tmp", "/dev", "/proc"}, key=lambda p: p.count("/")):
        if not any(parent.startswith(target + "/") for target in targets):
            args += ["--perms", "0755", "--dir", parent]
    for option, source, dest in binds:
        args += [option, source, dest]
    return args + ["--chdir", cwd]


def launch_prefix(isolation: Isolation, *, cwd: str, runtime_dir: str = "", sockets: str = "",
                  memory_mb: int = 0, file_mb: int = 0, cgroup_procs: list[str] = ()) -> list[str]:
    """The command line put in front of the kernel's, in every mode (the one place it is built)."""
    launcher = [sys.executable, "-m", "gradkit_autograder.kernel.launch"]
    limits = ["--memory-mb", str(memory_mb), "--file-mb", str(file_mb)]
    drop = ["--uid", str(isolation.uid), "--gid", str(isolation.uid)] if isolation.uid >= 0 else []
    outer = launcher + [f"--cgroup-procs={p}" for p in cgroup_procs]
    if isolation.mode == "bwrap":
        return (outer + limits + ["--"] + bwrap_args(isolation, cwd, runtime_dir or cwd, sockets) + ["--"]
                + launcher + drop + ["--in-pid-namespace", "--"])
    if isolation.own_network:
        limits.append("--own-network")
    hide = [f"--hide={p}" for p in isolation.hide] + [f"--expose={p}" for p in isolation.expose]
    if isolation.hide and isolation.library_view:
        hide.append(f"--expose={isolation.library_view}")
    if isolation.hide:
        hide += [f"--expose-rw={p}" for p in (cwd, runtime_dir) if p]
    return outer + limits + drop + hide + ["--"]


def library_path(isolation: Isolation) -> str:
    """PYTHONPATH entry of the library view inside the kernel ('' where there is none)."""
    if isolation.mode == "bwrap":
        return LIBRARY_MOUNT if isolation.library_view else ""
    return isolation.library_view


# --- choosing the mode ------------------------------------------------------------------------

def probe(isolation: Isolation) -> str:
    """'' if a kernel-like interpreter starts under ``isolation``; else the reason it did not."""
    workdir = tempfile.mkdtemp(prefix="gradkit-probe-")
    try:
        os.chmod(workdir, 0o755)
        if isolation.uid >= 0:
            os.chown(workdir, isolation.uid, isolation.uid)
        isolation = dataclasses.replace(isolation, library_view=library_view((), Path(workdir) / "view"))
        cmd = launch_prefix(isolation, cwd=workdir, runtime_dir=workdir) + [
            sys.executable, "-c", "import ipykernel, numpy, gradkit, gradkit_autograder.kernel.channel"]
        env = dict(os.environ, PYTHONPATH=library_path(isolation), HOME=workdir)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=workdir, env=env)
        except (OSError, subprocess.TimeoutExpired) as err:
            return str(err)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
            return lines[-1]
        return ""
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def candidates(requested: str, secrets: Secrets) -> list[Isolation]:
    """The modes to try, strongest first (see the module docstring); the last one needs nothing.

    Each mode is tried with a network namespace of its own first, then on the host's network.
    """
    tree = cgroups.available() == ""
    if requested == "off":
        return [Isolation("rlimits", tree_limits=tree, why="sandbox: off in assignment.yaml")]
    root = os.geteuid() == 0
    uid = kernel_uid_for() if root else -1
    modes = []
    if shutil.which("bwrap"):
        modes.append(Isolation("bwrap", uid, tree_limits=tree,
                               why="bubblewrap, own PID namespace, only the Python installation, the "
                                   "library view and its working folder visible" + (f", uid {uid}" if root else "")))
    if root:
        modes += [Isolation("namespace", uid, secrets.hide, secrets.expose, tree_limits=tree,
                            why=f"uid {uid}, private mounts hide {len(secrets.hide)} folders"),
                  Isolation("uid", uid, tree_limits=tree, why=f"uid {uid}; no private mounts")]
    return [dataclasses.replace(mode, own_network=own) for mode in modes for own in (True, False)] + [
        Isolation("rlimits", tree_limits=tree, why="kernels run as the grader's user and can read what it can")]


@functools.lru_cache(maxsize=None)
def decide_isolation(requested: str, secrets: Secrets) -> Isolation:
    """The strongest isolation this worker can give kernels; decided once per worker process.

    The library view is not part of it: each task makes its own (``library_view``).
    """
    *stronger, weakest = candidates(requested, secrets)
    tried = [] if shutil.which("bwrap") or requested == "off" else ["bubblewrap (bwrap) not installed"]
    for isolation in stronger:
        why_not = probe(isolation)
        if not why_not:
            return dataclasses.replace(isolation, why="; ".join([isolation.why, *tried]))
        network = "own network" if isolation.own_network else "host network"
        tried.append(f"{isolation.mode} ({network}) failed: {why_not}")
    return dataclasses.replace(weakest, why="; ".join([weakest.why, *tried]))


def hand_over(path: str, uid: int) -> None:
    """Give a kernel's working folder (and everything in it) to the kernel's uid, private to it."""
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, uid, uid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, uid)
    os.chmod(path, 0o700)


def make_workdir(src_dir: str, dest: str, uid: int = -1) -> str:
    """Copy a notebook's folder, without notebooks, to ``dest`` as the kernel's working dir.

    Notebooks are left out: the copy nbgrader prepared has the hidden tests put
    back in. Symbolic links are copied as links, never followed (the grader may
    be root; following a student's link could copy a file the student may not read).
    """
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(src_dir, dest, symlinks=True,
                    ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    if uid >= 0:
        hand_over(dest, uid)
    return dest
