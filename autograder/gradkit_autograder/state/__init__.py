"""What a course keeps, and the plain data the grader's processes pass each other.

- ``course``: the nbgrader course directory, its configuration and gradebook.
- ``settings``: per-assignment limits, resources, checks and sandbox mode (``assignment.yaml``).
- ``conventions``: nbgrader's markers, course id and timestamp file, read in one place.
- ``roster``: the class roster (gradebook students and ``course/roster.csv``).
- ``intake``: submissions as they come in (folders, zips, Canvas downloads).
- ``snapshot``: the released assignment as plain data, for the workers.
- ``contract``: ``GradingJob`` and ``GradingResult``, what a task is told and answers.
- ``gradebook``: writes one result into nbgrader's gradebook (the driver only).
- ``grading_ledger``: gradkit's own tables: what was graded, the reference reports.
- ``late_days``: the syllabus's late days and the one writer of late penalties.
- ``scratch_course``: a temporary copy of the course (verify, demo, tests, benchmarks).
"""
