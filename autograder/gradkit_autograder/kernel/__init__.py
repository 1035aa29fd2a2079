"""Everything that runs inside the student's kernel: the trusted channel and the launcher. Copied into the sandbox whole; imports nothing else of the grader."""
