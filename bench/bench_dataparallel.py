"""Data-parallel throughput of every strategy at 1 and 2 workers, and scaling efficiency.

A compute-bound MLP (by default 256 -> 1024 -> 1024 -> 10, 1.3 M parameters) on
synthetic data, per-worker batch fixed (weak scaling: 2 workers process twice the
samples per step). Throughput is samples/s of the last epoch (start-up excluded);
scaling efficiency is ``T1 / (n * Tn)`` with ``T`` the time per sample, i.e.
``throughput_n / (n * throughput_1)``. The peer is Ray Train + PyTorch DDP; the ratio
column is each strategy's 2-worker throughput over DDP's. Target on 2 cores: efficiency
>= 0.8 for ring and DDP.

    .venv/bin/python bench/bench_dataparallel.py
    .venv/bin/python bench/bench_dataparallel.py --quick
"""

import argparse

from gradkit.distributed import train
from gradkit.distributed.examples import mlp_factory, synthetic_classification
from gradkit.distributed.ray_runtime import ensure_ray


def throughput(strategy: str, workers: int, data, model_fn, args) -> float:
    result = train(model_fn, data, strategy=strategy, workers=workers, batch_size=args.batch_size,
                   epochs=args.epochs, lr=0.01, use_gpu=False, staleness=2)
    return result.history[-1]["samples_per_s"], result.history[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="less data, fewer strategies")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=256, help="per worker")
    parser.add_argument("--epochs", type=int, default=2, help="the last one is measured")
    args = parser.parse_args()
    samples = 4096 if args.quick else 12288
    strategies = ["ring", "ddp"] if args.quick else ["ps-sync", "ps-async", "ring", "ddp"]

    ensure_ray(num_cpus=2)
    data = synthetic_classification(samples, 256, 10)
    model_fn = mlp_factory((256, args.hidden, args.hidden, 10))
    single, _ = throughput("single", 1, data, model_fn, args)
    rows = []
    for strategy in strategies:
        one, _ = throughput(strategy, 1, data, model_fn, args)
        two, last = throughput(strategy, 2, data, model_fn, args)
        rows.append((strategy, one, two, two / (2 * one), last))
    ddp_two = next(row[2] for row in rows if row[0] == "ddp")
    print(f"MLP 256-{args.hidden}-{args.hidden}-10, batch {args.batch_size}/worker, {samples} samples; "
          f"single process: {single:.0f} samples/s")
    print(f"{'strategy':>9} {'1 worker':>9} {'2 workers':>10} {'efficiency':>11} {'vs DDP':>7} "
          f"{'compute s':>10} {'comm s':>7}")
    for strategy, one, two, efficiency, last in rows:
        print(f"{strategy:>9} {one:>9.0f} {two:>10.0f} {efficiency:>11.2f} {two / ddp_two:>6.2f}x "
              f"{last['compute_s']:>10.2f} {last['communication_s']:>7.2f}")
    print("(samples/s of the last epoch; efficiency = T1 / (2 * T2); vs DDP = 2-worker throughput / DDP's;"
          " compute/comm: seconds of the last 2-worker epoch)")


if __name__ == "__main__":
    main()
