"""Where a grading kernel's CPU goes: CPU-seconds of one notebook's process tree, by kind of process.

Runs an assignment's source notebook (solutions and hidden tests, as the reference run
of ``gradkit grade`` executes it: ``NBGRADER_EXECUTION`` set, so demonstration cells
are skipped) with nbclient, samples every process below this script ten times a second
(``/proc``, through psutil) and prints the CPU-seconds of each kind of process (the
kernel, each Ray actor class, task workers, each of Ray's own services) and of each
cell. On two cores with two submissions graded at once, a task's wall time is about
its CPU-seconds, so this is the budget a speed target has to fit.

The kernel is killed after its last cell, with every process it started, as the grader
does. The peer, in the same run: the same kernel running the set-up cell alone (imports
and, for a5, the notebook's own Ray): what every submission pays before its first test.
The kernel runs here as this user, outside the sandbox (the sandbox adds about 1
CPU-second a task: the grader's own work, not the kernel's).

    .venv/bin/python bench/bench_notebook_cpu.py                       # a5_distributed_ray
    .venv/bin/python bench/bench_notebook_cpu.py --assignment a4_pytorch_gans
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
# Ray's own processes, by the program each runs (the end of an argument) or the title it sets
RAY_SERVICES = {"/gcs_server": "Ray: GCS", "/raylet": "Ray: raylet", "dashboard/dashboard.py": "Ray: dashboard",
                "autoscaler/_private/monitor.py": "Ray: autoscaler monitor",
                "_private/log_monitor.py": "Ray: log monitor", "ray::DashboardAgent": "Ray: dashboard agent",
                "ray::RuntimeEnvAgent": "Ray: runtime-env agent"}


def kind_of(cmdline: str, titles: set[str]) -> str:
    """A process's kind from its first command line and the Ray titles (``ray::Name[.method]``) it had."""
    for marker, kind in RAY_SERVICES.items():
        if any(word.endswith(marker) for word in cmdline.split(" ")[:3]) or marker.removeprefix("ray::") in titles:
            return kind
    if "ipykernel_launcher" in cmdline:
        return "the kernel (for a5 also the driver of its Ray)"
    names = {title.split(".")[0] for title in titles if title != "IDLE"}
    actors = sorted(name for name in names if name.lstrip("_")[:1].isupper())   # classes; tasks are functions
    if actors:
        return f"actor {actors[0]}"
    if names:
        return "Ray task worker"
    if titles or "default_worker.py" in cmdline:
        return "Ray worker, idle (prestarted)"
    return cmdline.split(" ")[0].rsplit("/", 1)[-1] or "other"


class TreeSampler:
    """CPU-seconds of every process below this one, sampled until stopped (last value kept)."""

    def __init__(self, period_s: float = 0.1):
        self.period_s, self.cpu, self.cmd, self.titles = period_s, {}, {}, {}
        self._lock = threading.Lock()   # the notebook's hooks read the totals while this thread writes them
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for child in psutil.Process().children(recursive=True):
                try:
                    with child.oneshot():
                        times = child.cpu_times()
                        cmdline = " ".join(child.cmdline())
                except psutil.Error:
                    continue
                with self._lock:
                    self.cpu[child.pid] = times.user + times.system
                    self.cmd.setdefault(child.pid, cmdline)
                    if cmdline.startswith("ray::"):
                        self.titles.setdefault(child.pid, set()).add(cmdline[5:].strip())
            self._stop.wait(self.period_s)

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(3 * self.period_s)
        self._stop.set()
        self._thread.join()

    def total(self) -> float:
        with self._lock:
            return sum(self.cpu.values())

    def by_kind(self) -> dict[str, tuple[int, float]]:
        kinds: dict[str, tuple[int, float]] = {}
        for pid, seconds in self.cpu.items():
            kind = kind_of(self.cmd.get(pid, ""), self.titles.get(pid, set()))
            count, total = kinds.get(kind, (0, 0.0))
            kinds[kind] = (count + 1, total + seconds)
        return dict(sorted(kinds.items(), key=lambda item: -item[1][1]))


def run(notebook: Path, cells: int | None) -> tuple[TreeSampler, list[tuple[str, float, float]], float]:
    """Execute the notebook (its first ``cells`` cells only, if given); per-cell wall and CPU."""
    nb = nbformat.read(str(notebook), as_version=4)
    if cells is not None:
        nb.cells = nb.cells[:cells]
    folder = Path(tempfile.mkdtemp(prefix="notebook-cpu-"))
    for path in notebook.parent.iterdir():
        if path.is_file():
            shutil.copy(path, folder)
    per_cell, marks = [], {}
    with TreeSampler() as sampler:
        def before(cell, cell_index, **_):
            marks[cell_index] = (time.perf_counter(), sampler.total())

        def after(cell, cell_index, **_):
            wall, cpu = marks[cell_index]
            name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {cell_index}"
            per_cell.append((name, time.perf_counter() - wall, sampler.total() - cpu))

        started = time.perf_counter()
        # killed at the end, as the grader kills a kernel and its cgroup: no exit work counted
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}},
                       on_cell_execute=before, on_cell_executed=after, shutdown_kernel="immediate").execute()
        wall = time.perf_counter() - started
    for pid in sampler.cpu:   # what the killed kernel started (its Ray), gone with it as in grading
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    shutil.rmtree(folder, ignore_errors=True)
    return sampler, per_cell, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="a5_distributed_ray")
    parser.add_argument("--quick", action="store_true", help="accepted for `make bench --quick`: one run either way")
    args = parser.parse_args()
    folder = REPO / "assignments" / args.assignment
    notebook = next(folder.glob("*.ipynb"), None)
    if notebook is None:
        raise SystemExit(f"no notebook in {folder}: --assignment must name a folder of assignments/")
    os.environ["NBGRADER_EXECUTION"] = "autograde"   # as grading runs it: demonstrations skipped
    cells = nbformat.read(str(notebook), as_version=4).cells
    setup = next((i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"), 0)

    peer, _, peer_wall = run(notebook, setup + 1)
    ours, per_cell, wall = run(notebook, None)
    print(f"{args.assignment}: {wall:.1f} s wall, {ours.total():.1f} CPU-s in {len(ours.cpu)} processes "
          f"(the set-up cell alone: {peer_wall:.1f} s wall, {peer.total():.1f} CPU-s in {len(peer.cpu)} "
          f"processes; whole / set-up = {ours.total() / max(peer.total(), 1e-9):.2f}x)")
    print(f"\n{'CPU-s':>7} {'procs':>5}  kind of process (whole notebook | set-up cell alone)")
    peer_kinds = peer.by_kind()
    for kind, (count, seconds) in ours.by_kind().items():
        alone = peer_kinds.get(kind)
        print(f"{seconds:7.2f} {count:5d}  {kind}" + (f"   | {alone[1]:.2f} in {alone[0]}" if alone else ""))
    print(f"\n{'wall s':>7} {'CPU-s':>7}  cell (hidden tests included)")
    for name, seconds, cpu in per_cell:
        if cpu >= 0.2 or seconds >= 0.5:
            print(f"{seconds:7.2f} {cpu:7.2f}  {name}")


if __name__ == "__main__":
    main()
