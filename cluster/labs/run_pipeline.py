"""Step 3 of the lab: the same MLP split into pipeline stages, one Ray actor each.

    python cluster/labs/run_pipeline.py --stages 2 --micro-batches 1 2 4 8
    python cluster/labs/run_pipeline.py --address HEAD_IP:6379 --stages 4 --schedule 1f1b --out gantt.png

For each number of micro-batches: the step time, the speed-up over naive model
parallel (1 micro-batch), and the measured bubble beside (p-1)/(m+p-1). Saves a Gantt
chart of the last setting.

Micro-batching pays only while a micro-batch's compute outweighs the fixed cost of
each message between stages (a Ray call and an object-store transfer, about a
millisecond or more). The defaults (1024-wide layers, a batch of 2048 digits drawn
with repetition) make each stage's share of a step a few hundred milliseconds; with
small layers or a small batch (try ``--hidden 128 --batch-size 256``) more
micro-batches make the step *slower*, which is worth seeing too.
"""

import argparse

import numpy as np

from gradkit.distributed.examples import digits_data
from gradkit.distributed.pipeline import Pipeline, split_sequential
from gradkit.distributed.pipeline_timeline import ideal_speedup, plot_timeline
from gradkit.runtime import ray_session
from gradkit.torch_basics import mlp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=None, help="Ray address; omit for an embedded Ray")
    parser.add_argument("--stages", type=int, default=2)
    parser.add_argument("--micro-batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--schedule", default="gpipe", choices=["gpipe", "1f1b"])
    parser.add_argument("--hidden", type=int, default=1024, help="width of every hidden layer")
    parser.add_argument("--batch-size", type=int, default=2048,
                        help="samples per step, drawn from the digits (with repetition past 1437)")
    parser.add_argument("--steps", type=int, default=3, help="steps per setting (the best counts)")
    parser.add_argument("--out", default="pipeline_gantt.png")
    args = parser.parse_args()

    X, y = digits_data("train")
    rows = np.random.default_rng(0).choice(len(X), size=args.batch_size, replace=args.batch_size > len(X))
    X, y = X[rows], y[rows]
    sizes = (X.shape[1],) + (args.hidden,) * (2 * args.stages) + (10,)
    # Joins the Ray at --address, or starts an embedded one that is stopped at the end.
    with ray_session(args.address, what="run_pipeline"):
        with Pipeline(split_sequential(mlp(sizes), args.stages), lr=0.05, address=args.address) as pipe:
            print("stages:", pipe.placement())
            naive = None
            for m in args.micro_batches:
                reports = [pipe.train_step(X, y, micro_batches=m, schedule=args.schedule) for _ in range(args.steps)]
                best = min(reports, key=lambda r: r.seconds)
                naive = naive or (best.seconds if m == 1 else None)
                speedup = f"{naive / best.seconds:.2f}x (ideal {ideal_speedup(args.stages, m):.2f}x)" if naive else "n/a"
                print(f"m={m}: {best.seconds * 1000:.0f} ms, speed-up {speedup}, bubble {best.bubble:.2f} "
                      f"(theory {best.theoretical_bubble:.2f}), loss {best.loss:.3f}")
            print("Gantt chart:", plot_timeline(best.events, args.stages, args.out))


if __name__ == "__main__":
    main()
