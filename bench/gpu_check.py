"""Exercise every GPU path of gradkit.distributed and print what ran where.

Run on a machine with NVIDIA GPUs (a lead runs it on a lent GPU machine):

    .venv/bin/python bench/gpu_check.py

Checks, each reported PASS/FAIL with its devices and timing:

1. device selection: ``use_gpu="auto"``, GPUs per worker (fractions on a single GPU);
2. ``torch.distributed`` all-reduce between 2 GPU actors: NCCL when there are 2 GPUs;
   on a single GPU the two actors share it (0.5 GPU each) and, since NCCL refuses two
   ranks on one device, gloo all-reduces the CUDA tensors instead (said in the output);
3. the ring all-reduce over Ray actors with CUDA tensors;
4. pipeline stages on GPU: gradients equal to single-process autograd;
5. ``train()`` with ``ring``, ``ps-sync`` and ``ddp`` on GPU, each compared with
   ``single`` (same seed, combined batch) and timed.

Without a GPU it says so and exits with status 1.
"""

import sys
import time
import traceback

import ray
import torch

from gradkit.distributed import train
from gradkit.distributed.devices import gpus_per_worker, resolve_use_gpu
from gradkit.distributed.examples import make_mlp, mlp_factory, synthetic_classification
from gradkit.distributed.pipeline import Pipeline, split_sequential
from gradkit.distributed.ray_runtime import cluster_resources, ensure_ray
from gradkit.distributed.ring_allreduce import RingWorker, ring_allreduce
from gradkit.distributed.torch_allreduce import (TorchAllReduceWorker, destroy_process_group,
                                                 init_process_group, torch_allreduce)

RESULTS = []


def check(name):
    """Decorator: run a check, record PASS/FAIL with its printed details, never stop."""
    def wrap(function):
        print(f"\n== {name}")
        start = time.perf_counter()
        try:
            detail = function()
            RESULTS.append((name, "PASS", detail, time.perf_counter() - start))
        except Exception as error:  # a report, not a test runner: record and go on
            traceback.print_exc()
            RESULTS.append((name, "FAIL", f"{type(error).__name__}: {error}", time.perf_counter() - start))
        print(f"   -> {RESULTS[-1][1]}: {RESULTS[-1][2]}")
        return function
    return wrap


def two_actor_gpu_share() -> float:
    return gpus_per_worker(2, cluster_resources().get("GPU", 0))


def main() -> int:
    if not torch.cuda.is_available():
        print("No CUDA device: the GPU paths cannot be checked on this machine.")
        return 1
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, NCCL available: "
          f"{torch.distributed.is_nccl_available()}, GPUs: {names}")
    ensure_ray()
    print("Ray cluster resources:", cluster_resources())
    share = two_actor_gpu_share()

    @check("1. device selection")
    def _():
        use = resolve_use_gpu("auto")
        assert use, "use_gpu='auto' chose CPU although CUDA is present"
        return f"use_gpu=auto -> GPU; 2 workers get {share} GPU each; 3 workers get {gpus_per_worker(3)}"

    @check("2. torch.distributed all-reduce between 2 GPU actors")
    def _():
        members = [TorchAllReduceWorker.options(num_gpus=share, num_cpus=1).remote() for _ in range(2)]
        backend = init_process_group(members, backend="auto")
        tensors = [torch.randn(1 << 20, generator=torch.Generator().manual_seed(r)) for r in range(2)]
        ray.get([m.set_tensor.remote(t) for m, t in zip(members, tensors)])
        info = ray.get([m.dist_device_info.remote() for m in members])
        start = time.perf_counter()
        torch_allreduce(members)
        seconds = time.perf_counter() - start
        for result in ray.get([m.get_tensor.remote() for m in members]):
            torch.testing.assert_close(result, tensors[0] + tensors[1])
        destroy_process_group(members)
        for m in members:
            ray.kill(m)
        note = "" if backend == "nccl" else " (one GPU shared by both ranks: NCCL cannot, gloo on CUDA tensors instead)"
        return f"backend {backend}{note}; ranks on {info}; 4 MB in {seconds * 1000:.1f} ms"

    @check("3. ring all-reduce over Ray actors with CUDA tensors")
    def _():
        members = [RingWorker.options(num_gpus=share, num_cpus=1).remote() for _ in range(2)]
        tensors = [torch.randn(1000003, generator=torch.Generator().manual_seed(r)) for r in range(2)]
        ray.get([m.set_tensor.remote(t) for m, t in zip(members, tensors)])  # moved to each actor's GPU
        buffer_devices = ray.get([m.buffer_device.remote() for m in members])
        gpu_ids = ray.get([m.gpu_ids.remote() for m in members])
        start = time.perf_counter()
        ring_allreduce(members)
        seconds = time.perf_counter() - start
        for result in ray.get([m.get_tensor.remote() for m in members]):
            torch.testing.assert_close(result, tensors[0] + tensors[1])
        for m in members:
            ray.kill(m)
        return (f"buffers on {buffer_devices}, physical GPUs {gpu_ids}; 4 MB in {seconds * 1000:.1f} ms "
                "(chunks staged through host memory and the object store)")

    @check("4. pipeline stages on GPU, gradients vs single-process autograd")
    def _():
        torch.manual_seed(0)
        model = make_mlp((32, 64, 64, 64, 10))
        X, y = synthetic_classification(64, 32, 10)
        reference = make_mlp((32, 64, 64, 64, 10))
        reference.load_state_dict(model.state_dict())
        torch.nn.functional.cross_entropy(reference(torch.tensor(X)), torch.tensor(y)).backward()
        with Pipeline(split_sequential(model, 2), use_gpu=True) as pipe:
            placement = pipe.placement()
            report = pipe.train_step(X, y, micro_batches=4, step=False)
            got = pipe.gradients()
        for name, parameter in reference.named_parameters():
            torch.testing.assert_close(got[name], parameter.grad, atol=1e-5, rtol=1e-4)
        return f"stages {[(p['stage'], p['device'], p['gpu_ids']) for p in placement]}; bubble {report.bubble:.2f}"

    X, y = synthetic_classification(4096, 256, 10)
    model_fn = mlp_factory((256, 1024, 1024, 10))
    common = dict(epochs=2, lr=0.05, seed=1)
    reference = train(model_fn, (X, y), strategy="single", batch_size=256, use_gpu=True, **common)
    print(f"\nsingle on {reference.device}: {reference.history[-1]['samples_per_s']:.0f} samples/s")

    for strategy in ("ring", "ps-sync", "ddp"):
        @check(f"5. train(strategy={strategy!r}, workers=2, use_gpu=True) vs single")
        def _(strategy=strategy):
            result = train(model_fn, (X, y), strategy=strategy, workers=2, batch_size=128,
                           use_gpu=True, **common)
            worst = max(float((result.state_dict[k].cpu() - reference.state_dict[k].cpu()).abs().max())
                        for k in reference.state_dict)
            assert worst < 1e-3, f"parameters differ from single by {worst}"
            last = result.history[-1]
            return (f"placement {result.placement}; max |diff| {worst:.1e}; {last['samples_per_s']:.0f} samples/s; "
                    f"start-up {result.startup_s:.1f} s")

    print("\n== summary")
    for name, status, detail, seconds in RESULTS:
        print(f"{status} {name} ({seconds:.1f} s): {detail}")
    return 0 if all(status == "PASS" for _, status, _, _ in RESULTS) else 2


if __name__ == "__main__":
    sys.exit(main())
