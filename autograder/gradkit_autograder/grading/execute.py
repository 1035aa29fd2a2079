"""nbgrader's ``Execute`` preprocessor, hardened for hostile notebooks.

``GuardedExecute`` is a drop-in replacement for ``nbgrader.preprocessors.Execute``
in nbgrader's autograde pipeline (configured by the grading worker). On an honest
notebook it behaves exactly like ``Execute``; it adds:

- a time limit per cell (``Execute.timeout``, as in nbgrader) *and* per notebook:
  once the notebook's budget is spent, the remaining code cells are not run and
  get an error output, so their grade cells score 0 while earlier ones keep theirs;
- recovery from a dead or hung kernel (``os._exit``, a segfault, a loop that
  swallows KeyboardInterrupt): the cell gets an error output, a fresh kernel is
  started and the cells that completed before are replayed silently, so the rest
  of the notebook is still graded;
- a cap on the output kept per cell (a cell printing megabytes would otherwise
  fill the grader's memory and the gradebook): the rest is dropped, while error
  outputs and trusted-channel reports are always kept because grading needs them;
- a warning is not a failure: nbgrader scores 0 a grade cell that wrote anything to
  stderr (torch warns there on ``float(loss)``), so a grade cell's stderr text is
  kept as a display output marked ``{"gradkit": {"stream": "stderr"}}``, shown to
  the student but costing nothing; only an error output (an exception) fails a cell;
- kernels started by ``LimitedKernelManager`` (memory cap, minimal environment,
  optional unprivileged uid);
- an incident list in ``nb.metadata["gradkit"]["incidents"]`` describing each of
  the above, which the grader turns into report lines;
- the seconds spent starting and stopping kernels and running cells, in
  ``nb.metadata["gradkit"]["timings"]`` (the worker moves them into its result,
  for the "where the time goes" line of ``gradkit grade`` and the benchmark).
"""

from __future__ import annotations

import json
import os
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Enum, Float, Integer, Unicode

from gradkit_autograder.kernel.channel import CHECK_MIME
from gradkit_autograder.sandbox.kernel_manager import LimitedKernelManager
from gradkit_autograder.sandbox.isolation import make_workdir

TIMEOUT_ENAME = "CellTimeoutError"   # nbgrader's Execute.error_on_timeout name
KEEP_ALWAYS = ("error",)


def incidents(nb) -> list[dict]:
    """The incident list stored in a notebook's metadata (created if absent)."""
    return nb.metadata.setdefault("gradkit", {}).setdefault("incidents", [])


def timings(nb) -> dict[str, float]:
    """Seconds per phase (kernel_start, kernel_stop, execute, scratch: the working folder) in the metadata."""
    return nb.metadata.setdefault("gradkit", {}).setdefault("timings", {})


def _cell_name(cell, index: int) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}"


def _error(ename: str, evalue: str):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _keep_stderr_as_display(cell) -> None:
    """A grade cell's stderr streams become display outputs, so nbgrader does not fail the cell."""
    if not cell.metadata.get("nbgrader", {}).get("grade"):
        return
    cell.outputs = [new_output("display_data", data={"text/plain": o.get("text", "")},
                               metadata={"gradkit": {"stream": "stderr"}})
                    if o.get("output_type") == "stream" and o.get("name") == "stderr" else o
                    for o in cell.outputs]


def _output_size(msg: dict) -> int:
    """Approximate size of one output message's payload in bytes."""
    content = msg.get("content", {})
    if "text" in content:
        return len(content["text"])
    data = content.get("data", {})
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in data.values())


class GuardedExecute(Execute):
    """nbgrader's Execute with notebook time limit, kernel recovery and output cap."""

    notebook_timeout = Float(300.0, help="seconds for the whole notebook").tag(config=True)
    max_output_bytes = Integer(256 * 1024, help="output kept per cell, bytes").tag(config=True)
    responsive_timeout = Float(5.0, help="seconds a kernel gets to answer after an interrupt").tag(config=True)
    workdir_root = Unicode("", help="if set, each kernel runs in a copy of the notebook's "
                                    "folder (notebooks left out) under this folder").tag(config=True)
    workdir_uid = Integer(-1, help="owner of the kernel's working folder: the kernel's uid").tag(config=True)
    # The kernel is thrown away with its working folder, so there is nothing to wait
    # for: killing it saves the 0.1-0.3 s of a graceful shutdown per notebook.
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate",
                           help="how kernels are stopped at the end").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", LimitedKernelManager)
        super().__init__(*args, **kwargs)
        self.timeout_func = self._cell_timeout
        self._timings: dict[str, float] = {}

    # --- time ------------------------------------------------------------------
    def _remaining(self) -> float:
        return self._deadline - time.monotonic()

    def _cell_timeout(self, cell) -> int:
        """Per-cell limit, never past the notebook's deadline (nbclient wants whole seconds)."""
        return max(1, int(min(self.timeout or 1e9, self._remaining()) + 0.999))

    # --- where the time goes ----------------------------------------------------
    def _clock(self, phase: str, since: float) -> None:
        self._timings[phase] = self._timings.get(phase, 0.0) + time.monotonic() - since

    # nbclient's setup_kernel and our _fresh_kernel call these three synchronous
    # wrappers; timing them separates kernel start-up from running the cells.
    def start_new_kernel(self, **kwargs):
        since = time.monotonic()
        try:
            return super().start_new_kernel(**kwargs)
        finally:
            self._clock("kernel_start", since)

    def start_new_kernel_client(self):
        since = time.monotonic()
        try:
            return super().start_new_kernel_client()
        except RuntimeError as error:  # "Kernel died before replying to kernel_info"
            raise RuntimeError(f"{error}\nthe kernel's own output (last lines):\n{self._kernel_log_tail()}") from error
        finally:
            self._clock("kernel_start", since)

    def _kernel_log_tail(self, chars: int = 2000) -> str:
        """The end of the kernel process's stdout/stderr log (LimitedKernelManager writes it)."""
        path = getattr(self.km, "kernel_log_path", None)
        try:
            with open(path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - chars))
                return log.read().decode(errors="replace")
        except (OSError, TypeError):
            return "(no log)"

    def _cleanup_kernel(self):
        since = time.monotonic()
        km = self.km
        try:
            return super()._cleanup_kernel()
        finally:
            self._clock("kernel_stop", since)
            left = getattr(km, "tree_stats", {}).get("leftover_processes", 0)
            if left:
                self._note("processes_ended", "-", f"{left} process(es) the notebook left running "
                                                   "were ended with its kernel")

    # --- the notebook ----------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        started = time.monotonic()
        self._timings = {}
        self._deadline = time.monotonic() + self.notebook_timeout
        self._completed: list[int] = []   # cells to replay after a kernel restart
        self._out_bytes: dict[int, int] = {}
        self._truncated: set[int] = set()
        self._budget_reported = False
        self._exit_requested = False
        self._incidents = incidents(nb)
        meta = (resources or {}).get("metadata", {})
        original_path = meta.get("path")
        if self.workdir_root and original_path:
            notebook = resources.get("nbgrader", {}).get("notebook", "notebook")
            meta["path"] = make_workdir(original_path, os.path.join(self.workdir_root, notebook),
                                        self.workdir_uid)
            self._clock("scratch", started)   # the timing phase keeps its name (bench/ reads it)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if original_path:
                meta["path"] = original_path
            spent = timings(nb)
            spent.update(self._timings)
            # what is left of the whole preprocess is sending cells and waiting for them
            spent["execute"] = time.monotonic() - started - sum(self._timings.values())

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        name = _cell_name(cell, index)
        if self._remaining() <= 0:
            cell.outputs = [_error("NotebookTimeLimit",
                                   f"not run: the notebook used its {self.notebook_timeout:g} s budget")]
            if not self._budget_reported:
                self._budget_reported = True
                self._note("notebook_time_limit", name,
                           f"notebook time limit ({self.notebook_timeout:g} s) reached; "
                           f"this and later cells not run")
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
            _keep_stderr_as_display(cell)
        except DeadKernelError:
            if self._memory_limit_hit():
                cell.outputs.append(_error("KernelDied", "the kernel ran out of memory in this cell"))
                self._note("memory_limit", name, "the kernel's processes together hit the memory "
                                                 "limit; the kernel was ended and restarted")
            else:
                cell.outputs.append(_error("KernelDied", "the kernel died while running this cell"))
                self._note("kernel_died", name, "the kernel died (crash, os._exit or memory); restarted")
            self._restart_and_replay()
            return cell, resources
        except CellTimeoutError:
            # the interrupt was sent but the kernel never went idle again
            cell.outputs.append(_error(TIMEOUT_ENAME, f"no reply within {self.timeout} s"))
            self._note("kernel_hung", name, "cell time limit reached and the kernel ignored "
                                            "the interrupt; restarted")
            self._restart_and_replay()
            return cell, resources
        if self._exit_requested:
            self._exit_requested = False
            self._note("kernel_died", name, "the cell asked the kernel to exit (exit()/quit()); "
                                            "restarted without it")
            self._restart_and_replay()
            return cell, resources
        if any(o.get("output_type") == "error" and o.get("ename") == "MemoryError" for o in cell.outputs):
            # the failed allocation's frames may keep most of the limit in use: start
            # afresh, without this cell, so that later cells get the whole limit
            self._note("memory_limit", name, "MemoryError: the kernel hit its memory limit; restarted")
            self._restart_and_replay()
            return cell, resources
        if any(o.get("output_type") == "error" and o.get("ename") == TIMEOUT_ENAME for o in cell.outputs):
            self._note("cell_time_limit", name, f"cell time limit ({self.timeout} s) reached; interrupted")
            if not self._kernel_answers():
                self._note("kernel_hung", name, "kernel ignored the interrupt; restarted")
                self._restart_and_replay()
            return cell, resources
        self._completed.append(index)
        return cell, resources

    def on_cell_executed(self, **kwargs):
        """Remember an ``exit()``: the kernel stops right after replying to the cell."""
        super().on_cell_executed(**kwargs)
        payload = kwargs["execute_reply"].get("content", {}).get("payload", [])
        if any(p.get("source") == "ask_exit" for p in payload):
            self._exit_requested = True

    def _memory_limit_hit(self) -> bool:
        """True if the kernel's cgroup hit its memory limit (the OOM killer ended a process)."""
        cgroup = getattr(self.km, "_cgroup", None)
        return bool(cgroup is not None and cgroup.memory_limit_hits())

    def _note(self, kind: str, cell: str, message: str) -> None:
        self.log.warning("%s: %s", cell, message)
        self._incidents.append({"kind": kind, "cell": cell, "message": message})

    # --- kernel recovery -----------------------------------------------------------
    async def _async_kernel_answers(self) -> bool:
        """True if the kernel replies to a kernel_info request in time."""
        try:
            msg_id = self.kc.kernel_info()
            deadline = time.monotonic() + self.responsive_timeout
            while time.monotonic() < deadline:
                msg = await ensure_async(
                    self.kc.shell_channel.get_msg(timeout=max(0.1, deadline - time.monotonic())))
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
        except Exception:  # Empty on timeout, or a dead channel: not answering either way
            return False
        return False

    _kernel_answers = run_sync(_async_kernel_answers)

    def _fresh_kernel(self) -> None:
        self._cleanup_kernel()
        self.km = self.create_kernel_manager()
        self.start_new_kernel()
        self.start_new_kernel_client()

    def _restart_and_replay(self) -> None:
        """Replace the kernel and re-run, silently, the cells that completed before.

        A replayed cell that kills the kernel again (``exit()`` ends the kernel
        only after its cell completed) is dropped from the replay list and the
        replay starts over in a fresh kernel, so it ends after at most one
        attempt per completed cell.
        """
        while True:
            self._fresh_kernel()
            culprit = None
            for index in list(self._completed):
                if self._remaining() <= 0:
                    return
                msg_id = self.kc.execute(self.nb.cells[index].source, silent=True,
                                         store_history=False, allow_stdin=False)
                try:
                    self.wait_for_reply(msg_id)
                    alive = self._kernel_answers()
                except DeadKernelError:
                    alive = False
                if not alive:
                    culprit = index
                    break
            if culprit is None:
                return
            self._completed.remove(culprit)
            self._note("kernel_died", _cell_name(self.nb.cells[culprit], culprit),
                       "this cell stops the kernel; left out when replaying earlier cells")

    # --- output cap --------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        keep = msg["msg_type"] in KEEP_ALWAYS or CHECK_MIME in msg.get("content", {}).get("data", {})
        if not keep:
            used = self._out_bytes.get(cell_index, 0) + _output_size(msg)
            self._out_bytes[cell_index] = used
            if used > self.max_output_bytes:
                if cell_index not in self._truncated:
                    self._truncated.add(cell_index)
                    # stdout, not stderr: nbgrader fails a grade cell that wrote to stderr,
                    # and a chatty but correct answer must keep its points
                    note = new_output("stream", name="stdout", text=(
                        f"\n[gradkit: output beyond {self.max_output_bytes // 1024} KiB dropped]\n"))
                    outs.append(note)
                    self._note("output_truncated", _cell_name(self.nb.cells[cell_index], cell_index),
                               f"more than {self.max_output_bytes // 1024} KiB of output; the rest dropped")
                return None
        return super().output(outs, msg, display_id, cell_index)
