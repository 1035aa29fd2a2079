"""All-reduce bandwidth: our ring over Ray actors vs torch.distributed.all_reduce (gloo).

Two workers on this machine, float32 tensors of 1 MB to 256 MB. For each size, the
best of a few repetitions of a full sum all-reduce (0.3 s apart), timed from the driver
for both (the same Ray call overhead on each side), reported as *algorithm bandwidth*: tensor bytes
divided by seconds. Target: ring >= 0.8x gloo at 64 MB and above. A chart of both
bandwidths against size goes to out/allreduce.png.

    .venv/bin/python bench/bench_allreduce.py            # 1 .. 256 MB
    .venv/bin/python bench/bench_allreduce.py --quick    # 1, 16, 64 MB
"""

import argparse
import statistics
import time

import ray

from gradkit.runtime import ensure_ray, wait_until_ready
from gradkit.distributed.ring_allreduce import RingWorker, ring_allreduce
from gradkit.distributed.torch_allreduce import (TorchAllReduceWorker, init_process_group,
                                                 torch_allreduce)


def timings(run, repeats: int, pause_s: float = 0.3) -> list[float]:
    """Seconds of each of ``repeats`` runs, after one warm-up run (first touch, connections).

    Each run starts ``pause_s`` after the previous one, as gradient all-reduces do in
    training (a backward pass lies between them): Ray frees the previous run's messages
    in the background, and back-to-back runs would time that clean-up too.
    """
    run()
    times = []
    for _ in range(repeats):
        time.sleep(pause_s)
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def plot(sizes_mb, ring_gbs, gloo_gbs, path: str) -> str:
    from charts import plt, save_figure   # bench/charts.py, next to this script

    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(sizes_mb, ring_gbs, "o-", label="ring over Ray actors (object store)")
    axes.plot(sizes_mb, gloo_gbs, "s-", label="torch.distributed all_reduce (gloo)")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("tensor size (MB)")
    axes.set_ylabel("algorithm bandwidth (GB/s)")
    axes.set_title("all-reduce, 2 workers on one node")
    axes.legend()
    return save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repetitions")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="out/allreduce.png")
    args = parser.parse_args()
    sizes_mb = [1, 16, 64] if args.quick else [1, 4, 16, 64, 256]
    repeats = 2 if args.quick else 5

    ensure_ray(num_cpus=max(args.workers, 2))
    ring = [RingWorker.options(num_cpus=0.5).remote() for _ in range(args.workers)]
    gloo = [TorchAllReduceWorker.options(num_cpus=0.5).remote() for _ in range(args.workers)]
    wait_until_ready(ring + gloo, "benchmark workers")
    backend = init_process_group(gloo, backend="gloo")

    print(f"all-reduce (sum), {args.workers} workers on one node, float32; best of {repeats}")
    print(f"{'size':>8} {'ring GB/s':>10} {'gloo GB/s':>10} {'ring/gloo':>10} {'median ratio':>13}")
    ring_gbs, gloo_gbs = [], []
    for size_mb in sizes_mb:
        numel = size_mb * 2**20 // 4
        ray.get([w.make_tensor.remote(numel, seed) for seed, w in enumerate(ring)])
        ray.get([w.make_tensor.remote(numel, seed) for seed, w in enumerate(gloo)])
        ring_times = timings(lambda: ring_allreduce(ring), repeats)
        gloo_times = timings(lambda: torch_allreduce(gloo), repeats)
        ring_s, gloo_s = min(ring_times), min(gloo_times)
        median_ratio = statistics.median(gloo_times) / statistics.median(ring_times)
        size_gb = numel * 4 / 1e9
        ring_gbs.append(size_gb / ring_s)
        gloo_gbs.append(size_gb / gloo_s)
        print(f"{size_mb:>6}MB {size_gb / ring_s:>10.2f} {size_gb / gloo_s:>10.2f} {gloo_s / ring_s:>9.2f}x "
              f"{median_ratio:>12.2f}x", flush=True)
        # Free the big buffers before the next size.
        ray.get([w.make_tensor.remote(1, 0) for w in ring + gloo])
    print(f"(torch.distributed backend: {backend}; ratio = ring bandwidth / gloo bandwidth)")
    print("chart:", plot(sizes_mb, ring_gbs, gloo_gbs, args.out))


if __name__ == "__main__":
    main()
