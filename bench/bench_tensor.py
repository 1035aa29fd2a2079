"""Benchmark: one MLP training step with gradkit's ``Tensor`` against PyTorch on CPU.

The model is a 64-256-256-10 MLP (ReLU, softmax cross-entropy) at batch 128.
One step = forward, backward, plain SGD update. Both frameworks start from the
same weights and see the same batch; torch runs on the CPU with as many threads
as numpy's BLAS uses, so both get the same cores. We report the median time
per step after a warm-up, and the ratio gradkit / torch (target: <= 1.5).

    .venv/bin/python bench/bench_tensor.py           # 200 timed steps
    .venv/bin/python bench/bench_tensor.py --quick   # 30 timed steps
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from gradkit.autodiff.tensor import Tensor

SIZES = (64, 256, 256, 10)
BATCH = 128
LEARNING_RATE = 0.05


def blas_threads() -> int:
    """How many threads numpy's BLAS uses (threadpoolctl if present, else the CPU count)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    counts = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return max(counts) if counts else os.cpu_count() or 1


def initial_weights(rng: np.random.Generator) -> list[np.ndarray]:
    """He-initialised float32 weights and zero biases: [W1, b1, W2, b2, W3, b3]."""
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        params.append((rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32))
        params.append(np.zeros(fan_out, dtype=np.float32))
    return params


def gradkit_step(params: list[Tensor], x: Tensor, labels: np.ndarray) -> float:
    h = x
    for layer in range(0, len(params) - 2, 2):
        h = (h @ params[layer] + params[layer + 1]).relu()
    logits = h @ params[-2] + params[-1]
    # Cross-entropy: minus the mean log-probability of the right class.
    loss = -logits.log_softmax(axis=1)[np.arange(len(labels)), labels].mean()
    loss.backward()
    for p in params:
        p.data -= LEARNING_RATE * p.grad
        p.grad = None
    return loss.item()


def torch_step(params: list[torch.Tensor], x: torch.Tensor, labels: torch.Tensor) -> float:
    h = x
    for layer in range(0, len(params) - 2, 2):
        h = torch.relu(h @ params[layer] + params[layer + 1])
    logits = h @ params[-2] + params[-1]
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= LEARNING_RATE * p.grad
            p.grad = None
    return loss.item()


def time_steps(step, args, warmup: int, steps: int) -> tuple[float, float]:
    """Median milliseconds per step after ``warmup`` untimed steps, and the last loss."""
    for _ in range(warmup):
        step(*args)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = step(*args)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times), loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    args = parser.parse_args()
    warmup, steps = (5, 30) if args.quick else (20, 200)

    threads = blas_threads()
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    weights = initial_weights(rng)
    x = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    labels = rng.integers(0, SIZES[-1], size=BATCH)

    ours = [Tensor(w.copy(), requires_grad=True) for w in weights]
    theirs = [torch.tensor(w, requires_grad=True) for w in weights]

    # Same weights and batch, so the first losses must agree: a sanity check
    # that both sides compute the same thing before we time them.
    loss_ours = gradkit_step(ours, Tensor(x), labels)
    loss_theirs = torch_step(theirs, torch.from_numpy(x), torch.from_numpy(labels))
    if not np.isclose(loss_ours, loss_theirs, rtol=1e-4):
        raise SystemExit(f"losses differ: gradkit {loss_ours:.6f} vs torch {loss_theirs:.6f}")

    ms_ours, _ = time_steps(gradkit_step, (ours, Tensor(x), labels), warmup, steps)
    ms_theirs, _ = time_steps(
        torch_step, (theirs, torch.from_numpy(x), torch.from_numpy(labels)), warmup, steps
    )
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, float32, {threads} thread(s) "
          f"(numpy BLAS and torch.set_num_threads), median of {steps} steps")
    print(f"gradkit Tensor: {ms_ours:8.3f} ms/step")
    print(f"torch (CPU)   : {ms_theirs:8.3f} ms/step")
    print(f"ratio gradkit / torch: {ms_ours / ms_theirs:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
