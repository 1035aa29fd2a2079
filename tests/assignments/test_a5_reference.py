"""The reference solution of a5_distributed_ray agrees with gradkit.distributed and with torch.

The grader compares a student's reported results with the reference solution's, so the
reference itself must be right. The solution cells (and the locked cells that define the
model) are taken from the text source ``assignments/tools/sources/a5_distributed_ray.py``
and run in a namespace; their classes are plain Python classes (the notebook turns them
into Ray actors with ``ray.remote``), so most comparisons run in this process:

- ``chunk_bounds`` and ``shard_indices`` against ``gradkit.distributed.ring_allreduce`` and
  ``gradkit.data.sharding`` (both remainder rules);
- ``ParameterServer``: synchronous steps and random interleavings of asynchronous pulls
  and pushes against the library's server (whose waits are ``asyncio`` waits: a call that
  the reference refuses with ``None`` must be one that the library keeps waiting);
- ``chunk_to_send``/``ring_schedule`` against the library, the ring's result against a plain
  sum and its bytes against the closed form 2 (N - 1) / N for every chunk layout;
- ``bubble_fraction``/``theoretical_bubble`` against ``gradkit.distributed.pipeline_timeline``;
- one test on a small local Ray runs the reference's ring all-reduce and GPipe pipeline on
  real actors: the sum of the arrays, and torch autograd's gradient of the whole batch.
"""

from __future__ import annotations

import asyncio

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from gradkit.distributed import parameter_server as library_ps  # noqa: E402
from gradkit.distributed import pipeline_timeline as library_timeline  # noqa: E402
from gradkit.distributed import ring_allreduce as library_ring  # noqa: E402
from gradkit.data import sharding as library_sharding  # noqa: E402
from support import REPO

TOOLS = REPO / "assignments" / "tools"
import nbsource  # noqa: E402

pytestmark = pytest.mark.slow   # runs a5's reference on Ray: left to make test-all

ASSIGNMENT = "a5_distributed_ray"
# Locked cells that start Ray or actors; the rest (the model, the helpers) is needed.
NEEDS_RAY = {"setup", "ring_pool", "pipeline_model", "teardown"}
NEEDS_DEMO_CELLS = {"rule_breaks"}  # reads a plot's data; nothing a library could tell


def reference_namespace() -> dict:
    """The source's solution cells and Ray-free locked cells, run in order in one namespace."""
    import statistics
    import time

    import ray
    import torch.nn.functional as F

    from gradkit.data import load_digits

    namespace = {"__name__": "reference_a5", "np": np, "torch": torch, "F": F, "ray": ray,
                 "time": time, "statistics": statistics, "load_digits": load_digits}
    for cell in nbsource.load_source(TOOLS / "sources" / f"{ASSIGNMENT}.py"):
        if cell.kind in ("locked", "solution") and cell.grade_id not in NEEDS_RAY | NEEDS_DEMO_CELLS:
            exec(compile(cell.text, f"{ASSIGNMENT}:{cell.grade_id}", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def a5():
    return reference_namespace()


LibraryServer = library_ps.ParameterServer.__ray_metadata__.modified_class  # the class under @ray.remote


# ------------------------------------------------------------------------- sharding
@settings(max_examples=60, deadline=None)
@given(numel=st.integers(0, 200), n=st.integers(1, 12))
def test_chunk_bounds_equal_the_library(a5, numel, n):
    got = a5["chunk_bounds"](numel, n)
    assert [tuple(b) for b in got] == library_ring.chunk_bounds(numel, n)
    sizes = [stop - start for start, stop in got]
    assert sum(sizes) == numel and max(sizes) - min(sizes) <= 1


@settings(max_examples=40, deadline=None)
@given(world=st.integers(1, 7), extra=st.integers(0, 60), epoch=st.integers(0, 4), seed=st.integers(0, 10_000),
       drop=st.booleans())
def test_shard_indices_equal_the_library(a5, world, extra, epoch, seed, drop):
    num_samples = world + extra
    shards = [a5["shard_indices"](num_samples, rank, world, epoch, seed, drop) for rank in range(world)]
    for rank, shard in enumerate(shards):
        want = library_sharding.shard_indices(num_samples, rank, world, epoch, seed, drop_remainder=drop)
        np.testing.assert_array_equal(shard, want)
    together = np.concatenate(shards)
    kept = num_samples - num_samples % world if drop else num_samples
    assert len(set(together.tolist())) == len(together) == kept


@pytest.mark.parametrize("args", [(10, 3, 3), (10, 0, 0), (10, -1, 3)])
def test_shard_indices_reject_what_the_library_rejects(a5, args):
    with pytest.raises(ValueError):
        library_sharding.shard_indices(*args)
    with pytest.raises(ValueError):
        a5["shard_indices"](*args)


def test_too_few_samples_for_equal_shards(a5):
    with pytest.raises(ValueError):
        library_sharding.shard_indices(2, 0, 3, drop_remainder=True)
    with pytest.raises(ValueError):
        a5["shard_indices"](2, 0, 3, drop_remainder=True)


# ------------------------------------------------------------------ parameter server
def test_synchronous_steps_equal_the_library(a5):
    rng = np.random.default_rng(5)
    for workers in (1, 2, 3, 5):
        start, lr = rng.normal(size=17), float(rng.uniform(0.05, 1.0))
        ours, theirs = a5["ParameterServer"](start, lr, workers), LibraryServer(start, lr, workers)
        for _ in range(4):
            gradients = [rng.normal(size=17) for _ in range(workers)]
            # the library keeps float32 parameters: agreement to float32 rounding
            np.testing.assert_allclose(ours.apply_sync(*gradients), theirs.apply_sync(*gradients), rtol=1e-5, atol=1e-6)
        assert ours.version == theirs.version == 4
        with pytest.raises(ValueError):
            ours.apply_sync(*[np.zeros(17)] * (workers + 1))


def _library_call(loop, coroutine):
    """Run one library call; None when it would still be waiting (its rule refuses it for now)."""
    try:
        return loop.run_until_complete(asyncio.wait_for(coroutine, timeout=0.02))
    except asyncio.TimeoutError:
        return None


@pytest.mark.parametrize("seed", range(6))
def test_asynchronous_pulls_and_pushes_follow_the_library(a5, seed):
    rng = np.random.default_rng(100 + seed)
    workers, bound = int(rng.integers(2, 4)), int(rng.integers(0, 3))
    start, lr = rng.normal(size=6), float(rng.uniform(0.1, 1.0))
    ours, theirs = a5["ParameterServer"](start, lr, workers, bound), LibraryServer(start, lr, workers, bound)
    loop = asyncio.new_event_loop()
    step, phase = [0] * workers, ["pull"] * workers
    try:
        for _ in range(60):
            w = int(rng.integers(workers))
            if phase[w] == "pull":
                got, want = ours.pull(w, step[w]), _library_call(loop, theirs.pull(w, step[w]))
                assert (got is None) == (want is None), f"pull({w}, {step[w]}): reference {got}, library {want}"
                if got is not None:
                    assert got[1] == want[1] <= bound  # staleness within the bound
                    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-6)
                    phase[w] = "push"
            else:
                gradient = rng.normal(size=6)
                got, want = ours.push(w, step[w], gradient), _library_call(loop, theirs.push(w, step[w], gradient))
                assert got == want, f"push({w}, {step[w]}): reference {got}, library {want}"
                if got is not None:
                    phase[w], step[w] = "pull", step[w] + 1
        np.testing.assert_allclose(ours.get_parameters(), theirs.get_parameters(), rtol=1e-5, atol=1e-6)
    finally:
        loop.close()


def test_staleness_zero_is_the_synchronous_algorithm(a5):
    """With s = 0, any interleaving that finishes a round gives the synchronous step (up to rounding)."""
    rng = np.random.default_rng(7)
    start, lr, workers = rng.normal(size=5), 0.3, 3
    asynchronous = a5["ParameterServer"](start, lr, workers, 0)
    synchronous = a5["ParameterServer"](start, lr, workers)
    for step in range(3):
        gradients = [rng.normal(size=5) for _ in range(workers)]
        for w in rng.permutation(workers):
            assert asynchronous.pull(int(w), step) is not None
        for w in rng.permutation(workers):
            assert asynchronous.push(int(w), step, gradients[w]) is not None
        np.testing.assert_allclose(asynchronous.get_parameters(), synchronous.apply_sync(*gradients), rtol=1e-12)


# ------------------------------------------------------------------------ the ring
@pytest.mark.parametrize("n", range(1, 7))
def test_ring_rules_equal_the_library(a5, n):
    schedule = a5["ring_schedule"](n)
    assert list(schedule) == library_ring.ring_schedule(n)
    for phase, step in schedule:
        for rank in range(n):
            assert a5["chunk_to_send"](phase, rank, step, n) == library_ring.chunk_to_send(phase, rank, step, n)


def run_ring_in_process(a5, arrays):
    """The reference's RingWorker driven by hand: worker r receives what r - 1 sent, step by step."""
    n = len(arrays)
    workers = [a5["RingWorker"]() for _ in range(n)]
    for worker, array in zip(workers, arrays):
        worker.load(array)
    messages = [worker.begin(rank, n) for rank, worker in enumerate(workers)]
    for position in range(len(a5["ring_schedule"](n))):
        messages = [worker.receive(position, messages[(rank - 1) % n]) for rank, worker in enumerate(workers)]
    assert all(message is None for message in messages)
    return workers


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 6), size=st.integers(1, 40), seed=st.integers(0, 1000))
def test_ring_sums_and_counts_its_bytes(a5, n, size, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=size) for _ in range(n)]
    workers = run_ring_in_process(a5, arrays)
    for worker in workers:
        np.testing.assert_allclose(worker.result(), np.sum(arrays, axis=0), rtol=1e-12, atol=1e-12)
    # Closed form from the library's rules: the chunks each rank sends over the whole schedule.
    bounds = library_ring.chunk_bounds(size, n)
    for rank, worker in enumerate(workers):
        chunks = [library_ring.chunk_to_send(phase, rank, step, n) for phase, step in library_ring.ring_schedule(n)]
        assert worker.sent() == 8 * sum(bounds[c][1] - bounds[c][0] for c in chunks)
    if size % n == 0:
        assert all(worker.sent() == 8 * 2 * (n - 1) * size // n for worker in workers)


# ------------------------------------------------------------------- the pipeline
def test_bubble_formulas_equal_the_library(a5):
    rng = np.random.default_rng(3)
    for stages in (1, 2, 3, 5):
        for m in (1, 2, 4, 8):
            assert a5["theoretical_bubble"](stages, m) == pytest.approx(library_timeline.theoretical_bubble(stages, m))
    for _ in range(20):
        starts, lengths = rng.uniform(0, 5, size=9), rng.uniform(0, 1, size=9)
        events = [(int(rng.integers(3)), "F", k, s, s + d) for k, (s, d) in enumerate(zip(starts, lengths))]
        as_dicts = [dict(stage=e[0], kind=e[1], micro_batch=e[2], start=e[3], end=e[4]) for e in events]
        assert a5["bubble_fraction"](events, 3) == pytest.approx(library_timeline.measured_bubble(as_dicts, 3), rel=1e-12)


# ---------------------------------------------------------- the actors, on a small Ray
@pytest.fixture(scope="module")
def local_ray():
    import ray

    from gradkit.runtime import ray_session

    with ray_session(num_cpus=2, object_store_memory=80 * 2**20, quiet=True, what="test_a5_reference"):
        yield ray


def test_ring_and_pipeline_on_ray_actors(a5, local_ray):
    ray = local_ray
    rng = np.random.default_rng(11)
    ring = [a5["RemoteRingWorker"].remote() for _ in range(4)]
    stages = [a5["RemoteStage"].remote(0), a5["RemoteStage"].remote(1)]
    try:
        for n in (1, 2, 3, 4):
            for size in (1, 3, 10, 33):
                arrays = [rng.normal(size=size) for _ in range(n)]
                for result in a5["ring_allreduce"](ring[:n], arrays):
                    np.testing.assert_allclose(result, np.sum(arrays, axis=0), rtol=1e-12, atol=1e-12)
        assert a5["ring_bytes_sent"](ring, [np.ones(1000)] * 4) == [12000] * 4

        torch.manual_seed(0)
        first = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU()).double()
        second = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
        X, y = rng.normal(size=(13, 8)), rng.integers(0, 3, size=13)
        whole = torch.nn.Sequential(*first, *second)
        loss = torch.nn.functional.cross_entropy(whole(torch.tensor(X)), torch.tensor(y))
        expected = torch.autograd.grad(loss, list(whole.parameters()))
        ray.get([stage.load.remote(module) for stage, module in zip(stages, (first, second))])
        for m in (1, 2, 5, 13):
            got_loss = a5["pipeline_step"](stages, X, y, m)
            got = [g for part in ray.get([s.gradients.remote() for s in stages]) for g in part]
            assert got_loss == pytest.approx(float(loss.detach()), rel=1e-12)
            for g, e in zip(got, expected):
                np.testing.assert_allclose(g, e.numpy(), rtol=1e-10, atol=1e-13)
    finally:
        for actor in ring + stages:
            ray.kill(actor)
