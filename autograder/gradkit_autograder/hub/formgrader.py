"""What the shared formgrader may not do: run a student's code as the course account.

The formgrader runs as the course account, which owns the gradebook; its
"autograde" button would execute each notebook right there, where the student's
code could rewrite any grade. On the hub that step is replaced by this
preprocessor, which refuses and says how the course grades instead.
"""

from __future__ import annotations

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
