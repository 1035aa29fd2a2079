"""Pipeline parallelism: 2 stages, m = 1, 2, 4, 8 micro-batches (GPipe schedule).

An MLP (a cheap 64 -> 1024 input layer, then four square 1024 x 1024 layers) cut into
two stage actors of equal work: stage 0 holds the input layer and two square layers,
stage 1 the other two. Why the input layer: nobody needs the gradient with respect to
the data, so with four square layers alone stage 0 would skip one of its six matrix
products per micro-batch and stage 1 would be the bottleneck. In front of the square
layers, the cheap input layer takes that saving for itself (1/16 of a square product). The batch (4096) is large
enough that a micro-batch's computation outweighs handing its activations to the next
stage through Ray's object store. For each m: the best step time of a few, the speed-up
over naive model parallel (m = 1), the
ideal speed-up p*m/(m+p-1) (the peer: GPipe's theory) with the ratio measured/ideal,
and the measured bubble beside (p-1)/(m+p-1). Target: m = 8 within 15% of ideal.
Also saves a Gantt chart of the m = 8 step (out/pipeline_gantt.png unless --out).

    .venv/bin/python bench/bench_pipeline.py
    .venv/bin/python bench/bench_pipeline.py --quick
"""

import argparse

from gradkit.distributed.examples import synthetic_classification
from gradkit.distributed.pipeline import Pipeline, split_sequential
from gradkit.distributed.pipeline_timeline import ideal_speedup, plot_timeline
from gradkit.runtime import ensure_ray
from gradkit.torch_basics import mlp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller model and fewer repetitions")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--features", type=int, default=64, help="inputs of the first layer")
    parser.add_argument("--layers", type=int, default=4, help="square hidden x hidden layers")
    parser.add_argument("--schedule", default="gpipe", choices=["gpipe", "1f1b"])
    parser.add_argument("--out", default="out/pipeline_gantt.png")
    args = parser.parse_args()
    hidden, batch, repeats = (512, 1024, 2) if args.quick else (args.hidden, args.batch, 6)
    stages = 2

    ensure_ray(num_cpus=2)
    X, y = synthetic_classification(batch, args.features, hidden, seed=0)  # hidden classes: last layer square too
    model = mlp((args.features,) + (hidden,) * (args.layers + 1))
    parts = split_sequential(model, stages)
    print(f"MLP Linear({args.features}, {hidden}) + {args.layers} x Linear({hidden}, {hidden}), batch {batch}, "
          f"{stages} stages {[len(part) for part in parts]} modules, {args.schedule}; best of {repeats} steps")
    print(f"{'m':>3} {'step ms':>8} {'speed-up':>9} {'ideal':>6} {'ratio':>6} {'bubble':>7} {'theory':>7}")
    with Pipeline(parts, lr=0.01, use_gpu=False) as pipe:
        pipe.train_step(X, y, micro_batches=1)  # warm-up
        naive = None
        for m in (1, 2, 4, 8):
            reports = [pipe.train_step(X, y, micro_batches=m, schedule=args.schedule) for _ in range(repeats)]
            best = min(reports, key=lambda report: report.seconds)
            naive = naive or best.seconds
            speedup, ideal = naive / best.seconds, ideal_speedup(stages, m)
            print(f"{m:>3} {best.seconds * 1000:>8.0f} {speedup:>8.2f}x {ideal:>5.2f}x {speedup / ideal:>6.2f} "
                  f"{best.bubble:>7.2f} {best.theoretical_bubble:>7.2f}", flush=True)
    print("(ratio = measured / ideal speed-up; bubble = idle share of stages x step time)")
    print("Gantt chart of m = 8:", plot_timeline(best.events, stages, args.out))


if __name__ == "__main__":
    main()
