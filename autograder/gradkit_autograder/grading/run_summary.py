"""What a ``gradkit grade`` run reports: each student's outcome, the run's summary, its error.

``GradeSummary`` collects the outcomes as the driver stores them, the isolation
mode the kernels ran in, and where the time went (the driver's phases and the
tasks' phases, ``GradingResult.timings``); ``time_line`` is the last line
``gradkit grade`` prints. ``GradeError`` is every reason a run cannot start or
go on, worded for the instructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gradkit_autograder.state.contract import GradingResult


class GradeError(RuntimeError):
    """Grading cannot start or cannot continue (message says why and what to do)."""


@dataclass
class StudentOutcome:
    student: str
    status: str                    # graded | failed | skipped
    score: float | None = None
    max_score: float | None = None
    incidents: list[dict] = field(default_factory=list)
    error: str | None = None
    node_id: str = ""              # the Ray node that ran the grading task ("" when none ran)


@dataclass
class GradeSummary:
    assignment: str
    outcomes: list[StudentOutcome] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0
    isolation: str = ""
    # wall seconds of the driver's phases: plan, store (gradebook writes) and, when
    # this run started or joined Ray itself, ray_start and ray_stop
    timings: dict[str, float] = field(default_factory=dict)
    # seconds per worker phase (GradingResult.timings), summed over the tasks that returned
    task_timings: dict[str, float] = field(default_factory=dict)
    tasks: int = 0                       # tasks that returned, the reference run included
    task_seconds: dict[str, float] = field(default_factory=dict)   # student -> wall seconds of its task
    task_nodes: dict[str, int] = field(default_factory=dict)   # Ray node id -> tasks it ran
    ray: str = ""                        # which Ray graded: embedded, the course's, or a cluster
    late_days: str = ""                  # what applying the late-day policy after the run found

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def add_task(self, result: GradingResult) -> None:
        self.tasks += 1
        self.task_seconds[result.student] = result.duration_s
        if result.node_id:
            self.task_nodes[result.node_id] = self.task_nodes.get(result.node_id, 0) + 1
        for phase, seconds in result.timings.items():
            self.task_timings[phase] = self.task_timings.get(phase, 0.0) + seconds

    def time_line(self) -> str:
        """Where the time went, in one line (printed by ``gradkit grade``)."""
        if not self.tasks:
            return ""
        t, n = self.task_timings, self.tasks
        kernel = t.get("kernel_start", 0.0) + t.get("kernel_stop", 0.0)
        nbgrader = t.get("autograde", 0.0) - kernel - t.get("execute", 0.0) - t.get("scratch", 0.0)
        setup = sum(t.get(k, 0.0) for k in ("imports", "isolation", "prepare", "collect", "scratch"))
        once = [f"{label} {self.timings[key]:.1f} s" for key, label in (
            ("ray_start", "Ray start"), ("store", "gradebook writes"), ("ray_stop", "Ray stop"))
            if key in self.timings]
        line = (f"time: {', '.join(once)}; per task ({n}): kernel start/stop {kernel / n:.2f} s, "
                f"cells {t.get('execute', 0.0) / n:.2f} s, other nbgrader steps {nbgrader / n:.2f} s, "
                f"grader set-up {setup / n:.2f} s")
        if len(self.task_nodes) > 1:
            line += "; tasks per node: " + ", ".join(
                f"{node[:8]} {count}" for node, count in sorted(self.task_nodes.items()))
        return line

    def report(self) -> str:
        """What ``gradkit grade`` prints: each student's outcome and incidents, then the run."""
        lines = []
        for o in self.outcomes:
            if o.status == "graded":
                lines.append(f"graded  {o.student:<24} {o.score:g}/{o.max_score:g}")
            elif o.status == "failed":
                lines.append(f"FAILED  {o.student:<24} {o.error}")
            for inc in o.incidents:
                where = f"{inc.get('notebook', '')}:{inc['cell']}".lstrip(":")
                lines.append(f"    ! {o.student} {where}: {inc['message']}")
        lines.append(f"{self.assignment}: {self.count('graded')} graded, {self.count('failed')} failed, "
                     f"{self.count('skipped')} unchanged (skipped) in {self.elapsed_s:.1f} s")
        lines += [f"ray: {self.ray}"] if self.ray else []
        lines += [f"kernel isolation: {self.isolation}"] if self.isolation else []
        lines += [self.time_line()] if self.tasks else []
        lines += [self.late_days] if self.late_days else []
        if self.interrupted:
            lines.append("interrupted: the results above are saved; run the same command again to resume")
        return "\n".join(lines)

