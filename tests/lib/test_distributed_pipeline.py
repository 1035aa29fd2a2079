"""Pipeline (model) parallelism: gradients equal single-process autograd; timeline; faults."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

ray = pytest.importorskip("ray")

from gradkit import runtime
from gradkit.distributed.errors import ActorDiedError
from gradkit.distributed.pipeline import (Pipeline, StageError, schedule_ops, split_sequential)
from gradkit.distributed.pipeline_timeline import (ideal_speedup, measured_bubble, plot_timeline,
                                                   theoretical_bubble)


pytestmark = pytest.mark.slow   # Ray pipeline stages: left to make test-all


def make_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16),
                               torch.nn.ReLU(), torch.nn.Linear(16, 4))


def make_batch(n=21, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)).astype(np.float32), rng.integers(0, 4, size=n)


@pytest.fixture(scope="module", autouse=True)
def embedded_ray():
    # 8 logical CPUs on a small machine: up to 3 + 3 + 2 mostly idle stage actors at once.
    runtime.ensure_ray(num_cpus=8)
    yield
    runtime.shutdown_ray()


@pytest.fixture(scope="module")
def pipeline():
    with Pipeline(split_sequential(make_model(), 3), lr=0.5, use_gpu=False) as pipe:
        yield pipe


@pytest.fixture(scope="module")
def unstepped():
    """A pipeline that is only ever run with step=False: its parameters stay make_model()'s."""
    with Pipeline(split_sequential(make_model(), 3), lr=0.5, use_gpu=False) as pipe:
        yield pipe


def reference_gradients(X, y):
    model = make_model()
    F.cross_entropy(model(torch.tensor(X)), torch.tensor(y)).backward()
    return model, {name: p.grad for name, p in model.named_parameters()}


@pytest.mark.parametrize("schedule,micro_batches", [("gpipe", 1), ("gpipe", 4), ("gpipe", 21), ("1f1b", 5)])
def test_pipeline_gradients_equal_single_process(unstepped, schedule, micro_batches):
    # 21 rows in 4 or 5 micro-batches: unequal sizes, so the loss weighting matters.
    X, y = make_batch(seed=micro_batches)
    report = unstepped.train_step(X, y, micro_batches=micro_batches, schedule=schedule, step=False)
    model, expected = reference_gradients(X, y)
    got = unstepped.gradients()
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-6, rtol=1e-5)
    assert report.loss == pytest.approx(F.cross_entropy(model(torch.tensor(X)), torch.tensor(y)).item(), rel=1e-5)
    forwards = [e for e in report.events if e["kind"] == "F"]
    assert len(forwards) == 3 * micro_batches and len(report.events) == 6 * micro_batches


def test_pipeline_step_matches_single_process_sgd(pipeline):
    X, y = make_batch(n=16, seed=5)
    pipeline.train_step(X, y, micro_batches=4)
    model, _ = reference_gradients(X, y)
    with torch.no_grad():
        for p in model.parameters():
            p -= 0.5 * p.grad
    state = pipeline.state_dict()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(state[name], value, atol=1e-6, rtol=1e-5)


def test_split_keeps_layer_order_and_balances_parameters():
    model = torch.nn.Sequential(*[torch.nn.Linear(8, 8) for _ in range(6)])
    stages = split_sequential(model, 3)
    assert [[name for name, _ in stage.named_children()] for stage in stages] == [["0", "1"], ["2", "3"], ["4", "5"]]
    lopsided = torch.nn.Sequential(torch.nn.Linear(40, 40), torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    assert [len(stage) for stage in split_sequential(lopsided, 2)] == [1, 2]  # the big layer alone


def test_schedules_are_complete_and_1f1b_limits_activations():
    for schedule in ("gpipe", "1f1b"):
        for stage in range(3):
            ops = schedule_ops(schedule, stage, 3, 6)
            assert sorted(ops) == sorted([(k, i) for k in "FB" for i in range(6)])
            for i in range(6):
                assert ops.index(("F", i)) < ops.index(("B", i))
    in_flight = 0
    peak = 0
    for kind, _ in schedule_ops("1f1b", 0, 3, 8):
        in_flight += 1 if kind == "F" else -1
        peak = max(peak, in_flight)
    assert peak == 3  # p - k activations held, not m = 8 as in GPipe


def test_bubble_formulas_and_measurement():
    assert theoretical_bubble(2, 1) == pytest.approx(0.5)
    assert theoretical_bubble(4, 8) == pytest.approx(3 / 11)
    assert ideal_speedup(2, 8) == pytest.approx(16 / 9)
    # Two stages, one unit each, back to back: half of the 2 x 2 area is idle.
    events = [{"stage": 0, "kind": "F", "micro_batch": 0, "start": 0.0, "end": 1.0},
              {"stage": 1, "kind": "F", "micro_batch": 0, "start": 1.0, "end": 2.0}]
    assert measured_bubble(events, 2) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no events"):
        measured_bubble([], 2)


def test_gantt_chart_is_written(pipeline, tmp_path):
    X, y = make_batch(n=32)
    report = pipeline.train_step(X, y, micro_batches=4)
    assert 0.0 <= report.bubble < 1.0
    assert report.theoretical_bubble == pytest.approx(2 / 6)
    path = plot_timeline(report.events, 3, str(tmp_path / "gantt.png"))
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_named(pipeline):
    with pytest.raises(ValueError, match=r"num_stages must be in \[1, 5\]"):
        split_sequential(make_model(), 6)
    with pytest.raises(TypeError, match="expected a torch.nn.Sequential"):
        split_sequential(torch.nn.Linear(2, 2), 1)
    X, y = make_batch(n=4)
    with pytest.raises(ValueError, match=r"micro_batches must be in \[1, 4\]"):
        pipeline.train_step(X, y, micro_batches=5)
    with pytest.raises(ValueError, match="schedule must be one of"):
        pipeline.train_step(X, y, schedule="interleaved")


def test_shape_error_inside_a_stage_names_the_stage(pipeline):
    with pytest.raises(StageError, match=r"pipeline stage 0 failed in forward: RuntimeError"):
        pipeline.train_step(np.zeros((4, 7), dtype=np.float32), np.zeros(4, dtype=np.int64))


def test_stage_that_dies_is_named():
    with Pipeline(split_sequential(make_model(), 2), use_gpu=False) as doomed:
        ray.kill(doomed.stages[1])
        X, y = make_batch(n=8)
        with pytest.raises(ActorDiedError, match="pipeline stage 1 died"):
            doomed.train_step(X, y, micro_batches=2)


def test_more_stages_than_cpus_is_refused_before_scheduling():
    from gradkit.runtime import InsufficientResourcesError
    layers = [torch.nn.Linear(2, 2) for _ in range(9)]
    with pytest.raises(InsufficientResourcesError, match=r"9 stages: asked for 9 x \{CPU: 1\}.*CPU: 8"):
        Pipeline([torch.nn.Sequential(layer) for layer in layers], use_gpu=False)
