"""Where a student's kernel runs: the isolation decision, the launch line, the kernel manager, cgroups and the library view."""
