"""Deep Compression on the digits: pruning, weight sharing, Huffman, int8, mixed precision.

Measured in one run, each against the target the paper (Han, Mao and Dally, 2016) or
the course sets, on two torch MLPs trained on the kit's 8x8 digits as in assignment 3
(SGD + momentum 0.9, batch 32): the digits MLP 64-128-10 and a larger 64-300-100-10
(the shape of the paper's LeNet-300-100, on 64 inputs instead of 784).

1. pruning alone: iterative magnitude pruning (one global threshold, fine-tuned after every
   round); the largest sparsity whose accuracy is within 1 point of the dense model
   (target >= 90% removed);
2. pruning + weight sharing + Huffman: the best compression ratio against float32
   with <= 1 point lost, over the pruning rounds and 3-5 bits (target >= 30x; the
   paper reports 40x for LeNet-300-100 on MNIST);
3. int8 per-channel (symmetric): accuracy change (target <= 0.5 point) and size;
4. mixed precision (autocast; bfloat16 on CPU, float16 + GradScaler on CUDA): final
   accuracy against float32 (target within 0.5 point), time per step, and peak
   memory (CUDA: max allocated; CPU: peak RSS of a fresh process running only that).

    .venv/bin/python bench/bench_compress.py            # about 2-3 minutes on 2 cores
    .venv/bin/python bench/bench_compress.py --quick    # one model, fewer epochs
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from gradkit.compress.deep_compression import evaluate, finetune, finetune_shared, int8_copy, train_mlp
from gradkit.compress.pruning import apply_masks, magnitude_masks, sparsity
from gradkit.compress.size_ledger import model_ledger
from gradkit.compress.weight_sharing import share_weights
from gradkit.data import load_digits
from gradkit.torch_basics import choose_device, mlp
from mixed_precision_runs import train_classifier  # bench/mixed_precision_runs.py, next to this script

SCHEDULE = (0.5, 0.7, 0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98)


def digits():
    X, y = load_digits("train")
    X_test, y_test = load_digits("test")
    return X, y.astype(np.int64), X_test, y_test.astype(np.int64)


def compress_one(sizes, epochs, finetune_epochs, data, device) -> dict:
    X, y, X_test, y_test = data
    start = time.perf_counter()
    dense = train_mlp(sizes, X, y, epochs=epochs, device=device)
    dense_acc = evaluate(dense, X_test, y_test)
    dense_bits = model_ledger(dense).total_bits
    print(f"\n{'-'.join(map(str, sizes))}: dense accuracy {dense_acc:.2%}, "
          f"{dense_bits // 8} bytes of weights ({time.perf_counter() - start:.1f} s)", flush=True)

    # 1. iterative pruning, keeping a copy of every round
    model, rounds = copy.deepcopy(dense), []
    for amount in SCHEDULE:
        masks = magnitude_masks(model, amount, scope="global")
        apply_masks(model, masks)
        finetune(model, X, y, epochs=finetune_epochs, lr=0.02, masks=masks, seed=int(amount * 100))
        acc = evaluate(model, X_test, y_test)
        rounds.append((amount, copy.deepcopy(model), masks, acc))
        print(f"  pruned {sparsity(model):.0%}: accuracy {acc:.2%} ({dense_acc - acc:+.2%} lost)", flush=True)
    ok = [r for r in rounds if r[3] >= dense_acc - 0.01]
    best_sparsity = max((r[0] for r in ok), default=0.0)

    # 2. + sharing + Huffman over the rounds within 1 point, 3-5 bits
    best = None
    for amount, pruned, masks, _ in ok[-4:]:
        for bits in (3, 4, 5):
            shared_model = copy.deepcopy(pruned)
            shared = share_weights(shared_model, bits=bits, masks=masks)
            finetune_shared(shared_model, shared, X, y, epochs=2)
            acc = evaluate(shared_model, X_test, y_test)
            ledger = model_ledger(shared_model, shared=shared, huffman=True)
            if acc >= dense_acc - 0.01 and (best is None or ledger.ratio > best["ratio"]):
                best = {"sparsity": amount, "bits": bits, "accuracy": acc, "ratio": ledger.ratio,
                        "ratio_with_biases": ledger.ratio_with_biases, "ledger": ledger,
                        "unhuffman_ratio": model_ledger(shared_model, shared=shared).ratio}
    # 3. int8 per channel
    int8_acc = evaluate(int8_copy(dense, "symmetric", per_channel=True), X_test, y_test)
    int8_ledger = model_ledger(dense, int8=True)
    return {"sizes": sizes, "dense": dense_acc, "best_sparsity": best_sparsity, "rounds": rounds,
            "best": best, "int8_acc": int8_acc, "int8_ratio": int8_ledger.ratio, "dense_bytes": dense_bits // 8,
            "int8_bytes": int8_ledger.total_bits // 8, "seconds": time.perf_counter() - start}


def mixed_precision_child(precision: str, sizes, epochs: int) -> None:
    """Run one training in this (fresh) process and print its figures as JSON."""
    X, y, X_test, y_test = digits()
    device = choose_device()
    result = train_classifier(mlp(sizes, seed=0), X, y, X_test, y_test, precision=precision,
                              epochs=epochs, batch_size=64, lr=0.05, device=device)
    peak = result.peak_memory_bytes
    if peak is None:  # CPU: the process's peak resident set (KiB on Linux)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"precision": precision, "accuracy": result.accuracy, "ms_per_step":
                      result.seconds_per_step * 1e3, "peak_bytes": peak, "device": str(device)}))


def mixed_precision(sizes, epochs: int) -> dict:
    out = {}
    for precision in ("float32", "mixed"):
        proc = subprocess.run([sys.executable, __file__, "--mp-child", precision, "--mp-sizes",
                               ",".join(map(str, sizes)), "--mp-epochs", str(epochs)],
                              capture_output=True, text=True, check=True)
        out[precision] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the digits MLP only, fewer epochs")
    parser.add_argument("--mp-child", choices=("float32", "mixed"), help=argparse.SUPPRESS)
    parser.add_argument("--mp-sizes", default="64,300,100,10", help=argparse.SUPPRESS)
    parser.add_argument("--mp-epochs", type=int, default=20, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mp_child:
        mixed_precision_child(args.mp_child, tuple(int(s) for s in args.mp_sizes.split(",")), args.mp_epochs)
        return 0

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    device = choose_device()
    data = digits()
    models = [(64, 128, 10)] if args.quick else [(64, 128, 10), (64, 300, 100, 10)]
    epochs, finetune_epochs = (15, 3) if args.quick else (30, 4)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    results = [compress_one(sizes, epochs, finetune_epochs, data, device) for sizes in models]
    mp_sizes = models[-1]
    mp = mixed_precision(mp_sizes, epochs=10 if args.quick else 20)

    met = []
    print("\n== results (accuracy in %, targets from the issue / the paper)")
    for r in results:
        name = "-".join(map(str, r["sizes"]))
        print(f"\n{name}: dense {r['dense']:.2%} ({r['seconds']:.0f} s for this model)")
        met.append(r["best_sparsity"] >= 0.9)
        print(f"  pruning alone: largest sparsity within 1 point = {r['best_sparsity']:.0%} "
              f"(target >= 90%: {'met' if met[-1] else 'NOT met'})")
        best = r["best"]
        if best is None:
            print("  pruning + sharing + Huffman: no setting within 1 point")
            met.append(False)
        else:
            met.append(best["ratio"] >= 30)
            print(f"  pruning {best['sparsity']:.0%} + sharing {best['bits']} bits + Huffman: accuracy "
                  f"{best['accuracy']:.2%}, compression {best['ratio']:.1f}x on weights "
                  f"({best['unhuffman_ratio']:.1f}x before Huffman, {best['ratio_with_biases']:.1f}x with float32 "
                  f"biases) (target >= 30x, paper 40x: {'met' if met[-1] else 'NOT met'})")
            print("  " + best["ledger"].table().replace("\n", "\n  "))
        change = r["int8_acc"] - r["dense"]
        met.append(abs(change) <= 0.005)
        print(f"  int8 per channel: accuracy {r['int8_acc']:.2%} ({change:+.2%}; target within 0.5 point: "
              f"{'met' if met[-1] else 'NOT met'}), {r['dense_bytes']} -> {r['int8_bytes']} bytes "
              f"({r['int8_ratio']:.2f}x)")
    f32, mixed = mp["float32"], mp["mixed"]
    met.append(abs(mixed["accuracy"] - f32["accuracy"]) <= 0.005)
    print(f"\nmixed precision on {f32['device']} ({'-'.join(map(str, mp_sizes))}, batch 64): "
          f"float32 {f32['accuracy']:.2%}, {f32['ms_per_step']:.2f} ms/step, peak {f32['peak_bytes'] / 2**20:.0f} MiB; "
          f"mixed {mixed['accuracy']:.2%}, {mixed['ms_per_step']:.2f} ms/step, peak {mixed['peak_bytes'] / 2**20:.0f} MiB "
          f"(accuracy within 0.5 point: {'met' if met[-1] else 'NOT met'})")
    print(f"\n{sum(met)} of {len(met)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
