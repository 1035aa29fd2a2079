"""Stop the Ray node(s) you started, and nobody else's: every process of one --temp-dir.

    python cluster/labs/stop_cluster.py --temp-dir /tmp/ray-$USER            # stop them
    python cluster/labs/stop_cluster.py --temp-dir /tmp/ray-$USER --list     # only show them
    python cluster/labs/stop_cluster.py --temp-dir /tmp/ray-$USER-head --temp-dir /tmp/ray-$USER-w1

``ray stop`` stops *every* Ray process of your user on the machine: on a shared lab
machine (or a laptop that also runs an embedded Ray in a notebook) that includes other
people's clusters. Start each node with its own ``ray start ... --temp-dir DIR`` and stop
it with this script instead (Linux: it reads ``/proc``).

A process belongs to the node of ``DIR`` when its command line names ``DIR`` or one of its
open files lies inside ``DIR`` (every Ray process writes its logs there, including the
ones that rename themselves, such as ``ray::DashboardAgent``), and so does everything such
a process started (the worker processes, a grading kernel). This script and the shell
that runs it are never stopped. Like ``ray stop``, it stops the raylet first (its workers
follow it), then the other processes, the GCS last; each group gets ``SIGTERM`` and, after
``--grace-s`` seconds, ``SIGKILL``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    from gradkit.runtime.local_nodes import _name, processes_of, stop_processes
except ImportError:   # run from a checkout without installing the kit
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lib"))
    from gradkit.runtime.local_nodes import _name, processes_of, stop_processes

__all__ = ["processes_of", "stop_processes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temp-dir", action="append", required=True,
                        help="the --temp-dir of a `ray start` (repeatable: one per node)")
    parser.add_argument("--list", action="store_true", help="show the processes, stop nothing")
    parser.add_argument("--grace-s", type=float, default=5.0,
                        help="seconds between SIGTERM and SIGKILL for each group")
    args = parser.parse_args()
    try:
        pids = sorted({pid for directory in args.temp_dir for pid in processes_of(directory)})
    except ValueError as err:
        parser.error(str(err))
    if not pids:
        print(f"no running process belongs to {', '.join(args.temp_dir)}")
        return
    names = {pid: _name(pid) or "?" for pid in pids}
    if args.list:
        for pid in pids:
            print(f"{pid:>8}  {names[pid]}")
        return
    for pid, how in stop_processes(pids, args.grace_s).items():
        print(f"stopped {pid:>8} ({how})  {names[pid]}")
    left = [pid for directory in args.temp_dir for pid in processes_of(directory)]
    if left:
        raise SystemExit(f"still running: {left}")


if __name__ == "__main__":
    main()
