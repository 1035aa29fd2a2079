"""Everything that runs inside the student's kernel.

Copied into the sandbox whole (``sandbox.library_view``), it imports nothing else
of the grader.

- ``channel``: the kernel side of the trusted channel: hidden tests draw inputs
  from ``grading_rng(label)`` and ``report(key, value, rule=...)``; only floats
  leave the kernel (``judging.trusted_checks`` is the grader side).
- ``launch``: ``python -m gradkit_autograder.kernel.launch``, put in front of the
  kernel: joins its cgroup, sets rlimits, its own network namespace, private
  mounts and an unprivileged uid, then ``exec``s the kernel.
"""
