"""Deciding a submission's points, outside the student's kernel.

- ``screening``: before nbgrader: unreadable, renamed and missing notebooks, edited
  nbgrader metadata put back from the release, edited or deleted locked cells.
- ``trusted_checks``: the grader side of the trusted channel: reports against the
  reference run's, or the reference's rule applied to raw numbers.
- ``source_facts``: what each code cell uses, read from its source (aliases, helpers).
- ``own_code``: what each solution cell uses against the assignment's ``own_code``
  list (and its withheld names).
- ``tampering``: student cells that rebind what the tests read or edit a module.
- ``decision``: after nbgrader: the checks and the own-code check applied to one
  result, and a reason a student can read for each cell that lost points.
"""
