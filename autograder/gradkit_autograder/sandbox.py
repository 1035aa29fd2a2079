"""How a grading worker isolates student kernels, decided once per worker and setup.

``decide_isolation`` picks the strongest mode that works on this machine, by
starting a throw-away interpreter the way kernels will be started:

``namespace`` (grader runs as root, mount namespaces allowed)
    Each kernel runs as its own unprivileged uid (derived from the worker's pid,
    so kernels running at the same time never share one), without supplementary
    groups, in a private mount namespace where the course directory, the source
    assignments (and the git repository holding them), ``/root``, ``/home`` and
    ``/tmp`` are empty; only the Python installation and the kit's packages are
    bound back, read-only. Its scratch folder is the only place it can write besides
    ``/dev/shm``; ``/tmp`` is a private empty tmpfs. It cannot read the hidden
    tests or the gradebook, cannot touch another student's files or the grader's,
    cannot signal the grader or another kernel.

``uid`` (root, but no mount namespaces, and Python is world-readable)
    As above without the private mounts: files readable by everyone (for example
    a world-readable course folder) stay readable. Keep the course 0700.

``rlimits`` (not root, or nothing else works)
    The kernel runs as the grader's user with the memory/file limits, a minimal
    environment and its scratch folder as working directory. It can read and
    write whatever the grader's user can: use it for trusted classes and
    development machines only.

In every mode the trusted channel decides hidden checks outside the kernel.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

UID_BASE = 20000
UID_SPAN = 40000


@dataclass(frozen=True)
class Isolation:
    """What the kernel manager needs to start kernels in the chosen mode."""

    mode: str                                   # namespace | uid | rlimits
    uid: int = -1
    hide: tuple[str, ...] = ()
    expose: tuple[str, ...] = ()
    why: str = ""

    def describe(self) -> str:
        return f"{self.mode}: {self.why}"


@dataclass(frozen=True)
class Secrets:
    """Folders a kernel must not see, and the folders it needs inside them."""

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
    """Hide the course, the sources, their repository and home folders; expose what kernels import."""
    import gradkit_autograder

    import tempfile

    hide = {course_root, source_base, "/root", "/home", tempfile.gettempdir()}
    for path in (course_root, source_base):
        top = git_toplevel(path)
        if top and top != "/":
            hide.add(top)
    expose = {sys.prefix, sys.base_prefix, str(Path(gradkit_autograder.__file__).parent)}
    try:
        import gradkit

        expose.add(str(Path(gradkit.__file__).parent))
    except ImportError:
        pass
    return Secrets(tuple(sorted(hide)), tuple(sorted(expose)))


def launcher_args(isolation: Isolation) -> list[str]:
    args = []
    if isolation.uid >= 0:
        args += ["--uid", str(isolation.uid), "--gid", str(isolation.uid)]
    args += [f"--hide={p}" for p in isolation.hide] + [f"--expose={p}" for p in isolation.expose]
    return args


@functools.lru_cache(maxsize=None)
def _probe(isolation: Isolation) -> str:
    """'' if a kernel-like interpreter starts under ``isolation``; else the reason it did not."""
    cmd = [sys.executable, "-m", "gradkit_autograder.kernel_launch", *launcher_args(isolation),
           "--", sys.executable, "-c", "import ipykernel, numpy, gradkit_autograder.channel"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/")
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"]
        return lines[-1]
    return ""


def decide_isolation(requested: str, secrets: Secrets) -> Isolation:
    """The strongest isolation this worker can give kernels (see the module docstring)."""
    if requested == "off":
        return Isolation("rlimits", why="sandbox: off in assignment.yaml")
    if os.geteuid() != 0:
        return Isolation("rlimits", why="grader is not root: kernels run as the grader's user "
                                        "and can read what it can")
    uid = kernel_uid_for()
    strong = Isolation("namespace", uid, secrets.hide, secrets.expose,
                       f"uid {uid}, private mounts hide {len(secrets.hide)} folders")
    why_not = _probe(strong)
    if not why_not:
        return strong
    plain = Isolation("uid", uid, why=f"uid {uid}; no private mounts ({why_not})")
    why_not_uid = _probe(plain)
    if not why_not_uid:
        return plain
    return Isolation("rlimits", why=f"uid {uid} cannot start {sys.executable} ({why_not_uid})")


def hand_over(path: str, uid: int) -> None:
    """Give a scratch folder (and everything in it) to the kernel's uid, private to it."""
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, uid, uid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, uid)
    os.chmod(path, 0o700)


def make_scratch(src_dir: str, dest: str, uid: int = -1) -> str:
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
