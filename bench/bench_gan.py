"""Benchmark: gradkit.gan on the mode-collapse test beds and on the 8x8 digits (CPU).

1. Ring of 8 Gaussians (radius 2, std 0.02) and grid of 25 (5x5, spacing 2, std 0.05),
   the settings of the Unrolled GAN / VEEGAN / PacGAN papers: ``train_mixture_gan``, the
   library's defaults (the MLP pair, ``train_gan``'s settings and the mixture's recipe:
   depth 2 and 5000 steps on the ring; depth 3, 10000 steps and a generator noise skip of
   1.5 on the grid) with the
   non-saturating loss, one run per seed, on one CPU thread. Per run: modes covered (>= 20
   of 2500 samples within 3 sd), the share of high-quality samples (within 3 sd of a
   centre) and the wall time. Targets: 8/8 modes
   and >= 90% high quality on every seed in <= 60 s; >= 24/25 modes on the grid. The
   papers' figures, printed next to ours: vanilla GAN 1/8 modes on the ring; Unrolled
   GAN 7.6 modes, 35.6% high quality; VEEGAN 8 modes, 52.9% (VEEGAN, Table 1).
2. Digits: the DCGAN-style conv pair; classes produced (target 10/10), class entropy,
   and the Frechet distance in a digits classifier's feature space between the training
   digits and: generated samples, held-out real digits (the floor) and uniform noise (the
   ceiling).

    .venv/bin/python bench/bench_gan.py            # 5 seeds per mixture
    .venv/bin/python bench/bench_gan.py --quick    # 2 seeds, shorter digits run
    .venv/bin/python bench/bench_gan.py --threads 2  # torch threads (default 1)
    .venv/bin/python bench/bench_gan.py --part grid  # one part: ring, grid or digits
    .venv/bin/python bench/bench_gan.py --part grid --seeds 5,6,7  # other seeds
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from gradkit.gan import data, digit_classifier, fid, mode_coverage, models, training

PAPERS = "vanilla GAN 1/8 modes; Unrolled GAN 7.6/8, 35.6% HQ; VEEGAN 8/8, 52.9% HQ (VEEGAN Table 1, ring std 0.02)"


def mixture_runs(name: str, mixture: data.Mixture, seeds: list[int]) -> list[tuple[int, float, float]]:
    rows = []
    for seed in seeds:
        start = time.perf_counter()
        run = training.train_mixture_gan(mixture, seed=seed, device="cpu", progress=False)
        seconds = time.perf_counter() - start
        samples = training.sample(run.generator, 2500, seed=10_000 + seed)
        modes = mode_coverage.modes_covered(samples, mixture.centers, mixture.std)
        share = mode_coverage.high_quality_share(samples, mixture.centers, mixture.std)
        rows.append((modes, share, seconds))
        print(f"{name} seed {seed}: {modes}/{len(mixture.centers)} modes, {share:.1%} high quality, {seconds:.1f} s "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    modes, shares, seconds = (np.array(column) for column in zip(*rows))
    print(f"{name}: modes mean {modes.mean():.1f} worst {modes.min()}/{len(mixture.centers)}; high quality mean "
          f"{shares.mean():.1%} worst {shares.min():.1%}; seconds mean {seconds.mean():.1f} max {seconds.max():.1f}")
    return rows


def digits_run(steps: int) -> None:
    X_train, _ = data.gan_digits("train")
    X_test, _ = data.gan_digits("test")
    torch.manual_seed(0)
    G, D = models.ConvGenerator(), models.ConvDiscriminator()
    run = training.train_gan(G, D, X_train, steps=steps, batch_size=128, seed=0, device="cpu", progress=False)
    generated = training.sample(run.generator, 1000, seed=1)
    noise = np.random.default_rng(0).uniform(-1, 1, size=(1000, 64))
    classifier = digit_classifier.digit_classifier()
    fd = {name: fid.feature_frechet_distance(X_train, x, classifier)
          for name, x in (("generated", generated), ("held-out real (floor)", X_test), ("uniform noise (ceiling)", noise))}
    print(f"digits ({steps} steps, {run.seconds:.1f} s): classes produced "
          f"{digit_classifier.classes_produced(generated, classifier)}/10 (target 10), class entropy "
          f"{digit_classifier.class_entropy(generated, classifier):.2f} nats (max {np.log(10):.2f})")
    for name, value in fd.items():
        print(f"  feature Frechet distance to the training digits, {name}: {value:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds per mixture, 800 digits steps")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: the models are small, and a shared machine stays usable)")
    parser.add_argument("--part", choices=["all", "ring", "grid", "digits"], default="all",
                        help="run one part only (two parts can then run side by side, one per core)")
    parser.add_argument("--seeds", help="comma-separated seeds for the mixtures (default 0,1,2,3,4; --quick 0,1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [0, 1] if args.quick else [0, 1, 2, 3, 4]
    except ValueError:
        parser.error(f"--seeds: expected comma-separated integers such as 5,6,7, got {args.seeds!r}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.1f}")
    print(f"papers: {PAPERS}")
    if args.part in ("all", "ring"):
        ring = mixture_runs("ring of 8", data.ring_of_gaussians(n=20_000), seeds)
        ring_ok = all(m == 8 and s >= 0.9 and t <= 60 for m, s, t in ring)
        print(f"target: ring 8/8, >= 90% HQ, <= 60 s on every seed: {'met' if ring_ok else 'NOT met'}")
    if args.part in ("all", "grid"):
        grid = mixture_runs("grid of 25", data.grid_of_gaussians(n=20_000), seeds)
        grid_ok = all(m >= 24 for m, _, _ in grid)
        print(f"target: grid >= 24/25 on every seed: {'met' if grid_ok else 'NOT met'}")
    if args.part in ("all", "digits"):
        digits_run(800 if args.quick else 2000)

if __name__ == "__main__":
    main()
