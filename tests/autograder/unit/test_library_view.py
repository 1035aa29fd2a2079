"""The library as the grading kernel sees it: what an assignment withholds fails on use, not on import.

- the source transformation on its own (``withhold_in_source``): stand-ins keep their
  names, decorators and bases, raise the withheld message when called or instantiated,
  subclasses still import, every other line keeps its place;
- each view in a fresh interpreter with the view first on ``sys.path`` (as the kernel
  has it): a1's withheld modules, a2's withheld losses next to the rest of ``gradkit.nn``,
  a withheld base class under a library class that is not withheld, ``isinstance``
  against a withheld class, and every module importing while all that the assignments
  withhold is withheld;
- an ``assignment.yaml`` entry that names nothing is refused with a clear message;
- a kernel started by the grader's own kernel manager under the grader's isolation, on
  a2's view, shows the message when the student's code calls a withheld loss.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import types

import pytest

from gradkit_autograder.sandbox.library_view import WITHHELD, library_view, withhold_in_source
from gradkit_autograder.state.settings import AssignmentSettings, SettingsError, load_settings
from support import REPO

A2_WITHHELD = load_settings(REPO / "assignments" / "a2_tensor_autodiff").withheld


def message(name: str) -> str:
    return WITHHELD.format(name=name)


# --- the transformation --------------------------------------------------------------------

SOURCE = textwrap.dedent('''\
    """A module of the library."""
    from __future__ import annotations

    import dataclasses

    LIMIT = 3


    @dataclasses.dataclass(frozen=True)
    class Point:
        x: float

        def norm(self):
            return abs(self.x)


    class Base:
        """The student writes this one."""

        kind = "base"

        def __init__(self, n):
            self.n = n

        def twice(self):
            return 2 * self.n

        @staticmethod
        def make(n):
            return Base(n)


    class Child(Base):
        pass


    def helper(a, b=LIMIT):
        """The student writes this one too."""
        total = a + b
        return total


    async def fetch():
        return 1


    def uses_helper(a):
        return helper(a)
''')


def _load(source: str, name: str = "gradkit.example") -> dict:
    module = types.ModuleType(name)
    sys.modules[name] = module      # dataclasses look their module up there
    try:
        exec(compile(source, f"<{name}>", "exec"), module.__dict__)   # noqa: S102 - our own test module
    finally:
        del sys.modules[name]
    return module.__dict__


def test_a_withheld_function_raises_on_call_and_the_rest_works():
    out = withhold_in_source(SOURCE, "gradkit.example", {"helper"})
    m = _load(out)
    with pytest.raises(NotImplementedError) as err:
        m["helper"](1)
    assert str(err.value) == message("gradkit.example.helper")
    with pytest.raises(NotImplementedError, match="gradkit.example.helper is withheld"):
        m["uses_helper"](1)         # library code that uses it fails the same way
    assert m["Base"](4).twice() == 8 and m["Point"](-2.0).norm() == 2.0 and m["LIMIT"] == 3
    # every line that is not the stand-in keeps its number (tracebacks point at the real lines)
    assert len(out.splitlines()) == len(SOURCE.splitlines())
    assert out.splitlines().index("def uses_helper(a):") == SOURCE.splitlines().index("def uses_helper(a):")


def test_a_withheld_class_raises_on_instantiation_and_on_its_methods_and_can_still_be_subclassed():
    m = _load(withhold_in_source(SOURCE, "gradkit.example", {"Base", "Point"}))
    with pytest.raises(NotImplementedError) as err:
        m["Base"](1)
    assert str(err.value) == message("gradkit.example.Base")
    with pytest.raises(NotImplementedError, match=r"Base is withheld .* \(gradkit.example.Child is built on it\)"):
        m["Child"](1)               # the subclass imported; making one fails, naming both
    assert issubclass(m["Child"], m["Base"]) and not isinstance(3, m["Base"])
    with pytest.raises(NotImplementedError, match="gradkit.example.Base is withheld"):
        m["Base"].make(2)           # a static method of the stand-in
    with pytest.raises(NotImplementedError, match="gradkit.example.Point is withheld"):
        m["Point"](1.0)             # decorators stay: still a frozen dataclass
    assert dataclasses.is_dataclass(m["Point"])


def test_a_withheld_module_makes_every_function_and_class_a_stand_in():
    m = _load(withhold_in_source(SOURCE, "gradkit.example", None))
    for name in ("Point", "Base", "Child", "helper", "uses_helper"):
        with pytest.raises(NotImplementedError, match=f"gradkit.example.{name} is withheld"):
            m[name](1)
    assert m["LIMIT"] == 3
    assert asyncio.iscoroutinefunction(m["fetch"])
    with pytest.raises(NotImplementedError, match="gradkit.example.fetch is withheld"):
        asyncio.run(m["fetch"]())


# --- views in a fresh interpreter ----------------------------------------------------------

def run_in_view(withheld, code: str, tmp_path) -> dict:
    """Run ``code`` with the view of ``withheld`` first on the path; it prints one JSON line."""
    view = library_view(tuple(withheld), tmp_path / "view")
    prelude = textwrap.dedent(f"""
        import json
        import gradkit
        assert gradkit.__file__.startswith({view!r}), gradkit.__file__

        def fails(call):
            try:
                call()
            except NotImplementedError as err:
                return str(err)
            return None
    """)
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=view, MPLBACKEND="Agg"), cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a1_view_imports_whole_and_its_withheld_modules_fail_on_use(tmp_path):
    withheld = load_settings(REPO / "assignments" / "a1_gradients").withheld
    result = run_in_view(withheld, """
        import numpy as np
        from gradkit import Tensor, Value, gradcheck
        from gradkit.autodiff import central_difference, draw_graph
        x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
        (x * x).sum().backward()
        print(json.dumps({"grad": x.grad.tolist(),
                          "value": fails(lambda: Value(1.0)),
                          "central": fails(lambda: central_difference(np.sin, 0.0, 1e-3)),
                          "gradcheck": fails(lambda: gradcheck(lambda a: (a * a).sum(), np.ones(2)))}))
    """, tmp_path)
    assert result["grad"] == [2.0, 4.0, 6.0]
    assert result["value"] == message("gradkit.autodiff.value.Value")
    assert result["central"] == message("gradkit.autodiff.numerical.central_difference")
    assert result["gradcheck"] == message("gradkit.autodiff.numerical.gradcheck")
    view = tmp_path / "view"
    assert (view / "gradkit_autograder" / "kernel" / "channel.py").exists()
    assert not (view / "gradkit_autograder" / "commands").exists()     # nothing else of the grader


def test_a2_view_keeps_the_layers_and_withholds_exactly_the_losses_the_student_writes(tmp_path):
    result = run_in_view(A2_WITHHELD, """
        import numpy as np
        from gradkit.nn import CrossEntropyLoss, Linear, ReLU, Sequential
        import gradkit.nn.functional
        net = Sequential(Linear(3, 2, seed=0), ReLU())
        out = net(np.ones((4, 3)))
        logits, labels = np.array([[2.0, 0.5]]), np.array([0])
        print(json.dumps({
            "shape": list(out.shape),
            "mse": gradkit.nn.F.mse_loss(out, np.zeros((4, 2))).item() >= 0,
            "relu": gradkit.nn.functional.relu(np.array([-1.0, 2.0])).data.tolist(),
            "cross_entropy": fails(lambda: gradkit.nn.functional.cross_entropy(logits, labels)),
            "module": fails(lambda: CrossEntropyLoss()(logits, labels)),
            "hinge": fails(lambda: gradkit.nn.F.multiclass_hinge_loss(logits, labels)),
        }))
    """, tmp_path)
    assert result["shape"] == [4, 2] and result["mse"] and result["relu"] == [0.0, 2.0]
    assert result["cross_entropy"] == result["module"] == message("gradkit.nn.loss_functions.cross_entropy")
    assert result["hinge"] == message("gradkit.nn.loss_functions.multiclass_hinge_loss")


def test_a_withheld_base_class_leaves_its_library_subclass_importable_and_failing_on_use(tmp_path):
    # Optimizer is Adam's base class; isinstance against a stand-in is False for everything
    result = run_in_view(["gradkit.optim.optimizer.Optimizer", "gradkit.autodiff.value.Value"], """
        import numpy as np
        from gradkit import Tensor, Value, gradcheck
        from gradkit.optim import SGD, Adam, Optimizer, cosine_annealing
        p = Tensor(np.ones(2), requires_grad=True)
        print(json.dumps({"adam": fails(lambda: Adam([p], lr=0.1)),
                          "subclass": issubclass(SGD, Optimizer),
                          "isinstance": isinstance(p, Optimizer) or isinstance(1.0, Value),
                          "schedule": cosine_annealing(5, 0.5, 10, 0.1),
                          # gradcheck's isinstance(x, Value) site: Tensors are checked as before
                          "gradcheck": bool(gradcheck(lambda a: (a * a * a).sum(), np.array([0.5, -1.0])).passed),
                          "scalar": fails(lambda: gradcheck(lambda a: a * a, 0.5))}))
    """, tmp_path)
    assert result["adam"] == (message("gradkit.optim.optimizer.Optimizer")
                              + " (gradkit.optim.adam.Adam is built on it)")
    from gradkit.optim import cosine_annealing

    assert result["subclass"] and not result["isinstance"]
    assert result["schedule"] == cosine_annealing(5, 0.5, 10, 0.1)    # the rest of the package works
    assert result["gradcheck"] and result["scalar"] == message("gradkit.autodiff.value.Value")


@pytest.mark.slow
def test_every_module_of_the_library_imports_while_all_that_the_assignments_withhold_is(tmp_path):
    # A withheld name used while a module is imported (a decorator factory, a module-level
    # instance) would fail that import in its assignment's view: no assignment may withhold
    # one. One view with every assignment's entries together finds each such name at once.
    withheld = {name for path in (REPO / "assignments").glob("*/assignment.yaml")
                for name in load_settings(path.parent).withheld}
    result = run_in_view(sorted(withheld), """
        import importlib, pkgutil
        failed = {}
        for module in pkgutil.walk_packages(gradkit.__path__, "gradkit."):
            try:
                importlib.import_module(module.name)
            except Exception as err:
                failed[module.name] = f"{type(err).__name__}: {err}"
        print(json.dumps(failed))
    """, tmp_path)
    assert result == {}


# --- assignment.yaml -------------------------------------------------------------------------

@pytest.mark.parametrize("entry, said", [
    ("gradkit.nn.loss_functions.cross_entropi",
     "gradkit.nn.loss_functions defines no function or class cross_entropi; expected a gradkit module"),
    ("gradkit.nn.losess", "gradkit.nn defines no function or class losess"),
    ("gradkit.nn.nothing_here.f", "there is no module gradkit.nn.nothing_here.f or gradkit.nn.nothing_here"),
    ("gradkit.nn.functional.cross_entropy",
     "gradkit.nn.functional only imports cross_entropy; name it where it is defined, "
     "gradkit.nn.loss_functions.cross_entropy"),
    ("numpy.linalg", "expected dotted names under gradkit"),
])
def test_a_withheld_entry_that_names_nothing_is_refused_naming_it(entry, said):
    with pytest.raises(SettingsError) as err:
        AssignmentSettings.from_dict({"withheld": [entry]}, where="x/assignment.yaml")
    assert "x/assignment.yaml: withheld" in str(err.value) and said in str(err.value)


def test_withheld_entries_name_modules_or_functions_and_classes():
    settings = AssignmentSettings.from_dict({"withheld": [
        "gradkit.autodiff.numerical", "gradkit.nn", "gradkit.optim.sgd.SGD", "gradkit.nn.loss_functions.one_hot"]})
    assert AssignmentSettings.from_dict(settings.to_dict()) == settings


# --- a grading kernel, started as the grader starts one ------------------------------------

async def _run_in_grading_kernel(view: str, workspace, code: str) -> list[dict]:
    from gradkit_autograder.sandbox.isolation import Secrets, decide_isolation, make_workdir
    from gradkit_autograder.sandbox.kernel_manager import LimitedKernelManager

    isolation = dataclasses.replace(decide_isolation("auto", Secrets()), library_view=view)
    for folder in ("workdir", "runtime", "empty"):
        (workspace / folder).mkdir()
        os.chmod(workspace / folder, 0o711)
    cwd = make_workdir(str(workspace / "empty"), str(workspace / "workdir" / "kernel"), isolation.uid)
    km = LimitedKernelManager(kernel_name="python3", isolation=dataclasses.asdict(isolation),
                              runtime_dir=str(workspace / "runtime"), memory_mb=2048, file_mb=64, pids_max=256)
    await km.start_kernel(cwd=cwd)
    kc = km.client()
    kc.start_channels()
    outputs: list[dict] = []
    try:
        await kc.wait_for_ready(timeout=60)
        await kc.execute_interactive(code, timeout=60, output_hook=lambda msg: outputs.append(msg["content"]))
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    return outputs


@pytest.mark.slow
def test_a_sandboxed_grading_kernel_shows_the_message_when_a_withheld_function_is_called():
    from gradkit_autograder.grading.workspace import private_workspace

    code = textwrap.dedent("""
        import numpy as np
        from gradkit.nn import Linear, ReLU
        from gradkit.nn.functional import cross_entropy
        scores = ReLU()(Linear(3, 2, seed=0)(np.ones((1, 3))))
        print("layers work:", scores.shape)
        cross_entropy(scores, np.array([0]))
    """)
    with private_workspace() as workspace:
        view = library_view(A2_WITHHELD, workspace / "view")
        outputs = asyncio.run(_run_in_grading_kernel(view, workspace, code))
    printed = "".join(o.get("text", "") for o in outputs)
    errors = [o for o in outputs if "ename" in o]
    assert "layers work: (1, 2)" in printed
    assert [(e["ename"], e["evalue"]) for e in errors] == [
        ("NotImplementedError", message("gradkit.nn.loss_functions.cross_entropy"))]


def test_a_grading_kernel_starts_with_the_font_list_and_keeps_it():
    """The kernel's own matplotlib folder holds a copy of the font list, which pyplot reads
    instead of scanning the fonts again (matplotlib rewrites the file when it rebuilds it)."""
    from gradkit_autograder.grading.workspace import private_workspace
    from gradkit_autograder.sandbox.kernel_manager import matplotlib_font_list

    assert matplotlib_font_list(), "matplotlib made no font list in the grader's own process"
    code = textwrap.dedent("""
        import os
        folder = os.environ["MPLCONFIGDIR"]
        before = {name: os.stat(os.path.join(folder, name)).st_mtime_ns for name in os.listdir(folder)}
        import matplotlib.pyplot as plt
        from matplotlib import font_manager
        after = {name: os.stat(os.path.join(folder, name)).st_mtime_ns for name in os.listdir(folder)}
        print("FONTS", sorted(before), before == after, len(font_manager.fontManager.ttflist) > 0, os.getuid())
    """)
    with private_workspace() as workspace:
        view = library_view((), workspace / "view")
        outputs = asyncio.run(_run_in_grading_kernel(view, workspace, code))
    printed = "".join(o.get("text", "") for o in outputs)
    line = next(ln for ln in printed.splitlines() if ln.startswith("FONTS"))
    name = os.path.basename(matplotlib_font_list())
    assert line.startswith(f"FONTS ['{name}'] True True"), printed
    assert not [o for o in outputs if "ename" in o], outputs
