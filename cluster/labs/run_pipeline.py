"""Step 3 of the lab: the same MLP split into pipeline stages, one Ray actor each.

    python cluster/labs/run_pipeline.py --stages 2 --micro-batches 1 2 4 8
    python cluster/labs/run_pipeline.py --address auto --stages 4 --schedule 1f1b --out gantt.png

For each number of micro-batches: the step time, the speed-up over naive model
parallel (1 micro-batch), and the measured bubble beside (p-1)/(m+p-1). Saves a Gantt
chart of the last setting.
"""

import argparse

from gradkit.distributed.examples import digits_data, make_mlp
from gradkit.distributed.pipeline import Pipeline, split_sequential
from gradkit.distributed.pipeline_timeline import ideal_speedup, plot_timeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=None, help="Ray address; omit for an embedded Ray")
    parser.add_argument("--stages", type=int, default=2)
    parser.add_argument("--micro-batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--schedule", default="gpipe", choices=["gpipe", "1f1b"])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--steps", type=int, default=3, help="steps per setting (the best counts)")
    parser.add_argument("--out", default="pipeline_gantt.png")
    args = parser.parse_args()

    X, y = digits_data("train")
    sizes = (X.shape[1],) + (args.hidden,) * (2 * args.stages) + (10,)
    with Pipeline(split_sequential(make_mlp(sizes), args.stages), lr=0.05, address=args.address) as pipe:
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
