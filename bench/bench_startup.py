"""Start-up cost: seconds from calling train() to the first training step, per strategy.

Measured on an embedded Ray that is already running (its own start-up is printed
first), so the figures are the cost of each strategy's actors: worker processes that
import torch and build the model, parameter servers, Ray Train's controller and process
group. The peer is Ray Train + DDP (the production path); the ratio column is
``ddp seconds / strategy seconds`` (above 1: the strategy starts faster than DDP).
A bar chart goes to out/startup.png.

    .venv/bin/python bench/bench_startup.py
    .venv/bin/python bench/bench_startup.py --quick
"""

import argparse
import time

import ray

from gradkit.distributed.examples import mlp_factory, synthetic_classification
from gradkit.distributed.pipeline import Pipeline, split_sequential
from gradkit.distributed.trainer import STRATEGIES, train
from gradkit.runtime import ensure_ray
from gradkit.torch_basics import mlp


def plot(seconds: dict, path: str) -> str:
    from charts import plt, save_figure   # bench/charts.py, next to this script

    figure, axes = plt.subplots(figsize=(7, 3.5))
    axes.barh(list(seconds), list(seconds.values()), color="tab:purple")
    axes.invert_yaxis()
    axes.set_xlabel("seconds from call to first step (embedded Ray already running)")
    return save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one run per strategy instead of the best of two")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="out/startup.png")
    args = parser.parse_args()
    repeats = 1 if args.quick else 2

    start = time.perf_counter()
    ensure_ray(num_cpus=max(args.workers, 2))
    print(f"embedded ray.init: {time.perf_counter() - start:.1f} s")
    data = synthetic_classification(512, 32, 4)
    model_fn = mlp_factory((32, 64, 4))

    seconds = {}
    for strategy in STRATEGIES:
        workers = 1 if strategy == "single" else args.workers
        runs = [train(model_fn, data, strategy=strategy, workers=workers, batch_size=32,
                      epochs=1, use_gpu=False).startup_s for _ in range(repeats)]
        seconds[strategy] = min(runs)
    runs = []
    for _ in range(repeats):
        begin = time.perf_counter()
        with Pipeline(split_sequential(mlp((32, 64, 64, 4)), 2), use_gpu=False) as pipe:
            pipe.train_step(*data, micro_batches=1)
            runs.append(time.perf_counter() - begin)  # includes one (tiny) step
    seconds["pipeline (2 stages)"] = min(runs)

    print(f"{'strategy':>20} {'start-up s':>11} {'ddp/this':>9}")
    for name, value in seconds.items():
        ratio = f"{seconds['ddp'] / value:>8.2f}x" if value >= 0.01 else f"{'-':>9}"  # single: ~0 s
        print(f"{name:>20} {value:>11.2f} {ratio}")
    print(f"({args.workers} workers; best of {repeats}; Ray {ray.__version__})")
    print("chart:", plot(seconds, args.out))


if __name__ == "__main__":
    main()
