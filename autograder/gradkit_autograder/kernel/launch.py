"""Start a Jupyter kernel under limits: ``python -m gradkit_autograder.kernel.launch``.

The grader puts this module in front of the kernel's command line. It applies
the limits to its own process and then ``exec``s the rest of the command line,
so the limits are in place before any student code runs and every process the
kernel starts inherits them. Only the standard library is used.

In the strongest mode (``bwrap``, see ``sandbox.isolation``) it runs twice::

    python -m gradkit_autograder.kernel.launch --cgroup-procs /sys/fs/cgroup/memory/.../cgroup.procs \\
        --memory-mb 2048 --file-mb 64 -- \\
      bwrap --unshare-pid --die-with-parent ... (only the bound folders exist) -- \\
        python -m gradkit_autograder.kernel.launch --uid 61234 -- \\
          python -m ipykernel_launcher -f kernel.json

- ``--cgroup-procs``: join a cgroup that the grader made for this kernel (memory
  and process-count limits for the kernel's whole process tree, not per process);
- ``RLIMIT_AS`` (``--memory-mb``): address-space cap per process, so a runaway
  allocation raises MemoryError in the kernel (the cgroup is the backstop for
  many processes together);
- ``RLIMIT_FSIZE`` (``--file-mb``): largest file the kernel may write;
- ``RLIMIT_CORE`` 0: a segfault leaves no core file in its working folder;
- ``--own-network`` (root only; the fallback modes, bubblewrap has ``--unshare-net``):
  a network namespace of its own with only its loopback up, so the kernel can
  neither list (``/proc/net/tcp``) nor reach the sockets of the host or of other kernels;
- ``--hide`` / ``--expose`` (root only; the fallback ``namespace`` mode, used
  where bubblewrap is missing): a private mount namespace in which each hidden
  folder is an empty tmpfs, except the exposed folders, bound back;
- ``--uid``/``--gid`` (root only): drop to an unprivileged identity with no
  supplementary groups, so the kernel cannot undo the mounts, read the grader's
  0700 folders, or signal the grader or another student's kernel;
- SIGINT unblocked and at its default: the grader interrupts cells with it.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import os
import resource
import signal
import socket
import struct
import sys

MIB = 1024 * 1024
CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
IFREQ = "16sH22x"    # struct ifreq: the interface name, then its flags (40 bytes in all)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT = 1, 2, 4, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18


def _cap(limit: int, megabytes: int) -> None:
    """Lower both soft and hard limit so that the kernel cannot raise it again."""
    value = megabytes * MIB
    resource.setrlimit(limit, (value, value))


class _Libc:
    """The two system calls Python 3.11 lacks: unshare(2) and mount(2)."""

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def unshare(self, flags: int, what: str) -> None:
        self._check(self.libc.unshare(flags), f"unshare({what})")

    def unshare_mounts(self) -> None:
        self.unshare(CLONE_NEWNS, "CLONE_NEWNS")
        # stop our mounts from propagating back to the grader's namespace
        self.mount(None, "/", None, MS_REC | MS_PRIVATE)

    def mount(self, source, target: str, fstype, flags: int, data: str | None = None) -> None:
        enc = lambda s: s.encode() if s else None  # noqa: E731
        self._check(self.libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                                    enc(data)), f"mount {target}")


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def hide_paths(hide: list[str], expose: list[str], expose_rw: list[str] = ()) -> None:
    """Cover each ``hide`` folder with an empty tmpfs, re-binding the exposed folders in it.

    Each exposed folder is opened (``O_PATH``) before its parent is covered and
    bound back from ``/proc/self/fd/N``, a handle that still reaches it.
    ``expose`` folders come back read-only, ``expose_rw`` ones writable.
    """
    hide = [os.path.realpath(h) for h in hide if os.path.isdir(h)]
    hide = [h for h in hide if not any(h != o and _under(h, o) for o in hide)]
    wanted = [(os.path.realpath(e), True) for e in expose] + [(os.path.realpath(e), False) for e in expose_rw]
    wanted = [(e, ro) for e, ro in sorted(set(wanted)) if os.path.isdir(e) and any(_under(e, h) for h in hide)]
    libc = _Libc()
    libc.unshare_mounts()
    handles = [(os.open(path, os.O_PATH), path, ro) for path, ro in wanted]
    for path in hide:
        libc.mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
    for fd, path, read_only in handles:
        os.makedirs(path, exist_ok=True)
        libc.mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        os.close(fd)
        if read_only:
            libc.mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def own_network() -> None:
    """Move into a new network namespace and bring its loopback up (it starts down)."""
    _Libc().unshare(CLONE_NEWNET, "CLONE_NEWNET")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _, flags = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0)))
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def join_cgroups(procs_files: list[str]) -> None:
    """Move this process into each cgroup (its ``cgroup.procs`` file); children follow it."""
    for path in procs_files:
        with open(path, "w") as procs:
            procs.write(str(os.getpid()))


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gradkit_autograder.kernel.launch")
    parser.add_argument("--cgroup-procs", action="append", default=[],
                        help="cgroup.procs file of a cgroup to join (limits for the whole tree)")
    parser.add_argument("--memory-mb", type=int, default=0, help="address-space cap per process (0: none)")
    parser.add_argument("--file-mb", type=int, default=0, help="largest writable file (0: none)")
    parser.add_argument("--uid", type=int, default=-1, help="user id to drop to (root only)")
    parser.add_argument("--gid", type=int, default=-1, help="group id to drop to (root only)")
    parser.add_argument("--own-network", action="store_true",
                        help="a network namespace of its own, only a loopback (root only)")
    parser.add_argument("--hide", action="append", default=[], help="folder to hide (root only)")
    parser.add_argument("--expose", action="append", default=[], help="folder to keep, read-only")
    parser.add_argument("--expose-rw", action="append", default=[], help="folder to keep, writable")
    parser.add_argument("--in-pid-namespace", action="store_true",
                        help="the kernel's parent is the namespace's init (pid 1): turn off "
                             "ipykernel's parent polling, which would take pid 1 for a dead parent")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- kernel command line")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no kernel command given after --")
    return args


def main(argv: list[str] | None = None) -> None:
    args = _parse(sys.argv[1:] if argv is None else argv)
    cwd = os.getcwd()
    join_cgroups(args.cgroup_procs)
    if args.own_network:
        own_network()
    if args.hide:
        hide_paths(args.hide, args.expose, args.expose_rw)
    if args.memory_mb > 0:
        _cap(resource.RLIMIT_AS, args.memory_mb)
    if args.file_mb > 0:
        _cap(resource.RLIMIT_FSIZE, args.file_mb)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args.uid >= 0:
        # Order matters: groups and gid first, uid last (after setuid we could
        # no longer change the others).
        os.setgroups([])
        os.setgid(args.gid if args.gid >= 0 else args.uid)
        os.setuid(args.uid)
    if args.in_pid_namespace:
        # The grader's pid is not visible here; the kernel ends with the namespace anyway.
        os.environ.pop("JPY_PARENT_PID", None)
    os.chdir(cwd)   # by path again: the mounts may have replaced what lay on it
    os.umask(0o077)
    # A Ray worker blocks or ignores SIGINT; both survive exec, and a kernel that
    # cannot receive SIGINT cannot be interrupted when a cell runs out of time.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execvp(args.command[0], args.command)


if __name__ == "__main__":
    main()
