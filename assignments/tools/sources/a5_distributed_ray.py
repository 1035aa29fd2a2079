"""Source of assignments/a5_distributed_ray/distributed_ray.ipynb (built by assignments/tools/build_notebooks.py).

Assignment 5, "Distributed training with Ray". Lectures 003 (data-distributed training,
the all-reduce collective, the parameter-server/worker layout, mini-batch size in
distributed training and the large-batch papers), 004 (distributed PyTorch) and 000
(data vs model parallelism, why communication is needed, throughput as samples/s).

The notebook starts its own small local Ray (2 CPUs, no dashboard, an 80 MB object
store) in the set-up cell and stops it in the last cell. The Ray Train / DDP part runs
only outside grading (NBGRADER_EXECUTION is set while nbgrader grades or validates).
"""

# %% [markdown]
# # Assignment 5: Distributed training with Ray
#
# So far every gradient was computed by one process. This assignment spreads training
# over several processes, the way it is done on a cluster, using **Ray** as the runtime.
# You will
#
# 1. learn Ray's three ideas (tasks, actors, the object store) and what each costs;
# 2. cut a data set into equal shards, one per worker;
# 3. write a **parameter server**, synchronous and then asynchronous with a staleness bound,
#    and *test* that synchronous training on $N$ workers of batch $b$ is exactly training
#    on one process with batch $Nb$;
# 4. write the **ring all-reduce** by hand (reduce-scatter, then all-gather) and count the
#    bytes each worker sends;
# 5. compare your strategies with the production path, Ray Train running PyTorch DDP;
# 6. split a network over two processes (**model parallelism**) and pipeline it with
#    GPipe micro-batches, measuring the idle "bubble";
# 7. measure scaling efficiency, and find where the linear learning-rate scaling rule
#    for large batches holds and where it breaks.
#
# Everything runs on one laptop: the set-up cell starts a local Ray with 2 CPUs. The
# same code runs on a cluster by joining it (`ray.init(address=...)`) instead.
#
# The course library has its own versions of what you write here
# (`gradkit.distributed.sharding`, `.parameter_server`, `.ring_allreduce`, `.pipeline`).
# Read them *after* you finish; do not import them in your cells: they are removed while
# grading, and an import of them fails there.
#
# **How this notebook works** (as before): fill in the cells marked `# YOUR CODE HERE`,
# run the visible tests under each, and restart-and-run-all then *Validate* before you
# submit. Hidden tests run your code on fresh inputs and the grader compares the results
# with the reference solution's. Use float64 NumPy arrays as the cells ask: then a correct
# answer agrees with the reference to the last few digits.
#
# **Points** (one line per graded test cell):
#
# {{points_table}}

# %% [locked id=setup]
# Set-up: run this cell first. It imports what the notebook uses, defines the helpers of
# the visible tests and starts a small local Ray (about 10 s). You do not need to change it.
# {{include _helpers.py}}
import os
import statistics
import time
from contextlib import ExitStack

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one math thread per Ray worker process
os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"     # never start a second, default-sized Ray by accident
import ray
import torch
import torch.nn.functional as F

from gradkit.data import load_digits
from gradkit.runtime import ray_session

torch.set_num_threads(1)

# A small local Ray on this machine only: 2 CPUs, an 80 MB object store, no dashboard, the
# workers' prints kept off the notebook (retried if a busy machine is slow to start it).
# The last cell of the notebook stops it.
ray_start = time.perf_counter()
notebook_ray = ExitStack()
notebook_ray.enter_context(ray_session(num_cpus=2, object_store_memory=80 * 2**20, quiet=True,
                                       what="the assignment's local Ray"))
print(f"Ray started in {time.perf_counter() - ray_start:.1f} s with {ray.cluster_resources().get('CPU', 0):g} CPUs "
      f"and {ray.cluster_resources().get('GPU', 0):g} GPUs")

plt.rcParams["figure.figsize"] = (6.4, 4.0)

# %% [markdown]
# ## Part 1. Ray's three ideas: tasks, actors, the object store
#
# * A **task** is a function run in another process: decorate it with `@ray.remote`, call
#   it with `f.remote(x)`. The call returns at once with an `ObjectRef`, a ticket for the
#   result; `ray.get(ref)` waits for it. Start many tasks before you wait for any: they
#   then run in parallel (up to one per CPU).
# * An **actor** is an object living in its own process: `Counter = ray.remote(MyClass)`,
#   then `counter = Counter.remote(...)` starts the process and `counter.add.remote(3)`
#   calls a method there. An actor keeps its state between calls, and runs its calls
#   one at a time in the order one caller sent them: no locks are needed inside it.
# * The **object store** holds the values that refs point to, in shared memory on each
#   machine. `ref = ray.put(array)` copies an array in *once*; passing `ref` to ten tasks
#   sends them a few bytes each, and each task reads the same memory without copying
#   (NumPy arrays from the store are read-only). Passing the array itself to ten tasks
#   would copy it ten times. A ref passed as an argument arrives as its value.
#
# Write:
#
# * `square` as a Ray task and `squares_with_tasks(values)`: start one task per value,
#   *then* wait for all, return the list of squares in order;
# * the class `Accumulator` (made into an actor below it): `add(x)` adds `x` to the
#   running total (it starts at `start`) and returns the new total;
# * `sum_by_reference(array, parts)`: put `array` into the object store once, start
#   `parts` tasks of `partial_sum` that each get the *ref* and sum the elements
#   `array[k::parts]`, and return the sum of their results as a float;
# * `median_seconds(call, repeats)`: call `call()` `repeats` times and return the median
#   wall time of one call in seconds (`time.perf_counter()`).

# %% [solution id=ray_basics]
@ray.remote
def square(x):
    """x * x, computed in a Ray worker process."""
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION


def squares_with_tasks(values):
    """[v * v for v in values], one Ray task per value, all started before any is awaited."""
    ### BEGIN SOLUTION
    refs = [square.remote(v) for v in values]
    return ray.get(refs)
    ### END SOLUTION


class Accumulator:
    """A running total that lives in one process (an actor once wrapped by ray.remote)."""

    def __init__(self, start=0.0):
        ### BEGIN SOLUTION
        self.total = float(start)
        ### END SOLUTION

    def add(self, x):
        """Add x to the total; return the new total."""
        ### BEGIN SOLUTION
        self.total += x
        return self.total
        ### END SOLUTION


@ray.remote
def partial_sum(array, k, parts):
    """Sum of array[k::parts] (array arrives from the object store, read-only)."""
    ### BEGIN SOLUTION
    return float(array[k::parts].sum())
    ### END SOLUTION


def sum_by_reference(array, parts):
    """array.sum() computed by `parts` tasks that share one copy of array in the object store."""
    ### BEGIN SOLUTION
    ref = ray.put(np.asarray(array, dtype=np.float64))
    return float(sum(ray.get([partial_sum.remote(ref, k, parts) for k in range(parts)])))
    ### END SOLUTION


def median_seconds(call, repeats=20):
    """Median wall time, in seconds, of one call() over `repeats` calls."""
    ### BEGIN SOLUTION
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
    ### END SOLUTION


RemoteAccumulator = ray.remote(Accumulator)

# %% [tests id=test_ray_basics points=4]
with checking("squares_with_tasks"):
    expect_equal("squares_with_tasks([1, -2, 3])", squares_with_tasks([1, -2, 3]), [1, 4, 9])
with checking("Accumulator"):
    acc = RemoteAccumulator.remote(10.0)
    totals = ray.get([acc.add.remote(1.0), acc.add.remote(2.5)])
    ray.kill(acc)
expect_close("an Accumulator actor started at 10, after add(1) and add(2.5)", totals, [11.0, 13.5])
with checking("sum_by_reference"):
    expect_close("sum_by_reference(arange(10), parts=3)", sum_by_reference(np.arange(10.0), 3), 45.0)
with checking("median_seconds"):
    slept = median_seconds(lambda: time.sleep(0.01), repeats=3)
if not 0.009 <= slept < 1.0:
    raise AssertionError(f"median_seconds of time.sleep(0.01): expected about 0.01, got {slept!r}")
### BEGIN HIDDEN TESTS
# The work must happen in Ray tasks: while squares_with_tasks and sum_by_reference run, the
# names `square` and `partial_sum` stand for tasks of this test that note (in a file) each
# call they serve and in which process; the student's own tasks are then checked directly.
import os as _os
import shutil as _shutil
import tempfile as _tempfile

import numpy as _np
import ray as _ray
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_rng = grading_rng("test_ray_basics")
_squares_check = Check("squares_with_tasks", "checks of a call on 7 random integers (its squares, its tasks)",
                       hint="start one `square` task per value, all of them before waiting for any, then get the "
                            "results in order: the squaring must happen in Ray tasks, not in the driver.")
_square_check = Check("square", "random integers", hint="square is a Ray task that returns x * x.")
_accumulator_check = Check("Accumulator", "running totals after random adds",
                           hint="an actor keeps its state between calls: the total starts at `start`, and add(x) adds x "
                                "to it and returns the new total.")
_sum_check = Check("sum_by_reference", "sums of a random array of 1001 numbers in 1, 4 and 7 parts",
                   hint="the parts array[k::parts] for k = 0 .. parts - 1 together hold every element once; return "
                        "the sum of the partial sums as a float.")
_sum_tasks_check = Check("sum_by_reference", "records of the partial_sum tasks that ran (which strided parts)",
                         hint="the work must happen in Ray: put the array into the object store once and start "
                              "`parts` partial_sum tasks, one per part k, each given the ref (not the array).")
_partial_check = Check("partial_sum", "strided parts array[k::5] of a random array",
                       hint="partial_sum(array, k, parts) sums every parts-th element of array, starting at index k.")
_names = globals()
_log_dir = _tempfile.mkdtemp(prefix="a5_tasks_")
_log = _os.path.join(_log_dir, "tasks.log")


@_ray.remote
def _observed_square(x):
    with open(_log, "a") as _file:
        _file.write(f"square {_os.getpid()} 0 0\n")
    return x * x


@_ray.remote
def _observed_partial_sum(array, k, parts):
    with open(_log, "a") as _file:
        _file.write(f"partial_sum {_os.getpid()} {int(k)} {int(parts)}\n")
    return float(_np.asarray(array)[k::parts].sum())


def _served():
    """(kind, k, parts) of every call a task of this test served in a process other than this kernel."""
    if not _os.path.exists(_log):
        return []
    with open(_log) as _file:
        _rows = [_line.split() for _line in _file if _line.strip()]
    return [(_kind, int(_k), int(_parts)) for _kind, _pid, _k, _parts in _rows if int(_pid) != _os.getpid()]


_own_square, _own_partial_sum = square, partial_sum
_values = [int(v) for v in _rng.integers(-50, 50, size=7)]
try:
    _names["square"] = _observed_square
    try:
        _squares = squares_with_tasks(_values)
    finally:
        _names["square"] = _own_square
    report("squares_with_tasks", _squares, check=_squares_check, example=f"values {_values}")
    report("square_tasks_run", len([_s for _s in _served() if _s[0] == "square"]), check=_squares_check,
           example=f"values {_values}")
    report("square_task", _ray.get([_own_square.remote(_v) for _v in _values]), check=_square_check)
    _start, _adds = float(_rng.normal()), _rng.normal(size=5)
    _acc = _ray.remote(Accumulator).remote(_start)
    report("accumulator_totals", _ray.get([_acc.add.remote(float(x)) for x in _adds]), rtol=1e-12, atol=1e-12,
           check=_accumulator_check, example=f"start {_start:.3f}, then add {', '.join(f'{x:.3f}' for x in _adds)}")
    _ray.kill(_acc)
    _array = _rng.normal(size=1001)
    _names["partial_sum"] = _observed_partial_sum
    try:
        _sums = [sum_by_reference(_array, _parts) for _parts in (1, 4, 7)]
    finally:
        _names["partial_sum"] = _own_partial_sum
    for _k, _total in enumerate(_sums):
        report(f"sum_by_reference_{_k}", _total, rtol=1e-9, atol=1e-9, check=_sum_check,
               example=f"1001 random numbers in {(1, 4, 7)[_k]} parts")
    # which strided parts ran as tasks: (parts, k) for parts 1, 4, 7, each once
    report("partial_sum_tasks_run", _np.array(sorted((_parts, _k) for _kind, _k, _parts in _served()
                                                     if _kind == "partial_sum"), dtype=float).reshape(-1, 2),
           check=_sum_tasks_check, example="1001 random numbers in 1, then 4, then 7 parts")
    _ref = _ray.put(_array)
    report("partial_sum_task", _ray.get([_own_partial_sum.remote(_ref, _k, 5) for _k in range(5)]),
           rtol=1e-9, atol=1e-9, check=_partial_check)
finally:
    _shutil.rmtree(_log_dir, ignore_errors=True)
### END HIDDEN TESTS

# %% [markdown]
# What does each idea cost? Run the cell below: it times a plain function call, a task
# round trip, an actor round trip, and putting arrays of growing size into the object
# store and getting them back.

# %% [code]
if GRADING:
    print("The cost of a call: skipped while grading (a demonstration, no points).")
else:
    @ray.remote
    def nothing():
        return None

    def plain_function():
        return None

    with checking("median_seconds and Accumulator"):
        probe = RemoteAccumulator.remote()
        ray.get(probe.add.remote(0.0))  # wait until the actor's process is up
        costs = {
            "function call": median_seconds(plain_function, 200),
            "task round trip": median_seconds(lambda: ray.get(nothing.remote()), 50),
            "actor round trip": median_seconds(lambda: ray.get(probe.add.remote(1.0)), 50),
        }
        ray.kill(probe)
        sizes = [2**k for k in range(7, 21, 2)]  # float64 elements: 1 KB to 8 MB
        put_get = [median_seconds(lambda n=n: ray.get(ray.put(np.ones(n))), 5) for n in sizes]
    for name, seconds in costs.items():
        print(f"{name:18} {seconds * 1e6:10.1f} microseconds")

    fig, (ax_calls, ax_store) = plt.subplots(1, 2, figsize=(11, 3.6))
    ax_calls.bar(list(costs), [s * 1e6 for s in costs.values()])
    ax_calls.set_yscale("log")
    ax_calls.set_ylabel("microseconds per call")
    ax_calls.set_title("a remote call costs ~1000x a local one")
    ax_store.loglog(np.array(sizes) * 8 / 1e6, np.array(put_get) * 1e3, "o-")
    ax_store.set_xlabel("array size (MB)")
    ax_store.set_ylabel("ray.put + ray.get (ms)")
    ax_store.set_title("object store: a fixed cost, then bandwidth")
    plt.show()

# %% [markdown]
# A task or actor call costs about a millisecond (a message to another process, a
# lookup, a reply): hundreds of times a local call. So a remote call must carry enough
# work (a whole mini-batch, not one sample) to pay for itself. Small objects cost a
# fixed overhead; large ones cost their size divided by memory bandwidth.
#
# ## Part 2. Sharding the data
#
# **Data parallelism** gives each of $N$ workers a copy of the model and a different part
# of each batch. Two ways to cut things into $N$ parts are needed in this assignment.
#
# **Contiguous chunks** (for cutting a vector in the ring all-reduce, or a batch into
# micro-batches): `chunk_bounds(numel, n)` returns `n` pairs `(start, stop)` that cover
# `range(numel)` in order, with sizes that differ by at most one, the larger ones first
# (13 elements in 4 chunks: sizes 4, 3, 3, 3). When `numel < n` some chunks are empty.
# Nothing is lost, nothing is repeated.
#
# **Shards of a shuffled data set** (one per worker, a new shuffle each epoch):
# `shard_indices(num_samples, rank, world_size, epoch, seed, drop_remainder)`. All workers
# must agree on the shuffle without talking to each other, so each computes the *same*
# permutation from the seed and the epoch,
#
# ```python
# order = np.random.default_rng([seed, epoch]).permutation(num_samples)
# ```
#
# and takes every `world_size`-th entry of it starting at position `rank`. The shards
# never overlap and together hold every sample once; their sizes differ by at most one.
# With `drop_remainder=True` the order is first cut to a multiple of `world_size` (its
# first `num_samples - num_samples % world_size` entries), so that every worker gets
# exactly the same number of samples: workers that synchronise every step need this (a
# worker with one more batch would wait forever for the others), and the few samples
# left out change from epoch to epoch. Raise a `ValueError` that says what is wrong when
# `world_size < 1`, when `rank` is not in `[0, world_size)`, or, with `drop_remainder`,
# when `num_samples < world_size`.

# %% [solution id=sharding]
def chunk_bounds(numel, n):
    """n contiguous (start, stop) pairs covering range(numel), sizes differing by at most one."""
    ### BEGIN SOLUTION
    base, extra = divmod(numel, n)
    bounds, start = [], 0
    for index in range(n):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds
    ### END SOLUTION


def shard_indices(num_samples, rank, world_size, epoch=0, seed=0, drop_remainder=False):
    """Indices (int array) of worker `rank`'s shard in `epoch`: every world_size-th of the shuffle."""
    ### BEGIN SOLUTION
    if world_size < 1:
        raise ValueError(f"shard_indices: world_size must be >= 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"shard_indices: rank must be in [0, {world_size}), got {rank}")
    order = np.random.default_rng([seed, epoch]).permutation(num_samples)
    if drop_remainder:
        if num_samples < world_size:
            raise ValueError(f"shard_indices: {num_samples} samples cannot be split over {world_size} "
                             "workers (each needs at least one)")
        order = order[:num_samples - num_samples % world_size]
    return order[rank::world_size]
    ### END SOLUTION

# %% [tests id=test_sharding points=4]
with checking("chunk_bounds"):
    expect_equal("chunk_bounds(13, 4)", [tuple(b) for b in chunk_bounds(13, 4)], [(0, 4), (4, 7), (7, 10), (10, 13)])
    expect_equal("chunk_bounds(2, 3): one chunk is empty", [tuple(b) for b in chunk_bounds(2, 3)], [(0, 1), (1, 2), (2, 2)])
with checking("shard_indices"):
    shards = [shard_indices(10, rank, 3, epoch=1, seed=5) for rank in range(3)]
    equal_shards = [shard_indices(10, rank, 3, epoch=1, seed=5, drop_remainder=True) for rank in range(3)]
expect_equal("shard sizes for 10 samples over 3 workers", [len(s) for s in shards], [4, 3, 3])
expect_equal("every sample once", sorted(np.concatenate(shards).tolist()), list(range(10)))
expect_equal("shard sizes with drop_remainder=True", [len(s) for s in equal_shards], [3, 3, 3])
expect_equal("with drop_remainder the shards do not overlap", len(set(np.concatenate(equal_shards).tolist())), 9)
expect_equal("worker 0's shard is every 3rd entry of the shared shuffle", shards[0].tolist(),
             np.random.default_rng([5, 1]).permutation(10)[0::3].tolist())
expect_equal("a new epoch reshuffles", shard_indices(10, 0, 3, 1, 5).tolist() != shard_indices(10, 0, 3, 2, 5).tolist(), True)
for bad in [dict(rank=3, world_size=3), dict(rank=0, world_size=0), dict(rank=0, world_size=20, drop_remainder=True)]:
    try:
        shard_indices(10, **bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"shard_indices(10, {bad}) should raise a ValueError")
### BEGIN HIDDEN TESTS
import numpy as _np
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_rng = grading_rng("test_sharding")
_chunks_check = Check("chunk_bounds", "random (numel, n) pairs",
                      hint="chunk_bounds: n contiguous pieces of range(numel) in order, sizes differing by at most "
                           "one, larger first. shard_indices: every world_size-th entry of the shared shuffle from "
                           "position rank, so shards never overlap.")
_shards_check = Check("shard_indices", "random data sets split over 1-5 workers (every worker's shard, in rank "
                                       "order, with and without drop_remainder)",
                      hint="all workers compute the same shuffle from [seed, epoch] and take every world_size-th "
                           "entry of it from position rank, so shards never overlap; drop_remainder first cuts the "
                           "shuffle to a multiple of world_size.")
for _k in range(6):
    _numel, _n = int(_rng.integers(0, 40)), int(_rng.integers(1, 9))
    report(f"chunk_bounds_{_k}", _np.array(chunk_bounds(_numel, _n), dtype=float).reshape(-1), check=_chunks_check,
           example=f"chunk_bounds({_numel}, {_n})")
for _k in range(4):
    _world = int(_rng.integers(1, 6))
    _num = int(_rng.integers(_world, 60))
    _epoch, _seed = int(_rng.integers(0, 5)), int(_rng.integers(0, 1000))
    for _drop in (False, True):
        report(f"shard_indices_{_k}_{_drop}",
               _np.concatenate([shard_indices(_num, _r, _world, _epoch, _seed, _drop) for _r in range(_world)]),
               check=_shards_check, example=f"{_num} samples over {_world} workers, epoch {_epoch}, seed {_seed}, "
                                            f"drop_remainder={_drop}")
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3. A parameter server
#
# The model for the data-parallel parts is softmax regression on the 8x8 digits (64
# features, 10 classes), in float64 NumPy: the parameters are one flat vector `theta`
# (the 64 x 10 weights, then the 10 biases). The cell below gives its loss and gradient,
# `batch_gradient`, a Ray task that computes one worker's gradient (stateless work is a
# task: any free worker process may run it), `worker_batch`, which picks worker `rank`'s
# batch for a global step from *your* shards, and `train_single`, plain SGD in this
# process, the baseline.

# %% [locked id=model]
X_digits, y_digits = load_digits("train")
X_digits = X_digits.astype(np.float64)


def init_parameters(features=64, classes=10, seed=0):
    """Small random weights and zero biases, flattened: shape (features * classes + classes,)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(scale=0.01, size=features * classes), np.zeros(classes)])


def loss_and_gradient(theta, X, y):
    """Mean softmax cross-entropy of the flat parameters theta on (X, y), and its gradient."""
    features = X.shape[1]
    classes = theta.size // (features + 1)
    W, b = theta[:features * classes].reshape(features, classes), theta[features * classes:]
    logits = X @ W + b
    logits = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = -np.mean(np.log(probabilities[rows, y]))
    probabilities[rows, y] -= 1.0  # d loss / d logits = (softmax - one_hot) / n
    probabilities /= len(y)
    return float(loss), np.concatenate([(X.T @ probabilities).ravel(), probabilities.sum(axis=0)])


@ray.remote(num_returns=2)
def batch_gradient(theta, X, y, indices):
    """(loss, gradient) on the rows `indices` of (X, y); X and y come from the object store."""
    return loss_and_gradient(theta, X[indices], y[indices])


def worker_batch(num_samples, rank, world_size, batch_size, step, seed=0):
    """Rows of worker `rank`'s batch at global `step`: its shard of that epoch, batch after batch."""
    steps_per_epoch = (num_samples // world_size) // batch_size
    epoch, t = divmod(step, steps_per_epoch)
    shard = shard_indices(num_samples, rank, world_size, epoch, seed, drop_remainder=True)
    return shard[t * batch_size:(t + 1) * batch_size]


def train_single(X, y, theta0, batch_size, lr, steps, seed=0):
    """Plain mini-batch SGD in this process. Returns (theta, losses per step)."""
    theta, losses = np.array(theta0, dtype=np.float64), []
    for step in range(steps):
        rows = worker_batch(len(X), 0, 1, batch_size, step, seed)
        loss, gradient = loss_and_gradient(theta, X[rows], y[rows])
        theta = theta - lr * gradient
        losses.append(loss)
    return theta, losses

# %% [markdown]
# ### Synchronous
#
# A **parameter server** owns the parameters. In each synchronous step every worker
# computes the gradient of its own batch at the current parameters and *pushes* it; the
# server waits for all $N$, **averages** them, takes one SGD step
# $\theta \leftarrow \theta - \eta\,\frac1N\sum_r g_r$, and the workers *pull* the new
# parameters for the next step.
#
# Why this equals one process with batch $Nb$: each $g_r$ is the mean gradient over $b$
# samples, so $\frac1N\sum_r g_r = \frac{1}{Nb}\sum_{\text{all } Nb \text{ samples}} \nabla \ell_i$,
# the gradient of the combined batch. And with your strided shards, the workers' $t$-th
# batches together are exactly the $t$-th batch of size $Nb$ of the one-process shuffle
# (worker $r$'s $j$-th sample sits at position $r + Nj$ of that shuffle). So the two
# trajectories agree up to floating-point rounding.
#
# Write the class `ParameterServer` (plain Python; `RemoteParameterServer` below makes it
# an actor): keep a float64 **copy** of the parameters; `get_parameters()` returns a copy;
# `apply_sync(*gradients)` checks it got `num_workers` gradients (else `ValueError`),
# takes the averaged step, counts one more `version`, and returns a copy of the new
# parameters. Leave `pull` and `push` for the asynchronous part below.
#
# Then `train_sync(...)`, the driver: start a server, put `X` and `y` into the object
# store once, and for each step start one `batch_gradient` task per worker on
# `worker_batch(len(X), rank, workers, batch_size, step, seed)`, then call `apply_sync`
# with the gradient refs. Hand the *ref* returned by `apply_sync` to the next step's
# tasks: Ray starts them when the parameters exist, so the driver never waits inside the
# loop. Return the final parameters, the mean loss of the workers at every step, and the
# seconds the steps took: start the clock once the server has answered its first call
# (`ray.wait` on the ref of its initial parameters: a new actor takes a moment to start)
# and stop it when the final parameters arrive. Then `ray.kill` the server.

# %% [solution id=parameter_server]
class ParameterServer:
    """Owns the flat parameter vector and applies SGD to it (an actor via RemoteParameterServer)."""

    def __init__(self, parameters, lr, num_workers, staleness_bound=0):
        if staleness_bound < 0:
            raise ValueError(f"ParameterServer: staleness_bound must be >= 0, got {staleness_bound}")
        self.lr = lr
        self.num_workers = num_workers
        self.staleness_bound = staleness_bound
        self.version = 0                  # updates applied (a synchronous step counts once)
        self.applied = [0] * num_workers  # gradients of each worker applied so far (async)
        self.pulled = [0] * num_workers   # steps each worker has read parameters for (async)
        ### BEGIN SOLUTION
        self.parameters = np.array(parameters, dtype=np.float64)  # our own copy
        ### END SOLUTION

    def get_parameters(self):
        ### BEGIN SOLUTION
        return self.parameters.copy()
        ### END SOLUTION

    def apply_sync(self, *gradients):
        """Average one step's gradients from all workers, take an SGD step, return the new parameters."""
        ### BEGIN SOLUTION
        if len(gradients) != self.num_workers:
            raise ValueError(f"apply_sync: expected {self.num_workers} gradients, got {len(gradients)}")
        self.parameters -= self.lr * np.mean(np.stack(gradients), axis=0)
        self.version += 1
        return self.parameters.copy()
        ### END SOLUTION

    def pull(self, worker, step):
        """Asynchronous read for `worker`'s `step`: None while it would be more than s steps stale,
        else (a copy of the parameters, staleness)."""
        ### BEGIN SOLUTION
        if min(self.applied) < step - self.staleness_bound:
            return None
        self.pulled[worker] = max(self.pulled[worker], step + 1)
        return self.parameters.copy(), step - min(self.applied)
        ### END SOLUTION

    def push(self, worker, step, gradient):
        """Asynchronous update: None while some worker has not read step `step - s` yet,
        else apply lr / num_workers * gradient and return the new version."""
        ### BEGIN SOLUTION
        if min(self.pulled) < step - self.staleness_bound + 1:
            return None
        self.parameters -= (self.lr / self.num_workers) * gradient
        self.applied[worker] += 1
        self.version += 1
        return self.version
        ### END SOLUTION


RemoteParameterServer = ray.remote(ParameterServer)


def train_sync(X, y, theta0, workers, batch_size, lr, steps, seed=0):
    """Synchronous data-parallel SGD through a parameter-server actor. Returns (theta, losses, seconds)."""
    ### BEGIN SOLUTION
    server = RemoteParameterServer.remote(theta0, lr, workers)
    X_ref, y_ref = ray.put(X), ray.put(y)
    theta_ref = server.get_parameters.remote()
    ray.wait([theta_ref])  # the server is up: start the clock
    start = time.perf_counter()
    loss_refs = []
    for step in range(steps):
        outputs = [batch_gradient.remote(theta_ref, X_ref, y_ref,
                                         worker_batch(len(X), rank, workers, batch_size, step, seed))
                   for rank in range(workers)]
        theta_ref = server.apply_sync.remote(*[gradient for _, gradient in outputs])
        loss_refs.append([loss for loss, _ in outputs])
    theta = ray.get(theta_ref)
    seconds = time.perf_counter() - start
    losses = [float(np.mean(ray.get(refs))) for refs in loss_refs]
    ray.kill(server)
    return theta, losses, seconds
    ### END SOLUTION

# %% [tests id=test_parameter_server_sync points=5]
with checking("ParameterServer"):
    server = ParameterServer(np.array([1.0, 2.0]), lr=0.5, num_workers=2)
    expect_close("apply_sync([2, 0], [0, 4]) from [1, 2] with lr 0.5 (mean gradient [1, 2])",
                 server.apply_sync(np.array([2.0, 0.0]), np.array([0.0, 4.0])), [0.5, 1.0])
    expect_equal("version after one synchronous step", server.version, 1)
    kept = np.array([1.0, 1.0])
    ParameterServer(kept, lr=1.0, num_workers=1).apply_sync(np.array([1.0, 1.0]))
    expect_close("the caller's array is not changed (the server keeps its own copy)", kept, [1.0, 1.0])
    try:
        server.apply_sync(np.zeros(2))
    except ValueError:
        pass
    else:
        raise AssertionError("apply_sync with 1 gradient on a 2-worker server should raise a ValueError")
with checking("train_sync"):
    theta, losses, seconds = train_sync(X_digits, y_digits, init_parameters(), workers=2, batch_size=16, lr=0.5, steps=30)
expect_equal("one loss per step", len(losses), 30)
print(f"30 synchronous steps of 2 workers took {seconds:.2f} s")
if not losses[-1] < 0.6 * losses[0]:
    raise AssertionError(f"train_sync: the loss should fall by 40% in 30 steps, went {losses[0]:.3f} -> {losses[-1]:.3f}")
### BEGIN HIDDEN TESTS
# train_sync must train through a server actor: while it runs, the names ParameterServer and
# RemoteParameterServer stand for this test's subclass of the student's server, which notes
# (in a file) every synchronous step it serves, in which process, with how many gradients and
# the parameters it reached. The step count and the path are compared with the reference's.
import json as _json
import os as _os
import shutil as _shutil
import tempfile as _tempfile

import numpy as _np
import ray as _ray
from gradkit.data import load_digits as _load_digits
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_rng = grading_rng("test_parameter_server_sync")
_apply_check = Check("ParameterServer.apply_sync", "synchronous steps of servers with 1, 2 and 3 workers",
                     hint="a synchronous step averages the N workers' gradients (the gradient of the combined batch) "
                          "and takes one SGD step with that average, on the server's own float64 copy.")
_train_check = Check("train_sync", "results of a 12-step run with 3 workers (final parameters, losses per step)",
                     hint="each step: one batch_gradient task per worker on its worker_batch, then one apply_sync of "
                          "the server with the gradient refs; a step's loss is the mean of the workers' losses.")
_actor_check = Check("train_sync", "records of the steps the server took in a 12-step run",
                     hint="the parameter server must be an actor (RemoteParameterServer): every step's gradients go to "
                          "its apply_sync, which runs in the server's own process, not in the driver.")
for _n in (1, 2, 3):
    _server = ParameterServer(_rng.normal(size=9), lr=float(_rng.uniform(0.1, 1.0)), num_workers=_n)
    for _t in range(2):
        report(f"apply_sync_{_n}_{_t}", _server.apply_sync(*[_rng.normal(size=9) for _ in range(_n)]),
               rtol=1e-12, atol=1e-12, check=_apply_check,
               example=f"{_n} random gradient{'s' if _n > 1 else ''} of 9 parameters, lr {_server.lr:.3f}")
_X, _y = _load_digits("train")
_X = _X.astype(_np.float64)
_theta0 = _np.concatenate([_np.random.default_rng(int(_rng.integers(1000))).normal(scale=0.01, size=640),
                           _np.zeros(10)])
_directions = _rng.normal(size=(3, _theta0.size))   # the server's path, seen through three directions
_log_dir = _tempfile.mkdtemp(prefix="a5_server_")
_log = _os.path.join(_log_dir, "server.log")


class _ObservedServer(ParameterServer):
    """The student's server, noting each synchronous step it takes (in its own process)."""

    def apply_sync(self, *gradients):
        _parameters = super().apply_sync(*gradients)
        with open(_log, "a") as _file:
            _file.write(_json.dumps([_os.getpid(), len(gradients),
                                     _np.asarray(_parameters, dtype=float).ravel().tolist()]) + "\n")
        return _parameters


_names = globals()
_own = {_name: _names[_name] for _name in ("ParameterServer", "RemoteParameterServer")}
try:
    _names["ParameterServer"] = _ObservedServer
    _names["RemoteParameterServer"] = _ray.remote(_ObservedServer)
    try:
        _theta, _losses, _ = train_sync(_X, _y, _theta0, workers=3, batch_size=8, lr=0.3, steps=12,
                                        seed=int(_rng.integers(1000)))
    finally:
        _names.update(_own)
    report("train_sync_theta", _theta, rtol=1e-8, atol=1e-10, check=_train_check)
    report("train_sync_losses", _losses, rtol=1e-8, atol=1e-10, check=_train_check)
    _steps = []
    if _os.path.exists(_log):
        with open(_log) as _file:
            _steps = [_json.loads(_line) for _line in _file if _line.strip()]
    # one row per step the server took: [served outside this kernel's process, gradients it averaged]
    report("train_sync_server_steps", _np.array([[float(_pid != _os.getpid()), _count] for _pid, _count, _ in _steps],
                                                dtype=float).reshape(-1, 2), check=_actor_check)
    report("train_sync_server_path", _np.array([_directions @ _np.asarray(_p, dtype=float) if len(_p) == _theta0.size
                                                else _np.full(3, _np.nan) for _, _, _p in _steps]).reshape(-1, 3),
           rtol=1e-8, atol=1e-10, check=_actor_check)
finally:
    _shutil.rmtree(_log_dir, ignore_errors=True)
### END HIDDEN TESTS

# %% [markdown]
# Now the test that matters: write `large_batch_gap(...)`, which trains the same start
# `theta0` twice, with `train_sync` on `workers` workers of batch `batch_size`, and with
# `train_single` on batch `workers * batch_size` (same `lr`, `steps`, `seed`), and returns
# the largest absolute difference between the two final parameter vectors. The test cell
# below runs it; a correct parameter server gives a gap at the level of rounding (about
# 1e-15), far below the test's 1e-10.

# %% [solution id=large_batch]
def large_batch_gap(X, y, theta0, workers, batch_size, lr, steps, seed=0):
    """max |theta_sync - theta_single| after `steps`: N workers of batch b vs one process of batch N*b."""
    ### BEGIN SOLUTION
    theta_sync, _, _ = train_sync(X, y, theta0, workers, batch_size, lr, steps, seed)
    theta_one, _ = train_single(X, y, theta0, workers * batch_size, lr, steps, seed)
    return float(np.max(np.abs(theta_sync - theta_one)))
    ### END SOLUTION

# %% [tests id=test_large_batch points=3]
with checking("large_batch_gap"):
    gap = large_batch_gap(X_digits, y_digits, init_parameters(seed=1), workers=2, batch_size=8, lr=0.5, steps=20)
print(f"2 workers x batch 8 vs 1 process x batch 16 after 20 steps: largest difference {gap:.2e}")
if not (isinstance(gap, float) and gap < 1e-10):
    raise AssertionError(f"synchronous data parallel should equal large-batch SGD: gap {gap!r} is not below 1e-10")
### BEGIN HIDDEN TESTS
# Both trainings are seen by the test: while large_batch_gap runs, `train_sync` and
# `train_single` stand for wrappers that keep what each returned, and the one-process result is
# handed back shifted by a known vector, so the gap returned must be measured, not assumed.
# The grader checks that the two trainings agree (Rule.near) and compares the gap.
import numpy as _np
from gradkit.data import load_digits as _load_digits
from gradkit_autograder.kernel.channel import Check, Rule, report, grading_rng

_rng = grading_rng("test_large_batch")
_same_check = Check("large_batch_gap", "final parameters of the two trainings (train_single with the combined batch, "
                                       "train_sync with 3 workers)",
                    hint="synchronous data parallelism equals one process with batch N*b: the server averages the "
                         "gradients and the strided shards make the workers' batches one large batch.")
_gap_check = Check("large_batch_gap", "gaps returned",
                   hint="measure the gap from what the two trainings return: the largest absolute difference between "
                        "their final parameter vectors, not a value assumed in advance.")
_X, _y = _load_digits("train")
_X = _X.astype(_np.float64)
_theta0 = _np.concatenate([_np.random.default_rng(int(_rng.integers(1000))).normal(scale=0.01, size=640),
                           _np.zeros(10)])
_shift = _rng.normal(scale=1e-3, size=_theta0.size)
_seen = {}
_names = globals()
_own_sync, _own_single = train_sync, train_single


def _sync_seen(*args, **kwargs):
    _result = _own_sync(*args, **kwargs)
    _seen["sync"] = _result[0]
    return _result


def _single_shifted(*args, **kwargs):
    _theta, _losses = _own_single(*args, **kwargs)
    _seen["single"] = _theta
    return _theta + _shift, _losses


def _as_theta(value):
    try:
        _value = _np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return _np.full(_theta0.size, _np.nan)
    return _value if _value.shape == _theta0.shape else _np.full(_theta0.size, _np.nan)


try:
    _names["train_sync"], _names["train_single"] = _sync_seen, _single_shifted
    _gap = large_batch_gap(_X, _y, _theta0, workers=3, batch_size=int(_rng.integers(4, 12)), lr=0.4, steps=10,
                           seed=int(_rng.integers(1000)))
finally:
    _names["train_sync"], _names["train_single"] = _own_sync, _own_single
_theta_sync, _theta_single = _as_theta(_seen.get("sync")), _as_theta(_seen.get("single"))
report("large_batch_theta_single", _theta_single, rtol=1e-8, atol=1e-10, check=_same_check)
report("large_batch_theta_sync", _theta_sync, rule=Rule.near("large_batch_theta_single", atol=1e-10),
       check=_same_check)
report("large_batch_gap", _gap, rtol=1e-9, atol=1e-12, check=_gap_check)   # max |theta_sync - (theta_single + shift)|
### END HIDDEN TESTS

# %% [markdown]
# ### Asynchronous, with a staleness bound
#
# Synchronous steps go at the pace of the slowest worker. **Asynchronous** training lets
# each worker loop on its own: pull the parameters, compute a gradient, push it; the
# server applies each gradient on arrival, scaled by $\eta/N$ (so $N$ pushes move as far
# as one synchronous step). The price: a worker's gradient was computed at parameters
# that other workers have since changed, it is **stale**. Unbounded staleness can make
# training drift or diverge; *stale synchronous parallel* bounds it by $s$ steps:
#
# * `pull(worker, step)`: a worker may read parameters for its step $c$ only when every
#   worker's gradients of steps $< c - s$ are applied, i.e. `min(applied) >= c - s`.
#   Otherwise return `None` (the worker asks again a moment later). If the read is
#   allowed, record that this worker has pulled step $c$ (`pulled[worker] = c + 1`, never
#   lowering it) and return a copy of the parameters and the read's staleness
#   `c - min(applied)` (at most $s$).
# * `push(worker, step, gradient)`: the gradient of step $c$ may be applied only when
#   every worker has read its step $c - s$, i.e. `min(pulled) >= c - s + 1`; otherwise
#   return `None`. If allowed, apply it, count it in `applied[worker]` and in `version`,
#   and return `version`.
#
# With $s = 0$ this is the synchronous algorithm again. Fill in `pull` and `push` in the
# `ParameterServer` cell above and run it again. A Ray actor runs one call at a time, so
# the counters need no lock. (The library's version makes the server an *async actor*
# whose `pull` waits on an `asyncio.Condition` instead of returning `None`: same rules,
# no polling.)
#
# The worker loop is given: `async_worker` is a Ray task that runs `steps` rounds of
# pull, compute, push against the server, sleeping `delay_s` per step (a slow worker).

# %% [locked id=async_worker]
@ray.remote
def async_worker(server, X, y, rank, workers, batch_size, steps, seed=0, delay_s=0.0):
    """Pull, compute, push, `steps` times, on this worker's own pace. Returns each read's staleness."""
    staleness = []
    for step in range(steps):
        while (reply := ray.get(server.pull.remote(rank, step))) is None:
            time.sleep(0.0005)  # too stale: ask again in a moment
        theta, stale = reply
        staleness.append(stale)
        _, gradient = loss_and_gradient(theta, *(a[worker_batch(len(X), rank, workers, batch_size, step, seed)]
                                                 for a in (X, y)))
        time.sleep(delay_s)
        while ray.get(server.push.remote(rank, step, gradient)) is None:
            time.sleep(0.0005)  # the slowest worker has not read step - s yet
    return staleness


def train_async(X, y, theta0, workers, batch_size, lr, steps, staleness_bound, delays, seed=0):
    """Asynchronous SGD: one async_worker task per worker. Returns (theta, staleness of every read)."""
    server = RemoteParameterServer.remote(theta0, lr, workers, staleness_bound)
    X_ref, y_ref = ray.put(X), ray.put(y)
    runs = ray.get([async_worker.remote(server, X_ref, y_ref, rank, workers, batch_size, steps, seed, delays[rank])
                    for rank in range(workers)])
    theta = ray.get(server.get_parameters.remote())
    ray.kill(server)
    return theta, runs

# %% [tests id=test_parameter_server_async points=5]
with checking("ParameterServer.pull and push"):
    server = ParameterServer(np.zeros(2), lr=1.0, num_workers=2, staleness_bound=1)
    parameters, stale = server.pull(0, 0)
    expect_equal("staleness of worker 0's first read", stale, 0)
    expect_equal("worker 0 may read step 1 (1 step stale) before anyone pushed", server.pull(0, 1)[1], 1)
    expect_equal("worker 0 may not read step 2 (2 steps stale, bound 1)", server.pull(0, 2), None)
    expect_equal("worker 0's push of step 0 is applied (every worker read step -1)", server.push(0, 0, np.array([2.0, 4.0])), 1)
    expect_close("parameters after one push: - lr / N * gradient", server.get_parameters(), [-1.0, -2.0])
    expect_equal("worker 0's push of step 1 waits for worker 1 to read step 0", server.push(0, 1, np.ones(2)), None)
with checking("train_async"):
    theta, runs = train_async(X_digits, y_digits, init_parameters(), workers=2, batch_size=16, lr=0.5, steps=20,
                              staleness_bound=2, delays=[0.0, 0.01])
expect_equal("every read is at most 2 steps stale", max(max(r) for r in runs) <= 2, True)
### BEGIN HIDDEN TESTS
# Asynchronous training runs against this test's subclass of the student's server, which
# counts the gradients it really applied and notes, for every read it allows, how stale the
# read is by that count; the grader bounds that staleness and compares it with the staleness
# the server reported.
import time as _time

import numpy as _np
import ray as _ray
from gradkit.data import load_digits as _load_digits
from gradkit_autograder.kernel.channel import Check, Rule, report, grading_rng

_rng = grading_rng("test_parameter_server_async")
_interleave_check = Check("ParameterServer.pull and push", "random interleavings of 40 pull and push calls (the "
                                                           "replies, the final parameters)",
                          hint="pull of step c waits until every worker's gradients of steps before c - s are applied "
                               "(the slowest worker sets the bound); push of step c waits until every worker has read "
                               "step c - s; a push moves by lr / N times its gradient.")
_bound_check = Check("ParameterServer.pull and push", "measurements of a 2-worker asynchronous run with staleness "
                                                      "bound 1 (reads and pushes served, staleness of each read)",
                     hint="no read may be more than s steps ahead of the slowest worker's applied gradients, and pull "
                          "reports that staleness (step minus the fewest gradients any worker has applied).")
for _case in range(3):
    _n, _s = int(_rng.integers(2, 4)), int(_rng.integers(0, 3))
    _server = ParameterServer(_rng.normal(size=5), lr=float(_rng.uniform(0.1, 1.0)), num_workers=_n, staleness_bound=_s)
    _outcomes = []
    _step = [0] * _n
    _phase = ["pull"] * _n
    for _call in range(40):  # a random interleaving of the workers' pull and push calls
        _w = int(_rng.integers(_n))
        if _phase[_w] == "pull":
            _reply = _server.pull(_w, _step[_w])
            _outcomes.append(-1.0 if _reply is None else float(_reply[1]))
            if _reply is not None:
                _phase[_w] = "push"
        else:
            _reply = _server.push(_w, _step[_w], _rng.normal(size=5))
            _outcomes.append(-1.0 if _reply is None else float(_reply))
            if _reply is not None:
                _phase[_w], _step[_w] = "pull", _step[_w] + 1
    _example = f"{_n} workers, staleness bound {_s}"
    report(f"async_outcomes_{_case}", _outcomes, check=_interleave_check, example=_example)
    report(f"async_parameters_{_case}", _server.get_parameters(), rtol=1e-10, atol=1e-12, check=_interleave_check,
           example=_example)


class _ObservedServer(ParameterServer):
    """The student's server; counts the pushes it accepted and notes each read it allowed."""

    def __init__(self, parameters, lr, num_workers, staleness_bound=0):
        super().__init__(parameters, lr, num_workers, staleness_bound)
        self._accepted = [0] * num_workers
        self._reads = []   # (worker, step, staleness by the accepted pushes)

    def pull(self, worker, step):
        _reply = super().pull(worker, step)
        if _reply is not None:
            self._reads.append((int(worker), int(step), int(step) - min(self._accepted)))
        return _reply

    def push(self, worker, step, gradient):
        _reply = super().push(worker, step, gradient)
        if _reply is not None:
            self._accepted[worker] += 1
        return _reply

    def observed(self):
        return self._reads, self._accepted


def _gradient(theta, X, y):
    """Softmax cross-entropy gradient of flat parameters (the test's own copy)."""
    _W, _b = theta[:640].reshape(64, 10), theta[640:]
    _logits = X @ _W + _b
    _p = _np.exp(_logits - _logits.max(axis=1, keepdims=True))
    _p /= _p.sum(axis=1, keepdims=True)
    _p[_np.arange(len(y)), y] -= 1.0
    _p /= len(y)
    return _np.concatenate([(X.T @ _p).ravel(), _p.sum(axis=0)])


@_ray.remote
def _async_worker(server, X, y, rank, workers, batch_size, steps, delay_s):
    """Pull, compute, push, as async_worker does; returns the staleness the server reported."""
    _reported = []
    for _k in range(steps):
        while (_reply := _ray.get(server.pull.remote(rank, _k))) is None:
            _time.sleep(0.0005)
        _theta, _stale = _reply
        _reported.append(_stale)
        _rows = _np.arange(batch_size) + ((_k * workers + rank) * batch_size) % (len(X) - batch_size)
        _g = _gradient(_np.asarray(_theta, dtype=float), X[_rows], y[_rows])
        _time.sleep(delay_s)
        while _ray.get(server.push.remote(rank, _k, _g)) is None:
            _time.sleep(0.0005)
    return _reported


_X, _y = _load_digits("train")
_steps, _bound = 15, 1
_async_server = _ray.remote(_ObservedServer).remote(_np.zeros(650), 0.3, 2, _bound)
try:
    _data = _ray.put(_X.astype(_np.float64)), _ray.put(_y)
    _runs = _ray.get([_async_worker.remote(_async_server, *_data, _r, 2, 8, _steps, _delay)
                      for _r, _delay in enumerate([0.0, 0.01])])
    _reads, _accepted = _ray.get(_async_server.observed.remote())
finally:
    _ray.kill(_async_server)
_observed = _np.full((2, _steps), _np.nan)
for _w, _k, _stale in _reads:
    if 0 <= _w < 2 and 0 <= _k < _steps:
        _observed[_w, _k] = _stale
_reported = _np.full((2, _steps), _np.nan)
for _w, _run in enumerate(_runs):
    for _k, _stale in enumerate(list(_run)[:_steps]):
        _reported[_w, _k] = float(_stale)
# reads allowed and pushes accepted, per worker: every step once
report("train_async_served", [*_np.bincount([_w for _w, _, _ in _reads], minlength=2)[:2], *_accepted],
       check=_bound_check)
report("train_async_observed_staleness", _observed, rule=Rule.bounds(0, _bound), check=_bound_check)
report("train_async_staleness", _reported, rule=Rule.near("train_async_observed_staleness", atol=0),
       check=_bound_check)
### END HIDDEN TESTS

# %% [markdown]
# How does staleness change training? Below, two workers train asynchronously, one of
# them slow, for staleness bounds 0, 2 and 8; each run is compared with synchronous
# training over the same steps. Run it (the numbers change from run to run: that is
# what asynchrony means).

# %% [code]
if GRADING:
    print("Staleness against the bound: skipped while grading (a demonstration, no points).")
else:
    steps_async = 40
    theta_start = init_parameters(seed=3)
    theta_reference, _, _ = train_sync(X_digits, y_digits, theta_start, workers=2, batch_size=16, lr=0.8, steps=steps_async)
    drift = {}
    for bound in [0, 2, 8]:
        with checking("train_async"):
            theta_async, runs = train_async(X_digits, y_digits, theta_start, workers=2, batch_size=16, lr=0.8,
                                            steps=steps_async, staleness_bound=bound, delays=[0.0, 0.004])
        drift[bound] = (np.linalg.norm(theta_async - theta_reference), loss_and_gradient(theta_async, X_digits, y_digits)[0],
                        np.mean(runs[0]), max(max(r) for r in runs))
        print(f"bound {bound:2}: mean staleness of the fast worker {drift[bound][2]:5.2f}, max {drift[bound][3]:2}, "
              f"distance from synchronous {drift[bound][0]:.3f}, loss {drift[bound][1]:.4f}")
    fig, ax = plt.subplots()
    ax.plot(list(drift), [d[0] for d in drift.values()], "o-")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("staleness bound s")
    ax.set_ylabel("|theta_async - theta_sync|")
    ax.set_title("asynchronous training drifts from the synchronous path as s grows")
    plt.show()

# %% [markdown]
# With $s = 0$ the fast worker waits for the slow one at every step and the result is the
# synchronous one (up to rounding). As $s$ grows, the fast worker runs ahead on
# parameters that miss the slow worker's recent gradients: less waiting, more drift.
#
# ## Part 4. Ring all-reduce, by hand
#
# A parameter server is a hot spot: every gradient goes in and out of it. An
# **all-reduce** leaves every worker with the sum of all workers' vectors, without a
# server. The **ring** version: the $N$ workers sit in a ring, each sends only to its
# right neighbour $r + 1$, and each vector is cut into $N$ chunks (`chunk_bounds`).
#
# * **Reduce-scatter**, $N - 1$ steps: in step $s$ worker $r$ sends chunk $(r - s) \bmod N$;
#   its neighbour *adds* it into its own copy of that chunk. After $N - 1$ steps worker $r$
#   holds the complete sum of chunk $(r + 1) \bmod N$.
# * **All-gather**, $N - 1$ steps: in step $s$ worker $r$ sends chunk $(r + 1 - s) \bmod N$
#   (a finished sum); the neighbour *overwrites* its copy. Afterwards everyone has
#   every summed chunk.
#
# Each worker sends $2(N - 1)$ chunks of about $n/N$ elements: $2\frac{N-1}{N}n$ elements in
# all, *less than twice the vector whatever $N$ is*. The server's traffic, in contrast,
# grows with $N$. That is why the ring is bandwidth-optimal.
#
# Write, with the names in the cell:
#
# * `chunk_to_send(phase, rank, step, n)` and `ring_schedule(n)`, the list of
#   `(phase, step)` pairs in order: the $N - 1$ reduce-scatter steps, then the $N - 1$
#   all-gather steps;
# * the class `RingWorker` (an actor via `RemoteRingWorker`): `load(array)` keeps a float64
#   copy as its buffer and zeroes `bytes_sent`; `begin(rank, n)` takes its place, cuts the
#   buffer into chunks and returns its first message; a **message** is the pair
#   `(chunk index, copy of that chunk's values)`, and sending one adds `values.nbytes` to
#   `bytes_sent`; `receive(position, message)` adds or copies the left neighbour's
#   message into its chunk according to the phase of `ring_schedule(n)[position]`, and
#   returns its own message for the next position (`None` after the last);
# * `ring_allreduce(workers, arrays)`: load `arrays[r]` into `workers[r]`, call `begin`
#   on each, then for each position hand worker $r$ the message that worker $r - 1$
#   returned (pass the refs: the driver never waits in the loop), and return every
#   worker's buffer. It must work for any $N \ge 1$ and any length, also shorter than $N$.

# %% [solution id=ring_allreduce]
REDUCE_SCATTER, ALL_GATHER = "reduce-scatter", "all-gather"


def chunk_to_send(phase, rank, step, n):
    """Index of the chunk worker `rank` sends in `step` of `phase`."""
    ### BEGIN SOLUTION
    if phase == REDUCE_SCATTER:
        return (rank - step) % n
    return (rank + 1 - step) % n
    ### END SOLUTION


def ring_schedule(n):
    """The (phase, step) pairs of a ring of n, in order."""
    ### BEGIN SOLUTION
    return [(REDUCE_SCATTER, step) for step in range(n - 1)] + [(ALL_GATHER, step) for step in range(n - 1)]
    ### END SOLUTION


class RingWorker:
    """One member of the ring: a buffer cut into chunks, and the messages it exchanges."""

    def load(self, array):
        ### BEGIN SOLUTION
        self.buffer = np.array(array, dtype=np.float64).reshape(-1)
        self.bytes_sent = 0
        ### END SOLUTION

    def begin(self, rank, n):
        """Take place `rank` in a ring of n; return the first message (None if there is none)."""
        ### BEGIN SOLUTION
        self.rank, self.n = rank, n
        self.bounds = chunk_bounds(self.buffer.size, n)
        self.plan = ring_schedule(n)
        return self._message(0)
        ### END SOLUTION

    def _message(self, position):
        """(chunk index, copy of its values) to send at `position` of the plan; None after the last."""
        ### BEGIN SOLUTION
        if position >= len(self.plan):
            return None
        phase, step = self.plan[position]
        index = chunk_to_send(phase, self.rank, step, self.n)
        start, stop = self.bounds[index]
        values = self.buffer[start:stop].copy()
        self.bytes_sent += values.nbytes
        return index, values
        ### END SOLUTION

    def receive(self, position, message):
        """Add (reduce-scatter) or copy (all-gather) the left neighbour's chunk; return the next message."""
        ### BEGIN SOLUTION
        index, values = message
        start, stop = self.bounds[index]
        phase, _ = self.plan[position]
        if phase == REDUCE_SCATTER:
            self.buffer[start:stop] += values
        else:
            self.buffer[start:stop] = values
        return self._message(position + 1)
        ### END SOLUTION

    def result(self):
        return self.buffer.copy()

    def sent(self):
        return self.bytes_sent


RemoteRingWorker = ray.remote(RingWorker)


def ring_allreduce(workers, arrays):
    """Sum arrays[0] + ... + arrays[N-1] with a ring of the N actors `workers`; every worker's result."""
    ### BEGIN SOLUTION
    n = len(workers)
    ray.get([worker.load.remote(array) for worker, array in zip(workers, arrays)])
    messages = [worker.begin.remote(rank, n) for rank, worker in enumerate(workers)]
    for position in range(len(ring_schedule(n))):
        messages = [worker.receive.remote(position, messages[(rank - 1) % n]) for rank, worker in enumerate(workers)]
    return ray.get([worker.result.remote() for worker in workers])
    ### END SOLUTION

# %% [locked id=ring_pool]
# Four ring members, started once and reused by every ring below (an actor costs a process).
ring_pool = [RemoteRingWorker.remote() for _ in range(4)]

# %% [tests id=test_ring_allreduce points=8]
with checking("chunk_to_send and ring_schedule"):
    expect_equal("ring_schedule(3)", list(ring_schedule(3)),
                 [(REDUCE_SCATTER, 0), (REDUCE_SCATTER, 1), (ALL_GATHER, 0), (ALL_GATHER, 1)])
    expect_equal("chunks sent by rank 0 of 3 in reduce-scatter steps 0, 1",
                 [chunk_to_send(REDUCE_SCATTER, 0, s, 3) for s in range(2)], [0, 2])
    expect_equal("chunks sent by rank 0 of 3 in all-gather steps 0, 1",
                 [chunk_to_send(ALL_GATHER, 0, s, 3) for s in range(2)], [1, 0])
with checking("ring_allreduce"):
    arrays = [np.arange(5.0) * (r + 1) for r in range(3)]
    results = ring_allreduce(ring_pool[:3], arrays)
for r, got in enumerate(results):
    expect_close(f"worker {r}'s result for 3 workers and 5 elements", got, [0.0, 6.0, 12.0, 18.0, 24.0])
with checking("ring_allreduce"):
    expect_close("2 elements over 4 workers (two chunks are empty)",
                 ring_allreduce(ring_pool, [np.array([1.0, -1.0])] * 4)[3], [4.0, -4.0])
### BEGIN HIDDEN TESTS
# The ring runs on this test's own members: the student's RingWorker objects held by an actor
# of the test, which notes every message a member receives (position, the sender's place,
# chunk, bytes, values). The grader compares that log with the reference's: each member hears
# only its left neighbour, N - 1 reduce-scatter and N - 1 all-gather steps, the chunks and the
# partial sums of a ring.
import numpy as _np
import ray as _ray
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_rng = grading_rng("test_ring_allreduce")
_ring_sum_check = Check("ring_allreduce", "rings of 1-4 workers on random arrays of 1 to 79 elements (every "
                                          "worker's result)",
                        hint="after N - 1 reduce-scatter steps (adding partial sums) and N - 1 all-gather steps "
                             "(passing on finished sums) every worker holds the sum of all arrays, for any N >= 1 and "
                             "arrays shorter than N.")
_ring_path_check = Check("ring_allreduce", "logs of the messages the members of rings of 1-4 workers received",
                         hint="the chunks travel around the ring: at each position every member receives the message "
                              "its left neighbour returned; reduce-scatter passes on partial sums, all-gather passes "
                              "on finished sums.")
_send_check = {REDUCE_SCATTER: Check("chunk_to_send", "(rank, step) pairs of the reduce-scatter in a ring of 5",
                                     hint="reduce-scatter: each worker first sends its own chunk, then always passes "
                                          "on the chunk it has just added its values into (one index lower each "
                                          "step)."),
               ALL_GATHER: Check("chunk_to_send", "(rank, step) pairs of the all-gather in a ring of 5",
                                 hint="after N - 1 reduce-scatter steps come N - 1 all-gather steps, which send "
                                      "finished sums: a worker starts with the chunk whose sum it completed, then "
                                      "passes on the chunk it has just received.")}


class _Sent(tuple):
    """A ring message as a member returned it, stamped with the place of the member that sent it."""


class _RingHost:
    """The test's ring: four of the student's RingWorker objects in one actor (one process for
    the test, not four), reached through _Member handles, one per place. The host notes every
    message a member receives: position, the sender's place, chunk, bytes and values."""

    def __init__(self, size):
        self._members = [RingWorker() for _ in range(size)]
        self.forget()

    def forget(self):
        self._heard = [[] for _ in self._members]
        self._values = [[] for _ in self._members]

    def heard(self):
        return [(_rows, _np.concatenate(_v) if _v else _np.zeros(0)) for _rows, _v in zip(self._heard, self._values)]

    def _stamp(self, message, index):
        if isinstance(message, (tuple, list)):
            message = _Sent(message)
            message.origin = index
        return message

    def call(self, index, name, *args, **kwargs):
        if name == "receive":
            _position = args[0] if args else kwargs.get("position")
            _message = args[1] if len(args) > 1 else kwargs.get("message")
            _origin = getattr(_message, "origin", -1)
            try:
                _chunk, _values = _message
                _values = _np.asarray(_values)
                self._heard[index].append([float(_position), float(_origin), float(_chunk), float(_values.nbytes)])
                self._values[index].append(_np.asarray(_values, dtype=float).ravel())
            except (TypeError, ValueError):
                self._heard[index].append([float(_position), float(_origin), -1.0, -1.0])
            if isinstance(_message, tuple):   # the member gets the plain pair its neighbour sent
                args = tuple(tuple(_a) if _a is _message else _a for _a in args)
                kwargs = {_k: tuple(_a) if _a is _message else _a for _k, _a in kwargs.items()}
        _result = getattr(self._members[index], name)(*args, **kwargs)
        return self._stamp(_result, index) if name in ("begin", "receive") else _result


class _Method:
    def __init__(self, host, index, name):
        self._host, self._index, self._name = host, index, name

    def remote(self, *args, **kwargs):
        return self._host.call.remote(self._index, self._name, *args, **kwargs)


class _Member:
    """Stands for the student's object `index` in the test's host actor: obj.method.remote(...) runs there."""

    def __init__(self, host, index):
        self._host, self._index = host, index

    def __getattr__(self, name):   # any method of the student's class, helpers included
        if name.startswith("__") or name in ("_host", "_index"):
            raise AttributeError(name)
        return _Method(self._host, self._index, name)


_host = _ray.remote(_RingHost).remote(4)
_ring = [_Member(_host, _place) for _place in range(4)]
try:
    for _n in (1, 2, 3, 4):
        for _k, _size in enumerate((1, 3, int(_rng.integers(5, 40)) * 2 + 1)):
            _arrays = [_rng.normal(size=_size) for _ in range(_n)]
            _ray.get(_host.forget.remote())
            _example = f"{_n} worker{'s' if _n > 1 else ''}, arrays of {_size} element{'s' if _size > 1 else ''}"
            report(f"ring_{_n}_workers_size_{_k}", _np.stack(ring_allreduce(_ring[:_n], _arrays)),
                   rtol=1e-12, atol=1e-12, check=_ring_sum_check, example=_example)
            _heard = _ray.get(_host.heard.remote())[:_n]
            # one row per message received: receiver, position, sender, chunk, bytes
            report(f"ring_messages_{_n}_size_{_k}",
                   _np.array([[_r, *_row] for _r, (_rows, _) in enumerate(_heard) for _row in _rows],
                             dtype=float).reshape(-1, 5), check=_ring_path_check, example=_example)
            report(f"ring_message_values_{_n}_size_{_k}", _np.concatenate([_v for _, _v in _heard]),
                   rtol=1e-12, atol=1e-12, check=_ring_path_check, example=_example)
finally:
    _ray.kill(_host)
for _phase in (REDUCE_SCATTER, ALL_GATHER):
    report(f"chunk_to_send_{_phase}", [chunk_to_send(_phase, _r, _s, 5) for _r in range(5) for _s in range(4)],
           check=_send_check[_phase])
### END HIDDEN TESTS

# %% [markdown]
# Now count the traffic. For $N = 1, \dots, 4$ workers and a vector of 1000 float64
# numbers, the cell below plots the bytes each worker sent against
# $2\frac{N-1}{N} \times 8000$ bytes. Then write `ring_bytes_sent(workers, arrays)`: run
# the all-reduce and return the list of `bytes_sent` of every worker.

# %% [solution id=ring_bytes]
def ring_bytes_sent(workers, arrays):
    """Bytes each worker sent during ring_allreduce(workers, arrays)."""
    ### BEGIN SOLUTION
    ring_allreduce(workers, arrays)
    return ray.get([worker.sent.remote() for worker in workers])
    ### END SOLUTION

# %% [tests id=test_ring_bytes points=3]
with checking("ring_bytes_sent"):
    sent = ring_bytes_sent(ring_pool[:4], [np.ones(1000)] * 4)
expect_equal("bytes each of 4 workers sends for 1000 float64 (2 * 3/4 * 8000)", list(sent), [12000] * 4)
### BEGIN HIDDEN TESTS
# The bytes are counted by the test: the ring runs on this test's members (the student's
# RingWorker objects held by an actor of the test, which notes the size of every message a
# member receives and from whom); the bytes each member sent are what its neighbour received
# from it. Both counts, reported and observed, are compared with the reference's.
import numpy as _np
import ray as _ray
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_rng = grading_rng("test_ring_bytes")
_counted_check = Check("ring_bytes_sent", "rings of 1-4 workers, as the workers counted them",
                       hint="each worker sends 2(N - 1) chunks of about n/N elements; a message adds its values' "
                            "nbytes to bytes_sent, and load starts the count again from 0.")
_travelled_check = Check("ring_bytes_sent", "rings of 1-4 workers, counted at the receiving end",
                         hint="the bytes must really travel around the ring: every chunk a worker sends reaches its "
                              "right neighbour's receive, passed on by ring_allreduce.")


# _Sent, _RingHost, _Member and _Method: the test's ring from test_ring_allreduce's hidden
# block (a student cell that rebinds or edits one of them voids this test).
_host = _ray.remote(_RingHost).remote(4)
_ring = [_Member(_host, _place) for _place in range(4)]
try:
    for _n in (1, 2, 3, 4):
        _size = int(_rng.integers(1, 200))
        _ray.get(_host.forget.remote())
        _example = f"{_n} worker{'s' if _n > 1 else ''}, arrays of {_size} float64"
        report(f"ring_bytes_{_n}", ring_bytes_sent(_ring[:_n], [_rng.normal(size=_size) for _ in range(_n)]),
               check=_counted_check, example=_example)
        _sent = [0.0] * _n
        for _rows, _ in _ray.get(_host.heard.remote())[:_n]:
            for _position, _origin, _index, _bytes in _rows:
                if 0 <= _origin < _n:
                    _sent[int(_origin)] += _bytes
        report(f"ring_bytes_observed_{_n}", _sent, check=_travelled_check, example=_example)
finally:
    _ray.kill(_host)
### END HIDDEN TESTS

# %% [code]
elements = 1000
with checking("ring_bytes_sent"):
    traffic = {n: ring_bytes_sent(ring_pool[:n], [np.ones(elements)] * n) for n in (1, 2, 3, 4)}
counts = list(traffic)
fig, ax = plt.subplots()
ax.plot(counts, [max(traffic[n]) for n in counts], "o", markersize=9, label="measured, per worker")
ax.plot(counts, [2 * (n - 1) / n * elements * 8 for n in counts], "--", label="2 (N-1)/N x 8000 bytes")
ax.axhline(2 * elements * 8, color="0.6", linestyle=":", label="the limit: twice the vector")
ax.set_xlabel("workers N")
ax.set_ylabel("bytes sent by each worker")
ax.set_xticks(counts)
ax.legend()
ax.set_title("ring all-reduce traffic per worker stays below 2x the vector")
plt.show()

# %% [markdown]
# ## Part 5. The production path: Ray Train and PyTorch DDP
#
# In practice nobody writes the ring: PyTorch's `DistributedDataParallel` (DDP) all-reduces
# gradients during `backward()` (bucket by bucket, overlapping communication with
# computation, with NCCL between GPUs), and **Ray Train** starts one process per worker,
# forms the process group and hands out the shards. The course library wraps it as
# `gradkit.distributed.trainer.train(model_fn, (X, y), strategy="ddp", workers=N)`. Our softmax
# regression is `mlp_factory((64, 10))`, a single `Linear(64, 10)` layer.
#
# Starting Ray Train takes about 15 seconds, so the cell below runs only when you run
# the notebook yourself; while the notebook is graded (or validated) it prints that it
# was skipped. It earns no points: look at the numbers.
#
# On a laptop DDP's samples/s may well be *below* those of your parameter server: for a
# model this small a step is dominated by fixed costs, and DDP's advantages (overlap,
# NCCL, no hot spot) pay off for large models on GPUs.

# %% [code]
if GRADING:
    print("Your parameter server vs Ray Train and DDP: skipped while grading (a demonstration, no points).")
else:
    with checking("train_sync"):
        _, _, seconds = train_sync(X_digits, y_digits, init_parameters(), workers=2, batch_size=16, lr=0.5, steps=40)
    throughput = {"your parameter server": 2 * 16 * 40 / seconds}
    from gradkit.distributed.examples import mlp_factory
    from gradkit.distributed.trainer import train

    ddp = train(mlp_factory((64, 10)), (X_digits.astype(np.float32), y_digits), strategy="ddp", workers=2,
                epochs=2, batch_size=16, lr=0.5)
    print(f"DDP: start-up {ddp.startup_s:.1f} s on {ddp.device}; loss per epoch "
          f"{[round(h['loss'], 3) for h in ddp.history]}")
    throughput["Ray Train + DDP"] = ddp.history[-1]["samples_per_s"]
    for name, value in throughput.items():
        print(f"{name:24} {value:8.0f} samples/s")
    fig, ax = plt.subplots()
    ax.bar(list(throughput), list(throughput.values()))
    ax.set_ylabel("samples/s (2 workers, batch 16 each)")
    plt.show()

# %% [markdown]
# ## Part 6. Model parallelism: a pipeline of stages
#
# When a model does not fit on one device, cut it into **stages**, consecutive groups of
# layers, each on its own device (here: its own actor). A forward pass flows through
# stage 0, then stage 1; the backward pass flows back. Naively, with one batch in
# flight, only one stage works at a time. **GPipe** cuts the batch into $m$
# micro-batches: stage 0 runs the forward of micro-batch $i+1$ while stage 1 runs that of
# $i$, then all backwards follow. Parameter gradients **accumulate** over the
# micro-batches, and the optimiser steps once, so the result is the gradient of the
# whole batch, provided each micro-batch's mean loss is weighted by its share of the
# batch, $|B_i| / |B|$.
#
# With $p$ equally expensive stages, the fraction of time a stage idles (the **bubble**) is
#
# $$\text{bubble} = \frac{p - 1}{m + p - 1},$$
#
# one half for $p = 2$ without micro-batches, shrinking as $m$ grows.
#
# Write the class `Stage` (an actor via `RemoteStage`), holding a float64 `torch` module
# (given to it by `load`, so that two stage actors serve every experiment below):
#
# * `forward(micro_batch, inputs, targets=None, weight=1.0)`: turn `inputs` into a
#   tensor that requires a gradient (a *copy*: arrays from the object store are
#   read-only), run the module; on the last stage (`targets` given) compute
#   `F.cross_entropy(outputs, targets) * weight`. Save what backward needs under
#   `micro_batch`, record an event (below), and return the outputs as a NumPy array (the
#   weighted loss as a float on the last stage);
# * `backward(micro_batch, grad_output=None)`: backpropagate the saved micro-batch
#   (`grad_output is None` on the last stage: its output is the loss), letting the
#   parameter gradients **add up**, record an event, and return the gradient of the
#   stage's input as a NumPy array;
# * `zero_grad()`, `gradients()` (the parameters' `.grad` as NumPy arrays, in order).
#
# An **event** is `(stage index, "F" or "B", micro-batch, start, end)` with `time.time()`
# seconds. Then `pipeline_step(stages, X, y, micro_batches)`: zero the gradients, cut
# the batch into `micro_batches` pieces with `chunk_bounds`, submit every forward (each
# stage's output ref goes to the next stage; the last stage gets the targets and the
# weight) and then every backward, last micro-batch first, and return the total loss.
# Ray runs each stage's calls in the order you submit them and starts each when its input
# exists: the pipelining happens by itself.

# %% [solution id=pipeline]
class Stage:
    """One pipeline stage: a float64 torch module, what backward needs, and a timeline."""

    def __init__(self, index):
        torch.set_num_threads(1)
        self.index = index

    def load(self, module):
        """Take a (new) module: the same actor serves several experiments (an actor costs a process)."""
        self.module = module.double()
        self.saved = {}   # micro-batch -> (input tensor, output or weighted loss)
        self.events = []

    def forward(self, micro_batch, inputs, targets=None, weight=1.0):
        ### BEGIN SOLUTION
        start = time.time()
        inputs = torch.tensor(inputs, dtype=torch.float64, requires_grad=True)
        outputs = self.module(inputs)
        if targets is not None:
            outputs = F.cross_entropy(outputs, torch.tensor(targets)) * weight
        self.saved[micro_batch] = (inputs, outputs)
        result = float(outputs.detach()) if targets is not None else outputs.detach().numpy()
        self.events.append((self.index, "F", micro_batch, start, time.time()))
        return result
        ### END SOLUTION

    def backward(self, micro_batch, grad_output=None):
        ### BEGIN SOLUTION
        start = time.time()
        inputs, outputs = self.saved.pop(micro_batch)
        if grad_output is None:
            outputs.backward()
        else:
            outputs.backward(torch.tensor(grad_output))
        self.events.append((self.index, "B", micro_batch, start, time.time()))
        return inputs.grad.numpy()
        ### END SOLUTION

    def zero_grad(self):
        ### BEGIN SOLUTION
        self.module.zero_grad(set_to_none=True)
        ### END SOLUTION

    def gradients(self):
        ### BEGIN SOLUTION
        return [p.grad.detach().numpy().copy() for p in self.module.parameters()]
        ### END SOLUTION

    def take_events(self):
        events, self.events = self.events, []
        return events


RemoteStage = ray.remote(Stage)


def pipeline_step(stages, X, y, micro_batches):
    """Forward and backward of the batch (X, y) through `stages` in `micro_batches` pieces (GPipe)."""
    ### BEGIN SOLUTION
    for stage in stages:
        stage.zero_grad.remote()
    pieces = chunk_bounds(len(X), micro_batches)
    last = len(stages) - 1
    loss_refs = []
    for i, (start, stop) in enumerate(pieces):
        activation = ray.put(np.asarray(X[start:stop], dtype=np.float64))
        for k, stage in enumerate(stages):
            if k == last:
                activation = stage.forward.remote(i, activation, y[start:stop], (stop - start) / len(X))
                loss_refs.append(activation)
            else:
                activation = stage.forward.remote(i, activation)
    backward_refs = []
    for i in reversed(range(len(pieces))):
        grad = None
        for stage in reversed(stages):
            grad = stage.backward.remote(i, grad)
            backward_refs.append(grad)
    ray.get(backward_refs)  # the step is done when every backward is
    return float(sum(ray.get(loss_refs)))
    ### END SOLUTION

# %% [markdown]
# The visible test compares the pipeline's gradients with one ordinary backward pass of
# the whole model in this process (torch's autograd is the oracle).

# %% [locked id=pipeline_model]
def two_stage_mlp(widths=(64, 32, 32, 10), seed=0):
    """An MLP as two nn.Sequential stages: [Linear, ReLU] and [Linear, ReLU, Linear], float64."""
    torch.manual_seed(seed)
    first = torch.nn.Sequential(torch.nn.Linear(widths[0], widths[1]), torch.nn.ReLU()).double()
    second = torch.nn.Sequential(torch.nn.Linear(widths[1], widths[2]), torch.nn.ReLU(),
                                 torch.nn.Linear(widths[2], widths[3])).double()
    return first, second


def whole_model_gradients(first, second, X, y):
    """Gradients of the mean cross-entropy of the two stages run as one model, in this process."""
    model = torch.nn.Sequential(*first, *second)
    model.zero_grad()
    F.cross_entropy(model(torch.as_tensor(X, dtype=torch.float64)), torch.as_tensor(y)).backward()
    return [p.grad.numpy().copy() for p in model.parameters()]


def pipeline_gradients(stages):
    return [g for part in ray.get([stage.gradients.remote() for stage in stages]) for g in part]


def load_stages(stages, modules):
    """Give stage k the module modules[k] (and wait until they have it)."""
    ray.get([stage.load.remote(module) for stage, module in zip(stages, modules)])


# Two stage actors, started once and reused below.
stage_pool = [RemoteStage.remote(0), RemoteStage.remote(1)]

# %% [tests id=test_pipeline points=6]
first, second = two_stage_mlp()
X_pipe, y_pipe = X_digits[:40], y_digits[:40]
expected = whole_model_gradients(first, second, X_pipe, y_pipe)
with checking("Stage and pipeline_step"):
    stages = stage_pool
    load_stages(stages, [first, second])
    for m in (1, 3):
        loss = pipeline_step(stages, X_pipe, y_pipe, micro_batches=m)
        got = pipeline_gradients(stages)
        expect_equal(f"number of gradients with {m} micro-batches", len(got), len(expected))
        for k, (g, e) in enumerate(zip(got, expected)):
            expect_close(f"gradient of parameter {k} with {m} micro-batches vs one backward pass", g, e, rtol=1e-9, atol=1e-12)
    with torch.no_grad():
        whole_loss = F.cross_entropy(torch.nn.Sequential(*first, *second)(torch.as_tensor(X_pipe)), torch.as_tensor(y_pipe))
    expect_close("the pipeline's loss is the whole batch's mean loss", loss, float(whole_loss))
### BEGIN HIDDEN TESTS
# The pipeline runs on this test's own stages: the student's Stage objects held by an actor of
# the test, which notes every forward and backward call a stage runs (in order) with the
# micro-batch's rows. The grader compares that schedule with the reference's (on each stage
# every forward of the micro-batches, then every backward), besides the loss and the gradients.
import numpy as _np
import ray as _ray
import torch as _torch
from gradkit.data import load_digits as _load_digits
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_pipe_loss_check = Check("Stage and pipeline_step", "steps with 1, 2 and 5 micro-batches (the total loss)",
                         hint="weight each micro-batch's mean loss by its share |B_i| / |B| of the batch, and let the "
                              "parameter gradients add up over all micro-batches of a step (zeroed once, at its "
                              "start): loss and gradients are then the whole batch's.")
_pipe_grad_check = Check("Stage and pipeline_step", "steps with 1, 2 and 5 micro-batches (all parameter gradients)",
                         hint="parameter gradients must add up over all micro-batches of a step (zeroed once, at its "
                              "start), each micro-batch's loss weighted by its share, to give the whole batch's "
                              "gradient.")
_pipe_schedule_check = Check("pipeline_step", "schedules of steps with 1, 2 and 5 micro-batches",
                             hint="GPipe: cut the batch into micro_batches pieces with chunk_bounds, submit every "
                                  "forward of every piece, then every backward (last micro-batch first).")


class _StageHost:
    """The test's pipeline: the student's Stage objects in one actor of the test (one process,
    not one per stage), reached through _Member handles; notes each call a stage runs, in
    the order it runs them: [0 forward / 1 backward, rows]."""

    def __init__(self, count):
        self._stages = [Stage(_k) for _k in range(count)]
        self._calls = [[] for _ in self._stages]

    @staticmethod
    def _rows(array):
        try:
            return float(len(array))
        except TypeError:
            return -1.0

    def call(self, index, name, *args, **kwargs):
        if name == "forward":
            self._calls[index].append([0.0, self._rows(args[1] if len(args) > 1 else kwargs.get("inputs"))])
        elif name == "backward":
            _grad = args[1] if len(args) > 1 else kwargs.get("grad_output")
            self._calls[index].append([1.0, 0.0 if _grad is None else self._rows(_grad)])
        return getattr(self._stages[index], name)(*args, **kwargs)

    def take_calls(self):
        _calls, self._calls = self._calls, [[] for _ in self._stages]
        return _calls


# _Member and _Method, handles on the objects a host actor holds: from test_ring_allreduce's hidden
# block (a student cell that rebinds or edits them voids this test).


_rng = grading_rng("test_pipeline")
_torch.manual_seed(int(_rng.integers(2**31)))
_first = _torch.nn.Sequential(_torch.nn.Linear(64, 24), _torch.nn.ReLU()).double()
_second = _torch.nn.Sequential(_torch.nn.Linear(24, 16), _torch.nn.ReLU(), _torch.nn.Linear(16, 10)).double()
_X, _y = _load_digits("train")
_rows = _rng.choice(len(_X), size=int(_rng.integers(20, 50)), replace=False)
_X, _y = _X[_rows].astype(_np.float64), _y[_rows]
_host = _ray.remote(_StageHost).remote(2)
_stages = [_Member(_host, _k) for _k in range(2)]
try:
    _ray.get([_s.load.remote(_module) for _s, _module in zip(_stages, [_first, _second])])
    for _m in (1, 2, 5):
        _loss = pipeline_step(_stages, _X, _y, micro_batches=_m)
        _example = f"a batch of {len(_X)} digits in {_m} micro-batch{'es' if _m > 1 else ''}"
        report(f"pipeline_loss_{_m}", _loss, rtol=1e-9, atol=1e-12, check=_pipe_loss_check, example=_example)
        _gradients = [_g for _part in _ray.get([_s.gradients.remote() for _s in _stages]) for _g in _part]
        report(f"pipeline_gradients_{_m}", _np.concatenate([_np.asarray(_g, dtype=float).ravel() for _g in _gradients]),
               rtol=1e-8, atol=1e-11, check=_pipe_grad_check, example=_example)
        _calls = [_np.array(_c, dtype=float).reshape(-1, 2) for _c in _ray.get(_host.take_calls.remote())]
        # per stage: forward (0) / backward (1) in the order the stage ran them
        report(f"pipeline_schedule_{_m}", _np.concatenate([_c[:, 0] for _c in _calls]), check=_pipe_schedule_check,
               example=_example)
        # per stage: the rows of each micro-batch it ran forward, smallest first
        report(f"pipeline_micro_batches_{_m}", _np.concatenate([_np.sort(_c[_c[:, 0] == 0, 1]) for _c in _calls]),
               check=_pipe_schedule_check, example=_example)
finally:
    _ray.kill(_host)
### END HIDDEN TESTS

# %% [markdown]
# Now measure the bubble. Write `bubble_fraction(events, stages)`: the fraction of the
# area *stages x (last end - first start)* in which no stage was computing,
# $1 - \frac{\sum_{\text{events}} (\text{end} - \text{start})}{p \cdot \text{span}}$ (0 when the span is 0),
# and `theoretical_bubble(stages, micro_batches)` $= \frac{p-1}{m+p-1}$.

# %% [solution id=bubble]
def bubble_fraction(events, stages):
    """Idle fraction of the stages over the span of the events (stage, kind, micro_batch, start, end)."""
    ### BEGIN SOLUTION
    start = min(e[3] for e in events)
    span = max(e[4] for e in events) - start
    busy = sum(e[4] - e[3] for e in events)
    return 1.0 - busy / (stages * span) if span > 0 else 0.0
    ### END SOLUTION


def theoretical_bubble(stages, micro_batches):
    """GPipe's idle fraction (p - 1) / (m + p - 1)."""
    ### BEGIN SOLUTION
    return (stages - 1) / (micro_batches + stages - 1)
    ### END SOLUTION

# %% [tests id=test_bubble points=3]
with checking("bubble_fraction and theoretical_bubble"):
    expect_close("theoretical_bubble(2, 1)", theoretical_bubble(2, 1), 0.5)
    expect_close("theoretical_bubble(4, 8)", theoretical_bubble(4, 8), 3 / 11)
    naive = [(0, "F", 0, 0.0, 1.0), (1, "F", 0, 1.0, 2.0), (1, "B", 0, 2.0, 3.0), (0, "B", 0, 3.0, 4.0)]
    expect_close("bubble of a naive 2-stage step: each stage busy 2 of 4 seconds", bubble_fraction(naive, 2), 0.5)
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_rng = grading_rng("test_bubble")
report("theoretical_bubble", [theoretical_bubble(_p, _m) for _p in (1, 2, 3, 5) for _m in (1, 2, 4, 8)], rtol=1e-12,
       check=Check("theoretical_bubble", "(stages, micro-batches) pairs, stages 1-5 and micro-batches 1-8",
                   hint="GPipe's idle fraction for p equally expensive stages and m micro-batches, the formula of "
                        "Part 6: one half for p = 2 without micro-batches, shrinking as m grows."))
_events = [(int(_rng.integers(3)), "F", _k, _s, _s + _d) for _k, (_s, _d) in
           enumerate(zip(_rng.uniform(0, 5, size=9), _rng.uniform(0, 1, size=9)))]
report("bubble_fraction", bubble_fraction(_events, 3), rtol=1e-9,
       check=Check("bubble_fraction", "random timelines of 9 events on 3 stages",
                   hint="the idle fraction: 1 minus the time all events took together over stages x the span from "
                        "the first start to the last end (0 when the span is 0)."))
### END HIDDEN TESTS

# %% [markdown]
# The experiment: a wider MLP (so that a stage's work outweighs Ray's millisecond per
# call), two stages, a batch of 256, and $m = 1, 2, 4, 8$. The cell draws the timeline
# of each step (a Gantt chart: one row per stage, a bar per forward F or backward B) and
# the measured bubble against the formula.

# %% [locked id=gantt]
def plot_gantt(events, stages, ax, title=""):
    """One row per stage (stage 0 on top), a bar per forward (blue) or backward (orange) pass."""
    origin = min(e[3] for e in events)
    for stage, kind, micro_batch, start, end in events:
        row = stages - 1 - stage
        ax.broken_barh([((start - origin) * 1e3, (end - start) * 1e3)], (row - 0.4, 0.8),
                       facecolors="tab:blue" if kind == "F" else "tab:orange", edgecolor="black", linewidth=0.5)
        ax.text((start + end) / 2 * 1e3 - origin * 1e3, row, f"{kind}{micro_batch}", ha="center", va="center",
                fontsize=6, color="white")
    ax.set_yticks(range(stages))
    ax.set_yticklabels([f"stage {stages - 1 - row}" for row in range(stages)])
    ax.set_xlabel("time (ms)")
    ax.set_title(title, fontsize=9)

# %% [code]
if GRADING:
    print("The pipeline's timeline: skipped while grading (a demonstration, no points).")
else:
    first_wide, second_wide = two_stage_mlp(widths=(64, 768, 768, 10), seed=1)
    X_batch, y_batch = X_digits[:256], y_digits[:256]
    with checking("the pipeline"):
        wide_stages = stage_pool
        load_stages(wide_stages, [first_wide, second_wide])
        pipeline_step(wide_stages, X_batch, y_batch, 1)  # warm-up: first calls are slower
        ray.get([stage.take_events.remote() for stage in wide_stages])
        timelines, measured = {}, {}
        for m in (1, 2, 4, 8):
            started = time.perf_counter()
            pipeline_step(wide_stages, X_batch, y_batch, m)
            timelines[m] = [e for part in ray.get([s.take_events.remote() for s in wide_stages]) for e in part]
            measured[m] = (bubble_fraction(timelines[m], 2), time.perf_counter() - started)
    for m, (bubble, seconds) in measured.items():
        print(f"m = {m}: measured bubble {bubble:.2f}, theory {theoretical_bubble(2, m):.2f}, step {seconds * 1e3:.0f} ms")
    fig, axes = plt.subplots(5, 1, figsize=(10, 9), gridspec_kw={"height_ratios": [1, 1, 1, 1, 2.4]})
    for ax, m in zip(axes, timelines):
        plot_gantt(timelines[m], 2, ax, f"m = {m}: bubble {measured[m][0]:.2f} (theory {theoretical_bubble(2, m):.2f}), "
                                        f"step {measured[m][1] * 1e3:.0f} ms")
    micro = list(measured)
    axes[-1].plot(micro, [measured[m][0] for m in micro], "o-", label="measured")
    axes[-1].plot(micro, [theoretical_bubble(2, m) for m in micro], "s--", label="(p-1)/(m+p-1)")
    axes[-1].set_xlabel("micro-batches m")
    axes[-1].set_ylabel("bubble")
    axes[-1].legend()
    fig.tight_layout()
    plt.show()

# %% [markdown]
# Compare the two curves. The formula assumes stages of equal cost, free hand-overs and
# one processor per stage. Here every hand-over is a Ray call through the object store
# (about a millisecond each, $4m$ of them per stage and step), the two stages share two
# cores with this notebook's own process, and smaller micro-batches use a core less
# efficiently. On a laptop the measured bubble therefore shrinks much less than the
# formula says, and may not shrink at all; the Gantt chart shows where the time goes
# (gaps between bars are waiting and communication). With one GPU per stage and stages
# that compute for tens of milliseconds per micro-batch, the measurement approaches the
# formula. That is the trade-off in choosing $m$: a smaller bubble against more, smaller
# messages.
#
# ## Part 7. Scaling: throughput, efficiency and the learning-rate rule
#
# **Scaling efficiency** with $N$ workers is the throughput gained relative to perfect
# linear scaling: $E(N) = \frac{T(N)}{(N / N_0)\, T(N_0)}$, where $T$ is samples/s and $N_0$
# the smallest worker count measured. Write `scaling_efficiency(throughputs, workers)`
# (lists of equal length, `workers[0]` the baseline) returning the list of $E$.
#
# Large batches are what make data parallelism pay: $N$ workers of batch $b$ train with
# batch $Nb$. With the same number of epochs that is $N$ times fewer steps, so the
# **linear scaling rule** multiplies the learning rate by the same factor:
# $\eta_k = k\,\eta$ for batch $k b$ (Goyal et al., "ImageNet in 1 hour"). Write
# `scaled_learning_rate(base_lr, base_batch, batch)` and `lr_scaling_experiment(X, y,
# theta0, base_lr, base_batch, factors, epochs, seed)`: for each factor $k$ train with
# `train_single` at batch $k \cdot$`base_batch` and the scaled learning rate for
# `epochs * (len(X) // (k * base_batch))` steps, and return the list of final training
# losses on all of `(X, y)` (`loss_and_gradient(theta, X, y)[0]`).

# %% [solution id=scaling]
def scaling_efficiency(throughputs, workers):
    """E(N) = T(N) / ((N / N0) * T(N0)) for every measurement."""
    ### BEGIN SOLUTION
    return [t / ((n / workers[0]) * throughputs[0]) for t, n in zip(throughputs, workers)]
    ### END SOLUTION


def scaled_learning_rate(base_lr, base_batch, batch):
    """The linear scaling rule: the learning rate grows with the batch."""
    ### BEGIN SOLUTION
    return base_lr * batch / base_batch
    ### END SOLUTION


def lr_scaling_experiment(X, y, theta0, base_lr, base_batch, factors, epochs, seed=0):
    """Final full-data loss after `epochs` epochs at batch k * base_batch and the scaled lr, per k."""
    ### BEGIN SOLUTION
    losses = []
    for k in factors:
        batch = k * base_batch
        theta, _ = train_single(X, y, theta0, batch, scaled_learning_rate(base_lr, base_batch, batch),
                                epochs * (len(X) // batch), seed)
        losses.append(loss_and_gradient(theta, X, y)[0])
    return losses
    ### END SOLUTION

# %% [tests id=test_scaling points=3]
with checking("scaling_efficiency"):
    expect_close("scaling_efficiency([100, 180, 300], [1, 2, 4])", scaling_efficiency([100, 180, 300], [1, 2, 4]),
                 [1.0, 0.9, 0.75])
with checking("scaled_learning_rate"):
    expect_close("scaled_learning_rate(0.1, 32, 256)", scaled_learning_rate(0.1, 32, 256), 0.8)
with checking("lr_scaling_experiment"):
    small = lr_scaling_experiment(X_digits[:200], y_digits[:200], init_parameters(), 0.1, 10, [1, 2], epochs=1)
expect_equal("one loss per factor", len(small), 2)
### BEGIN HIDDEN TESTS
import numpy as _np
from gradkit.data import load_digits as _load_digits
from gradkit_autograder.kernel.channel import Check, report, grading_rng

_rng = grading_rng("test_scaling")
_t = _rng.uniform(50, 500, size=4)
report("scaling_efficiency", scaling_efficiency(list(_t), [2, 4, 6, 8]), rtol=1e-12,
       check=Check("scaling_efficiency", "random throughputs of 2, 4, 6 and 8 workers",
                   hint="each throughput relative to perfect linear scaling from the first (baseline) measurement: "
                        "N / N0 times the workers should give N / N0 times its throughput."))
report("scaled_learning_rate", scaled_learning_rate(float(_t[0]), 16, 48), rtol=1e-12,
       check=Check("scaled_learning_rate", "learning rates for batch 48 from base batch 16",
                   hint="the linear scaling rule: the learning rate grows by the same factor as the batch."))
_X, _y = _load_digits("train")
_rows = _rng.choice(len(_X), size=300, replace=False)
_theta0 = _np.concatenate([_np.random.default_rng(int(_rng.integers(1000))).normal(scale=0.01, size=640), _np.zeros(10)])
report("lr_scaling_experiment", lr_scaling_experiment(_X[_rows].astype(_np.float64), _y[_rows], _theta0,
                                                      0.2, 5, [1, 3, 6], epochs=2, seed=int(_rng.integers(1000))),
       rtol=1e-8, atol=1e-10,
       check=Check("lr_scaling_experiment", "final losses for batch factors 1, 3 and 6 on 300 digits",
                   hint="for each factor k: train_single at batch k * base_batch with the scaled learning rate for "
                        "epochs * (len(X) // batch) steps, then the loss on all of (X, y)."))
### END HIDDEN TESTS

# %% [markdown]
# First, throughput against workers. Each worker computes the gradient of a batch of 256
# on a wider synthetic problem (256 features), so that a step's work is worth
# distributing. With 2 CPUs, 4 workers share 2 cores: watch the efficiency.

# %% [code]
if GRADING:
    print("Throughput against workers: skipped while grading (a demonstration, no points).")
else:
    rng_scaling = np.random.default_rng(0)
    X_wide = rng_scaling.normal(size=(4096, 256))
    y_wide = (X_wide[:, :10].argmax(axis=1)).astype(np.int64)
    theta_wide = init_parameters(features=256, classes=10)
    worker_counts, throughputs = [1, 2, 4], []
    for n in worker_counts:
        with checking("train_sync"):
            _, _, seconds = train_sync(X_wide, y_wide, theta_wide, workers=n, batch_size=256, lr=0.1, steps=4)
        throughputs.append(n * 256 * 4 / seconds)
    with checking("scaling_efficiency"):
        efficiency = scaling_efficiency(throughputs, worker_counts)
    for n, t, e in zip(worker_counts, throughputs, efficiency):
        print(f"{n} workers: {t:8.0f} samples/s, efficiency {e:.2f}")
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(11, 3.6))
    ax_t.plot(worker_counts, throughputs, "o-", label="measured")
    ax_t.plot(worker_counts, [throughputs[0] * n for n in worker_counts], "--", label="linear")
    ax_t.set_xlabel("workers")
    ax_t.set_ylabel("samples/s")
    ax_t.legend()
    ax_e.plot(worker_counts, efficiency, "o-")
    ax_e.axhline(1.0, color="0.6", linestyle=":")
    ax_e.set_xlabel("workers")
    ax_e.set_ylabel("scaling efficiency")
    ax_e.set_ylim(0, 1.2)
    plt.show()

# %% [markdown]
# Then the learning-rate rule, on the digits: base batch 8 and learning rate 0.05, 3
# epochs, batch factors 1 to 128 (batch 8 to 1024), with the scaled learning rate and,
# for comparison, with the base learning rate kept.

# %% [code]
factors = [1, 2, 4, 8, 16, 32, 64, 128]
with checking("lr_scaling_experiment"):
    scaled = lr_scaling_experiment(X_digits, y_digits, init_parameters(), 0.05, 8, factors, epochs=3)
unscaled = []
for k in factors:
    theta_k, _ = train_single(X_digits, y_digits, init_parameters(), 8 * k, 0.05, 3 * (len(X_digits) // (8 * k)))
    unscaled.append(loss_and_gradient(theta_k, X_digits, y_digits)[0])
fig, ax = plt.subplots()
ax.semilogx([8 * k for k in factors], scaled, "o-", base=2, label="lr scaled with the batch")
ax.semilogx([8 * k for k in factors], unscaled, "s--", base=2, label="lr kept at 0.05")
ax.set_xlabel("batch size")
ax.set_ylabel("training loss after 3 epochs")
ax.legend()
ax.set_title("the linear scaling rule holds, then breaks")
plt.show()
for k, s, u in zip(factors, scaled, unscaled):
    print(f"batch {8 * k:5}: lr {scaled_learning_rate(0.05, 8, 8 * k):5.2f} -> loss {s:.4f}   (lr 0.05 -> {u:.4f})")

# %% [markdown]
# Read the plot. Keeping the learning rate while the batch grows means fewer steps of
# the same length: the loss after 3 epochs rises steadily. Scaling the learning rate
# keeps the loss nearly flat for moderate batches: the rule holds. For the largest batches
# the scaled learning rate becomes larger than the problem tolerates (a gradient step
# overshoots once $\eta$ passes about $2/\lambda_{\max}$ of the loss's curvature), and
# there are too few steps left in 3 epochs: the rule breaks. Large-batch training in
# practice adds a learning-rate warm-up and stops scaling at a batch size that depends
# on the problem.
#
# Set `rule_breaks_at` to the smallest batch size in the experiment whose scaled-rule
# loss is more than 1.5 times the loss at batch 8 (compute it from `scaled`, do not type
# a number).

# %% [solution id=rule_breaks]
### BEGIN SOLUTION
rule_breaks_at = next((8 * k for k, loss in zip(factors, scaled) if loss > 1.5 * scaled[0]), None)
### END SOLUTION
print("the linear scaling rule breaks at batch", rule_breaks_at)

# %% [tests id=test_rule_breaks points=1]
with checking("rule_breaks_at"):
    answer = rule_breaks_at
if answer not in [8 * k for k in factors] + [None]:
    raise AssertionError(f"rule_breaks_at: expected one of the batch sizes {[8 * k for k in factors]} or None, got {answer!r}")
### BEGIN HIDDEN TESTS
from gradkit_autograder.kernel.channel import Check, report

report("rule_breaks_at", -1.0 if rule_breaks_at is None else float(rule_breaks_at),
       check=Check("rule_breaks_at", "answers",
                   hint="the smallest batch size whose scaled-rule loss is more than 1.5 times the loss at batch 8, "
                        "computed from `scaled` (None if there is none)."))
### END HIDDEN TESTS

# %% [markdown]
# ## The end
#
# The last cell stops this notebook's Ray. Run it before you close the notebook (a Ray
# left running holds memory until the kernel exits).

# %% [locked id=teardown]
if GRADING:   # the grader ends the kernel and every process it started, this Ray's included
    print("Ray stops with the kernel.")
else:
    for actor in ring_pool + stage_pool:
        ray.kill(actor)
    notebook_ray.close()  # ray.shutdown() of the Ray this notebook started
    print("Ray stopped.")
