"""Data-parallel throughput of every strategy at 1 and 2 workers, and scaling efficiency.

A compute-bound MLP (by default 256 -> 1024 -> 1024 -> 10, 1.3 M parameters, 5 MB of
gradient per step) on synthetic data, with a per-worker batch large enough (1024) that a
step's computation outweighs its all-reduce. Weak scaling: the per-worker batch is fixed,
so 2 workers take half as many steps per epoch. Throughput is samples/s of the best
epoch after the first (the first pays for warm-up); scaling efficiency is
``T1 / (n * Tn)`` with ``T`` the time per sample, i.e. ``throughput_n / (n *
throughput_1)``. Target on 2 cores: efficiency >= 0.8 for ring and DDP.

The *ceiling* column is the efficiency of the same steps with no communication at all,
measured just before each strategy: one Ray task computing alone vs two at once. It is
what the cores give at that moment (other processes on the machine, memory bandwidth,
frequency) and bounds the strategy's efficiency from above.
The peer is Ray Train + PyTorch DDP; "vs DDP" is each strategy's 2-worker throughput
over DDP's. A bar chart goes to out/dataparallel.png.

    .venv/bin/python bench/bench_dataparallel.py
    .venv/bin/python bench/bench_dataparallel.py --quick
"""

import argparse
import time

import ray
import torch

from gradkit.distributed.examples import mlp_factory, synthetic_classification
from gradkit.distributed.trainer import train
from gradkit.runtime import ensure_ray

STRATEGIES = ["ps-sync", "ps-async", "ring", "torch-allreduce", "ddp"]


def throughput(strategy: str, workers: int, data, model_fn, args) -> tuple[float, dict]:
    """Best samples/s over the epochs after the first, and that epoch's record."""
    result = train(model_fn, data, strategy=strategy, workers=workers, batch_size=args.batch_size,
                   epochs=args.epochs, lr=0.01, use_gpu=False, staleness=2)
    best = max(result.history[1:] or result.history, key=lambda epoch: epoch["samples_per_s"])
    return best["samples_per_s"], best


@ray.remote(num_cpus=1)
def compute_only_seconds(model_fn, batch_size: int, features: int, steps: int) -> float:
    """Seconds for ``steps`` forward/backward/SGD steps on one core, no communication."""
    torch.set_num_threads(1)
    model = model_fn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs, labels = torch.randn(batch_size, features), torch.randint(0, 10, (batch_size,))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def ceiling_efficiency(model_fn, batch_size: int, features: int, steps: int) -> float:
    """Efficiency of 2 workers that never communicate: time alone / time side by side."""
    alone = ray.get(compute_only_seconds.remote(model_fn, batch_size, features, steps))
    pair = ray.get([compute_only_seconds.remote(model_fn, batch_size, features, steps) for _ in range(2)])
    return alone / max(pair)


def plot(rows, path: str) -> str:
    from charts import plt, save_figure   # bench/charts.py, next to this script

    names = [row[0] for row in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    positions = range(len(rows))
    left.bar([p - 0.2 for p in positions], [row[1] for row in rows], 0.4, label="1 worker")
    left.bar([p + 0.2 for p in positions], [row[2] for row in rows], 0.4, label="2 workers")
    left.set_xticks(list(positions), names, rotation=20)
    left.set_ylabel("samples/s")
    left.legend()
    left.set_title("throughput")
    right.bar([p - 0.2 for p in positions], [row[3] for row in rows], 0.4, color="tab:green",
              label="strategy")
    right.bar([p + 0.2 for p in positions], [row[5] for row in rows], 0.4, color="tab:gray",
              label="ceiling (no communication)")
    right.set_xticks(list(positions), names)
    right.axhline(0.8, color="black", linestyle="--", label="target 0.8")
    right.set_ylabel("scaling efficiency T1 / (2 T2)")
    right.set_ylim(0, 1.3)
    right.set_title("scaling efficiency")
    right.tick_params(axis="x", rotation=20)
    right.legend(loc="upper center", ncol=3, fontsize="small")
    return save_figure(figure, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="less data, ring and DDP only")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=1024, help="per worker")
    parser.add_argument("--steps", type=int, default=16, help="steps per epoch at 2 workers")
    parser.add_argument("--epochs", type=int, default=4, help="the first is warm-up")
    parser.add_argument("--out", default="out/dataparallel.png")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.epochs = 6, 2
    strategies = ["ring", "ddp"] if args.quick else STRATEGIES
    features = 256
    samples = 2 * args.batch_size * args.steps

    ensure_ray(num_cpus=2)
    data = synthetic_classification(samples, features, 10)
    model_fn = mlp_factory((features, args.hidden, args.hidden, 10))
    single, _ = throughput("single", 1, data, model_fn, args)
    rows = []
    for strategy in strategies:
        ceiling = ceiling_efficiency(model_fn, args.batch_size, features, args.steps)
        one, _ = throughput(strategy, 1, data, model_fn, args)
        two, best = throughput(strategy, 2, data, model_fn, args)
        rows.append((strategy, one, two, two / (2 * one), best, ceiling))
        print(f"  measured {strategy}", flush=True)

    ddp_two = next((row[2] for row in rows if row[0] == "ddp"), float("nan"))
    print(f"MLP {features}-{args.hidden}-{args.hidden}-10, batch {args.batch_size}/worker, {samples} samples; "
          f"single process (torch's own threads): {single:.0f} samples/s")
    print(f"{'strategy':>16} {'1 worker':>9} {'2 workers':>10} {'efficiency':>11} {'ceiling':>8} "
          f"{'vs DDP':>7} {'compute s':>10} {'comm s':>7}")
    for strategy, one, two, efficiency, best, ceiling in rows:
        print(f"{strategy:>16} {one:>9.0f} {two:>10.0f} {efficiency:>11.2f} {ceiling:>8.2f} "
              f"{two / ddp_two:>6.2f}x {best['compute_s']:>10.2f} {best['communication_s']:>7.2f}")
    print("(samples/s: best epoch after the first; efficiency = T1 / (2 * T2); ceiling = the same "
          "for 2 tasks that never communicate, measured just before; vs DDP = 2-worker throughput / "
          "DDP's; compute/comm: seconds of that 2-worker epoch, mean over workers)")
    print("chart:", plot(rows, args.out))


if __name__ == "__main__":
    main()
