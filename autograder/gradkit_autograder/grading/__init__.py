"""Running a grading batch: the plan, one Ray task per submission, the results stored.

- ``plan``: what the run's tasks share, and which submissions changed (content hashes).
- ``ray_batch``: the tasks on Ray, results stored in batches as they arrive, Ctrl-C.
- ``worker``: one task: one submission autograded by nbgrader in private.
- ``workspace``: a task's private folder and its gradebook built from the snapshot.
- ``nbgrader_setup``: nbgrader's configuration for that private course.
- ``execute``: ``GuardedExecute``, nbgrader's ``Execute`` hardened for hostile notebooks.
- ``read_back``: scores, reports, incidents and timings read back as data.
- ``storing``: the reference as the oracle; each result judged and written.
- ``run_summary``: each student's outcome, the run's summary, ``GradeError``.
- ``class_builder``: reference, blank, do-nothing and mutant submissions (verify, demo).
"""
