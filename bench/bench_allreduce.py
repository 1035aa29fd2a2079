"""All-reduce bandwidth: our ring over Ray actors vs torch.distributed.all_reduce (gloo).

Two workers on this machine, float32 tensors of 1 MB to 256 MB. For each size, the
best of a few repetitions of a full sum all-reduce, timed from the driver for both (the
same Ray call overhead on each side), reported as *algorithm bandwidth*: tensor bytes
divided by seconds. Target: ring >= 0.8x gloo at 64 MB and above.

    .venv/bin/python bench/bench_allreduce.py            # 1 .. 256 MB
    .venv/bin/python bench/bench_allreduce.py --quick    # 1, 16, 64 MB
"""

import argparse
import time

import ray

from gradkit.distributed.ray_runtime import ensure_ray, wait_until_ready
from gradkit.distributed.ring_allreduce import RingWorker, ring_allreduce
from gradkit.distributed.torch_allreduce import (TorchAllReduceWorker, init_process_group,
                                                 torch_allreduce)


def best_seconds(run, repeats: int) -> float:
    run()  # warm-up: first-touch of buffers, connection set-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repetitions")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sizes_mb = [1, 16, 64] if args.quick else [1, 4, 16, 64, 256]
    repeats = 2 if args.quick else 4

    ensure_ray(num_cpus=max(args.workers, 2))
    ring = [RingWorker.options(num_cpus=0.5).remote() for _ in range(args.workers)]
    gloo = [TorchAllReduceWorker.options(num_cpus=0.5).remote() for _ in range(args.workers)]
    wait_until_ready(ring + gloo, "benchmark workers")
    backend = init_process_group(gloo, backend="gloo")

    print(f"all-reduce (sum), {args.workers} workers on one node, float32; best of {repeats}")
    print(f"{'size':>8} {'ring GB/s':>10} {'gloo GB/s':>10} {'ring/gloo':>10}")
    for size_mb in sizes_mb:
        numel = size_mb * 2**20 // 4
        ray.get([w.make_tensor.remote(numel, seed) for seed, w in enumerate(ring)])
        ray.get([w.make_tensor.remote(numel, seed) for seed, w in enumerate(gloo)])
        ring_s = best_seconds(lambda: ring_allreduce(ring), repeats)
        gloo_s = best_seconds(lambda: torch_allreduce(gloo), repeats)
        size_gb = numel * 4 / 1e9
        print(f"{size_mb:>6}MB {size_gb / ring_s:>10.2f} {size_gb / gloo_s:>10.2f} {gloo_s / ring_s:>9.2f}x",
              flush=True)
        # Free the big buffers before the next size.
        ray.get([w.make_tensor.remote(1, 0) for w in ring + gloo])
    print(f"(torch.distributed backend: {backend}; ratio = ring bandwidth / gloo bandwidth)")


if __name__ == "__main__":
    main()
