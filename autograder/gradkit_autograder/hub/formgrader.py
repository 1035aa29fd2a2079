"""What the shared formgrader may not do: run code as the course account.

The formgrader runs as the course account, which owns the gradebook and the
solutions. Its "autograde" button would execute each notebook right there, where the
student's code could rewrite any grade: on the hub that step is replaced by
``GradeInTheSandbox``, which refuses and says how the course grades instead. And its
server is a whole Jupyter server: the staff reach it for grading, so it has no
terminals (set in its settings) and no kernels (``NoKernels``).
"""

from __future__ import annotations

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

REFUSAL = ("this course's notebooks are graded in the sandbox with `gradkit grade <assignment>` "
           "(after `gradkit collect --exchange`); the formgrader does not run students' code")


class GradeInTheSandbox(Preprocessor):
    """In place of nbgrader's Execute: refuse, naming the command that grades.

    Enabled by default, as nbgrader's own preprocessors are: nbgrader registers them
    without enabling them, and a disabled one would let the formgrader save grades
    of a notebook that never ran.
    """

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        raise RuntimeError(REFUSAL)


class NoKernels(KernelSpecManager):
    """The formgrader server's kernel specs: none, the native Python kernel included."""

    def find_kernel_specs(self) -> dict[str, str]:
        return {}

    def get_kernel_spec(self, kernel_name: str):
        raise NoSuchKernel(kernel_name)

