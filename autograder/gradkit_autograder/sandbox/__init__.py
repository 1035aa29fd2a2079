"""Where a student's kernel runs, and under what limits.

- ``isolation``: the strongest mode this machine allows (``bwrap``, ``namespace``,
  ``uid``, ``rlimits``), the kernel's launch line, its working folder.
- ``kernel_manager``: the Jupyter kernel manager that starts each kernel that way,
  with a minimal environment and IPC channels in a folder of its own.
- ``cgroups``: one memory and process-count limit per kernel's process tree.
- ``library_view``: the library as the kernel sees it, without withheld code.
"""
