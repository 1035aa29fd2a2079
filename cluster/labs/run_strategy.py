"""Step 2 of the lab: train an MLP on the digits with one data-parallel strategy.

    python cluster/labs/run_strategy.py --strategy ring --workers 2              # laptop
    python cluster/labs/run_strategy.py --address HEAD_IP:6379 --strategy ddp --workers 4 --checkpoint-dir /shared/ckpt
    python cluster/labs/run_strategy.py --address ray://HEAD:10001 --strategy ps-async --staleness 4

Prints where each worker ran, then per epoch the loss, throughput and the split of time
between computing and communicating, then the training accuracy.
"""

import argparse

import numpy as np
import torch

from gradkit.distributed.examples import digits_data, mlp_factory
from gradkit.distributed.trainer import STRATEGIES, train
from gradkit.runtime import ray_session
from gradkit.torch_basics import mlp


def describe_staleness(values: list[int], bound: int) -> str:
    """One line on the staleness of every parameter read in an epoch (ps-async).

    The staleness of a read at step ``c`` is ``c`` minus the number of steps whose updates
    every worker has seen; the parameter server keeps it at or below ``bound``.
    """
    counts = np.bincount(np.asarray(values, dtype=int), minlength=bound + 1)
    spread = ", ".join(f"{s}: {n}" for s, n in enumerate(counts) if n)
    return (f"staleness of {len(values)} reads: mean {np.mean(values):.2f}, max {max(values)} "
            f"(bound {bound}); reads per staleness {{{spread}}}")


def parse_use_gpu(text: str):
    return {"auto": "auto", "true": True, "false": False}[text.lower()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=None, help="Ray address; omit for an embedded Ray")
    parser.add_argument("--strategy", default="ring", choices=STRATEGIES)
    parser.add_argument("--workers", type=int, default=None, help="replicas (1 for single, else 2)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32, help="per worker")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--staleness", type=int, default=2, help="bound for ps-async")
    parser.add_argument("--server-shards", type=int, default=1, help="parameter-server shards")
    parser.add_argument("--use-gpu", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-dir", default=None,
                        help="ddp: where checkpoints go; on a multi-node cluster a path every node "
                             "can reach (NFS, s3://...)")
    parser.add_argument("--max-failures", type=int, default=0,
                        help="ddp: restart the workers from the last checkpoint this many times")
    args = parser.parse_args()

    X, y = digits_data("train")
    sizes = (X.shape[1], args.hidden, args.hidden, int(y.max()) + 1)
    # Joins the Ray at --address, or starts an embedded one that is stopped at the end
    # ("single" needs no Ray, but one code path is simpler than two).
    with ray_session(args.address, what="run_strategy"):
        result = train(mlp_factory(sizes), (X, y), strategy=args.strategy, workers=args.workers,
                       use_gpu=parse_use_gpu(args.use_gpu), epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       address=args.address, staleness=args.staleness,
                       server_shards=args.server_shards, checkpoint_dir=args.checkpoint_dir,
                       max_failures=args.max_failures)
    print(f"strategy {result.strategy}, {result.workers} worker(s) on {result.device}; "
          f"start-up {result.startup_s:.1f} s")
    for place in result.placement:
        print("  ", place)
    for epoch in result.history:
        print(f"epoch {epoch['epoch']}: loss {epoch['loss']:.4f}  {epoch['samples_per_s']:.0f} samples/s  "
              f"compute {epoch['compute_s']:.2f} s  communication {epoch['communication_s']:.2f} s")
        if "staleness" in epoch:  # ps-async: how many steps behind each read of the parameters was
            print("  " + describe_staleness(epoch["staleness"], args.staleness))
    model = mlp(sizes)
    model.load_state_dict(result.state_dict)
    with torch.no_grad():
        predictions = model(torch.tensor(X)).argmax(dim=1).numpy()
    print(f"training accuracy {np.mean(predictions == y):.3f}")


if __name__ == "__main__":
    main()
