"""nbgrader's configuration for the private course in which one task autogrades.

``autograde_config`` starts from the course's own nbgrader configuration (as the
driver shipped it) and changes only what a private run needs: the course root and
a private SQLite gradebook, the standard folder names, nbgrader's ``Execute``
swapped for ``GuardedExecute`` (``grading.execute``) with the assignment's limits,
and the kernel manager's isolation, limits, seed and folders.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path

from gradkit_autograder.sandbox.isolation import Isolation
from gradkit_autograder.state.contract import GradingJob
from gradkit_autograder.state.settings import AssignmentSettings


def autograde_config(job: GradingJob, root: Path, tmp: Path, isolation: Isolation):
    """The traitlets ``Config`` for autograding ``job`` in the private course ``root``.

    ``tmp`` is the task's private workspace: the kernels' working folders go to
    ``tmp/workdir`` and their connection files to ``tmp/runtime``.
    """
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute
    from traitlets.config import Config

    from gradkit_autograder.grading.execute import GuardedExecute

    settings = AssignmentSettings.from_dict(job.settings)
    limits = settings.limits
    c = Config(copy.deepcopy(job.course_config))
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    for step in ("source", "release", "submitted", "autograded", "feedback"):
        setattr(c.CourseDirectory, f"{step}_directory", step)
    c.CourseDirectory.directory_structure = os.path.join("{nbgrader_step}", "{student_id}", "{assignment_id}")
    configured = c.Autograde.get("autograde_preprocessors")
    steps = configured if isinstance(configured, list) else (
        Autograde.class_traits()["autograde_preprocessors"].default())
    c.Autograde.autograde_preprocessors = [GuardedExecute if p in (Execute, "nbgrader.preprocessors.Execute")
                                           else p for p in steps]
    c.GuardedExecute.timeout = max(1, int(limits.cell_timeout_s))
    c.GuardedExecute.notebook_timeout = float(limits.notebook_timeout_s)
    c.GuardedExecute.max_output_bytes = int(limits.max_output_kb * 1024)
    c.GuardedExecute.workdir_root = str(tmp / "workdir")
    c.GuardedExecute.workdir_uid = isolation.uid
    c.LimitedKernelManager.isolation = dataclasses.asdict(isolation)
    c.LimitedKernelManager.memory_mb = int(limits.memory_mb)
    c.LimitedKernelManager.pids_max = int(limits.max_processes)
    c.LimitedKernelManager.file_mb = int(limits.max_file_mb)
    c.LimitedKernelManager.seed = int(job.seed)
    # kernel connection files go here, where the kernel's uid can reach them by name
    c.LimitedKernelManager.runtime_dir = str(tmp / "runtime")
    c.LimitedKernelManager.threads = max(1, int(settings.resources.num_cpus))
    c.NbGraderAPI.log_level = "WARN"
    return c
