"""Exercise every GPU path of gradkit.distributed and print what ran where, and how fast.

On a machine with NVIDIA GPUs (one H100 is enough; every path then shares it):

    .venv/bin/python bench/gpu_check.py            # about 2-4 minutes

Checks, each reported PASS / FAIL / SKIP with devices, GPU ids and seconds:

1. device decisions: ``use_gpu="auto"`` picks the GPU; GPU shares per worker;
2. ``torch.distributed`` all-reduce between 2 GPU actors: NCCL when each has its own GPU;
   on one GPU the two actors share it (0.5 each) and, since NCCL refuses two ranks on
   one device, gloo all-reduces the CUDA tensors; plus a 1-rank NCCL group, so that the
   NCCL path runs even on a single GPU;
3. the ring all-reduce over Ray actors with CUDA tensors;
4. pipeline stages on GPU (one GPU per stage, or shares of one): gradients equal to
   single-process autograd, and the bubble at 1 and 4 micro-batches;
4b. ``gradkit.compress``: float16 autocast with ``torch.amp.GradScaler`` reaches float32's
   accuracy (within 0.5 point), with ms/step and peak memory of both;
4c. ``gradkit.gan``: GAN training steps (the MLP pair in float64, the DCGAN pair in float32)
   on CUDA against the same steps on the CPU, and ``train_gan`` steps/s on both;
5. four data-parallel workers placed on fractions of the GPU(s);
6. ``train()`` with ``ring``, ``torch-allreduce``, ``ps-sync`` and ``ddp`` (Ray Train,
   NCCL with a GPU per worker) against ``single`` on the GPU (same seed, combined batch).

Without CUDA (this runs anywhere) it is a *dry run*: Ray is told about one logical GPU
so that the placement and the GPU shares are exercised, the computing happens on the
CPU, and every CUDA-only assertion is reported as SKIP. The exit status is 0 when
nothing failed, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

import numpy as np
import ray
import torch

from gradkit.distributed.devices import gpus_per_worker, resolve_use_gpu
from gradkit.distributed.examples import mlp_factory, synthetic_classification
from gradkit.distributed.pipeline import Pipeline, split_sequential
from gradkit.distributed.ring_allreduce import RingWorker, ring_allreduce
from gradkit.distributed.torch_allreduce import (TorchAllReduceWorker, destroy_process_group,
                                                 init_process_group, torch_allreduce)
from gradkit.distributed.trainer import train
from gradkit.runtime import cluster_resources, ensure_ray
from gradkit.torch_basics import mlp

CUDA = torch.cuda.is_available()
DEVICE = "cuda:0" if CUDA else "cpu"  # what an actor with a GPU share should compute on
RESULTS: list[tuple[str, str, str, float]] = []


class Skip(Exception):
    """A check that cannot run on this machine (no CUDA): reported, not a failure."""


def run_check(name: str, function) -> None:
    """Run one check, print and record PASS / FAIL / SKIP with its detail; never stop."""
    print(f"\n== {name}", flush=True)
    start = time.perf_counter()
    try:
        status, detail = "PASS", function()
    except Skip as reason:
        status, detail = "SKIP", str(reason)
    except Exception as error:  # a report, not a test runner: record and go on
        traceback.print_exc()
        status, detail = "FAIL", f"{type(error).__name__}: {error}"
    RESULTS.append((name, status, detail, time.perf_counter() - start))
    print(f"   -> {status} ({RESULTS[-1][3]:.1f} s): {detail}", flush=True)


def timed(function, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def kill(actors) -> None:
    for actor in actors:
        ray.kill(actor)


def check_devices() -> str:
    assert resolve_use_gpu("auto"), "use_gpu='auto' chose the CPU although the cluster has a GPU"
    gpus = cluster_resources().get("GPU", 0)
    shares = {n: gpus_per_worker(n) for n in (1, 2, 4)}
    return f"use_gpu='auto' -> GPU; {gpus:g} GPU(s); GPU share per worker for 1/2/4 workers: {shares}"


def check_torch_allreduce() -> str:
    share = gpus_per_worker(2)
    numel = 16 * 2**20  # 64 MB of float32
    tensors = [torch.randn(numel, generator=torch.Generator().manual_seed(r)) for r in range(2)]
    members = [TorchAllReduceWorker.options(num_gpus=share, num_cpus=1).remote() for _ in range(2)]
    try:
        backend = init_process_group(members, backend="auto", timeout_s=120)
        info = ray.get([m.dist_device_info.remote() for m in members])
        ray.get([m.set_tensor.remote(t) for m, t in zip(members, tensors)])
        torch_allreduce(members, timeout_s=120)  # warm-up (NCCL builds its communicator here)
        ray.get([m.set_tensor.remote(t) for m, t in zip(members, tensors)])
        _, seconds = timed(torch_allreduce, members, timeout_s=120)
        for result in ray.get([m.get_tensor.remote() for m in members]):
            torch.testing.assert_close(result, tensors[0] + tensors[1])
        destroy_process_group(members)
    finally:
        kill(members)  # frees the GPU shares for the next actor
    assert all(device == DEVICE for device, _ in info), f"ranks computed on {info}, expected {DEVICE}"
    shared = len({tuple(ids) for _, ids in info}) < len(info)
    note = "one GPU shared by both ranks, so gloo on CUDA tensors" if shared else "a GPU per rank"

    # One rank with a whole GPU: a process group of one, so that NCCL runs even on one GPU.
    solo = [TorchAllReduceWorker.options(num_gpus=1, num_cpus=1).remote()]
    try:
        solo_backend = init_process_group(solo, backend="auto", timeout_s=120)
        ray.get(solo[0].set_tensor.remote(tensors[0]))
        torch_allreduce(solo, timeout_s=120)
        torch.testing.assert_close(ray.get(solo[0].get_tensor.remote()), tensors[0])
        destroy_process_group(solo)
    finally:
        kill(solo)
    if CUDA:
        assert solo_backend == "nccl", f"a rank with a whole GPU should use NCCL, got {solo_backend}"
    return (f"2 ranks: backend {backend} ({note}); (device, GPU ids) {info}; 64 MB in "
            f"{seconds * 1000:.1f} ms = {numel * 4 / seconds / 1e9:.2f} GB/s; 1 rank: backend {solo_backend}")


def check_ring_allreduce() -> str:
    share = gpus_per_worker(2)
    numel = 16 * 2**20 + 3  # 64 MB, not divisible by 2
    members = [RingWorker.options(num_gpus=share, num_cpus=1).remote() for _ in range(2)]
    try:
        tensors = [torch.randn(numel, generator=torch.Generator().manual_seed(r)) for r in range(2)]
        ray.get([m.set_tensor.remote(t) for m, t in zip(members, tensors)])  # onto each actor's device
        devices = ray.get([m.buffer_device.remote() for m in members])
        gpu_ids = ray.get([m.gpu_ids.remote() for m in members])
        ring_allreduce(members, timeout_s=120)  # warm-up
        ray.get([m.set_tensor.remote(t) for m, t in zip(members, tensors)])
        _, seconds = timed(ring_allreduce, members, timeout_s=120)
        for result in ray.get([m.get_tensor.remote() for m in members]):
            torch.testing.assert_close(result, tensors[0] + tensors[1])
    finally:
        kill(members)
    assert set(devices) == {DEVICE}, f"ring buffers on {devices}, expected {DEVICE}"
    return (f"buffers on {devices}, GPU ids {gpu_ids}; 64 MB in {seconds * 1000:.1f} ms = "
            f"{numel * 4 / seconds / 1e9:.2f} GB/s (chunks staged through host memory)")


def check_pipeline() -> str:
    sizes = (256, 1024, 1024, 1024, 10)
    torch.manual_seed(0)
    model = mlp(sizes)
    reference = mlp(sizes)
    reference.load_state_dict(model.state_dict())
    X, y = synthetic_classification(512, 256, 10)
    torch.nn.functional.cross_entropy(reference(torch.tensor(X)), torch.tensor(y)).backward()
    with Pipeline(split_sequential(model, 2), use_gpu="auto", timeout_s=120) as pipe:
        placement = pipe.placement()
        pipe.train_step(X, y, micro_batches=4, step=False)  # warm-up (CUDA context, kernels)
        report = pipe.train_step(X, y, micro_batches=4, step=False)
        got = pipe.gradients()
        naive = pipe.train_step(X, y, micro_batches=1, step=False)
    for name, parameter in reference.named_parameters():
        torch.testing.assert_close(got[name], parameter.grad, atol=1e-4, rtol=1e-3)
    assert {p["device"] for p in placement} == {DEVICE}, f"stages on {placement}"
    where = [(p["stage"], p["device"], p["gpu_ids"]) for p in placement]
    return (f"(stage, device, GPU ids) {where}; gradients match autograd; step m=1 "
            f"{naive.seconds * 1000:.0f} ms, m=4 {report.seconds * 1000:.0f} ms, bubble m=4 "
            f"{report.bubble:.2f} (theory {report.theoretical_bubble:.2f})")


def data_parallel_check(strategy: str, workers: int, reference, data, model_fn, common: dict):
    def check() -> str:
        use_gpu = CUDA or strategy != "ddp"  # Ray Train needs real CUDA for use_gpu=True
        result = train(model_fn, data, strategy=strategy, workers=workers, use_gpu=use_gpu,
                       batch_size=512 // workers, timeout_s=180, **common)
        worst = max(float((result.state_dict[k].cpu() - reference.state_dict[k].cpu()).abs().max())
                    for k in reference.state_dict)
        assert worst < 1e-3, f"parameters differ from single-process training by {worst:.2e}"
        devices = {place["device"] for place in result.placement}
        expected = {DEVICE} if use_gpu else {"cpu"}
        assert devices == expected, f"workers computed on {devices}, expected {expected}"
        where = [(p["rank"], p["device"], [str(i) for i in p.get("gpu_ids", [])], p.get("backend", "-"))
                 for p in result.placement]
        last = result.history[-1]
        note = "" if use_gpu else " [dry run: Ray Train on CPU]"
        return (f"(rank, device, GPU ids, backend) {where}; max |diff| vs single {worst:.1e}; "
                f"{last['samples_per_s']:.0f} samples/s, compute {last['compute_s']:.2f} s, "
                f"communication {last['communication_s']:.2f} s; start-up {result.startup_s:.1f} s{note}")
    return check


def check_mixed_precision_fp16() -> str:
    """gradkit.compress: float16 autocast + GradScaler against float32 on the GPU (digits MLP 64-300-100-10)."""
    if not CUDA:
        raise Skip("no CUDA: float16 autocast with the GradScaler needs a GPU (bench_compress.py covers bfloat16 on CPU)")
    from gradkit.data import load_digits
    from mixed_precision_runs import train_classifier  # bench/, next to this script

    (X, y), (X_test, y_test) = load_digits("train"), load_digits("test")
    runs = {precision: train_classifier(mlp((64, 300, 100, 10), seed=0), X, y.astype(np.int64), X_test,
                                        y_test.astype(np.int64), precision=precision, epochs=20, device=DEVICE)
            for precision in ("float32", "mixed")}
    f32, f16 = runs["float32"], runs["mixed"]
    assert abs(f16.accuracy - f32.accuracy) <= 0.005, f"float16 {f16.accuracy:.2%} vs float32 {f32.accuracy:.2%}"
    return (f"float32 {f32.accuracy:.2%} {f32.seconds_per_step * 1e3:.2f} ms/step peak {f32.peak_memory_bytes / 2**20:.1f} MiB; "
            f"float16+GradScaler {f16.accuracy:.2%} {f16.seconds_per_step * 1e3:.2f} ms/step "
            f"peak {f16.peak_memory_bytes / 2**20:.1f} MiB")


def check_gan_step() -> str:
    """gradkit.gan: the same GAN training steps on CUDA and on the CPU give the same weights."""
    if not CUDA:
        raise Skip("no CUDA: the GAN step on CUDA needs a GPU (tests/lib/test_gan_training.py covers the CPU)")
    from gradkit.gan import data as gan_data
    from gradkit.gan import models as gan_models
    from gradkit.gan import training as gan_training

    def steps_on(device, make_pair, dtype, shape, noise_dim):
        torch.manual_seed(0)
        G, D = (m.to(device=device, dtype=dtype) for m in make_pair())
        opts = [torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.5, 0.999)) for m in (G, D)]
        batches = torch.Generator().manual_seed(1)
        for _ in range(5):
            real, z_d, z_g = (torch.randn(*s, generator=batches, dtype=dtype).to(device)
                              for s in (shape, (64, noise_dim), (64, noise_dim)))
            gan_training.train_step(G, D, opts[0], opts[1], real, z_d, z_g)
        return torch.cat([p.detach().cpu().reshape(-1) for p in list(G.parameters()) + list(D.parameters())])

    report = []
    for name, pair, dtype, shape, noise_dim, tol in (
            ("MLP pair float64", lambda: (gan_models.MLPGenerator(), gan_models.MLPDiscriminator()),
             torch.float64, (64, 2), 2, 1e-9),
            ("DCGAN pair float32", lambda: (gan_models.ConvGenerator(), gan_models.ConvDiscriminator()),
             torch.float32, (64, 1, 8, 8), 32, 1e-3)):
        cpu, gpu = (steps_on(device, pair, dtype, shape, noise_dim) for device in ("cpu", DEVICE))
        worst = float((cpu - gpu).abs().max())
        assert worst <= tol, f"{name}: max |CUDA - CPU| after 5 steps = {worst:.1e} > {tol:g}"
        report.append(f"{name} max |CUDA - CPU| {worst:.1e}")
    ring = gan_data.ring_of_gaussians()
    rates = {}
    for device in ("cpu", DEVICE):
        torch.manual_seed(0)
        run = gan_training.train_gan(gan_models.MLPGenerator(), gan_models.MLPDiscriminator(), ring.X, steps=300,
                                     device=device, progress=False)
        rates[device] = 300 / run.seconds
    return "; ".join(report) + f"; train_gan steps/s: CPU {rates['cpu']:.0f}, CUDA {rates[DEVICE]:.0f}"


def no_cuda() -> str:
    raise Skip("no CUDA on this machine: everything above computed on the CPU")


def main() -> int:
    if CUDA:
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, NCCL available "
              f"{torch.distributed.is_nccl_available()}, GPUs {names}")
        ensure_ray(num_cpus=max(os.cpu_count() or 1, 4))
    else:
        why = (f"this torch ({torch.__version__}) is built without CUDA: install a CUDA build to "
               "check a GPU" if torch.version.cuda is None else "torch sees no CUDA device")
        print(f"No CUDA ({why}). DRY RUN: Ray gets one *logical* GPU so that placement and GPU "
              "shares are exercised; computing happens on the CPU; CUDA-only checks are SKIPPED.")
        ensure_ray(num_cpus=max(os.cpu_count() or 1, 4), num_gpus=1)
    print(f"Ray {ray.__version__}, cluster resources {cluster_resources()}")

    run_check("1. device decisions", check_devices)
    run_check("2. torch.distributed all-reduce between GPU actors (NCCL / gloo)", check_torch_allreduce)
    run_check("3. ring all-reduce over Ray actors with CUDA tensors", check_ring_allreduce)
    run_check("4. pipeline stages on GPU vs single-process autograd", check_pipeline)
    run_check("4b. mixed precision: float16 autocast + GradScaler vs float32 (gradkit.compress)",
              check_mixed_precision_fp16)
    run_check("4c. GAN training step on CUDA vs the CPU (gradkit.gan)", check_gan_step)

    data = synthetic_classification(4096, 256, 10)
    model_fn = mlp_factory((256, 1024, 1024, 10))
    common = dict(epochs=2, lr=0.05, seed=1)
    reference = train(model_fn, data, strategy="single", batch_size=512, use_gpu=CUDA, **common)
    print(f"\nsingle process on {reference.device}: {reference.history[-1]['samples_per_s']:.0f} samples/s")
    run_check("5. four workers on GPU shares (ring)",
              data_parallel_check("ring", 4, reference, data, model_fn, common))
    for strategy, workers in (("ring", 2), ("torch-allreduce", 2), ("torch-allreduce", 1),
                              ("ps-sync", 2), ("ddp", 2), ("ddp", 1)):
        run_check(f"6. train(strategy={strategy!r}, workers={workers}) vs single",
                  data_parallel_check(strategy, workers, reference, data, model_fn, common))
    if not CUDA:
        run_check("7. CUDA tensors", no_cuda)

    print("\n== summary" + ("" if CUDA else " (DRY RUN on CPU: the GPU paths were NOT exercised)"))
    for name, status, detail, seconds in RESULTS:
        print(f"{status} {name} ({seconds:.1f} s): {detail}")
    failed = [name for name, status, _, _ in RESULTS if status == "FAIL"]
    print(f"{len(failed)} failed" + (f": {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
