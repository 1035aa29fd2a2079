"""Step 1 of the lab: what does the cluster have, and can every node run gradkit?

    python cluster/labs/check_cluster.py                    # embedded Ray on this machine
    python cluster/labs/check_cluster.py --address HEAD_IP:6379   # a cluster, by its address
    python cluster/labs/check_cluster.py --address ray://HEAD:10001
    python cluster/labs/check_cluster.py --address HEAD_IP:6379 --want-cpus 16 --want-gpus 2

Prints the cluster's resources (what `ray status` shows), then runs one small task on
every node (a GPU task where the node has GPUs) reporting its host, versions and devices.

``train()`` compares what it asks for with what the cluster has *now* and refuses at
once when it is short. On an autoscaling cluster (``ray up``, KubeRay) ask for the
capacity first: ``--want-cpus`` / ``--want-gpus`` ask the autoscaler for it and wait
until the nodes have joined (or ``--wait-s`` has passed).
"""

import argparse
import socket
import time

import ray
import torch

from gradkit.runtime import cluster_resources, ray_session


@ray.remote
def describe_node() -> dict:
    import gradkit
    gpus = ray.get_gpu_ids()
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"host": socket.gethostname(), "ip": ray.util.get_node_ip_address(),
            "torch": torch.__version__, "ray": ray.__version__, "gradkit": getattr(gradkit, "__version__", "?"),
            "cuda": torch.cuda.is_available(), "gpu_ids": gpus, "gpu_names": names}


def scale_up(cpus: float, gpus: float, wait_s: float) -> None:
    """Ask the autoscaler for at least ``cpus`` CPUs and ``gpus`` GPUs; wait until they are there."""
    from ray.autoscaler.sdk import request_resources

    bundles = [{"CPU": 1}] * int(cpus) + [{"GPU": 1}] * int(gpus)
    request_resources(bundles=bundles)  # a standing request: the autoscaler keeps this capacity
    deadline = time.monotonic() + wait_s
    while True:
        have = cluster_resources()
        if have.get("CPU", 0) >= cpus and have.get("GPU", 0) >= gpus:
            print(f"cluster now has {have}")
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"asked for {cpus:g} CPUs and {gpus:g} GPUs; after {wait_s:g} s the "
                             f"cluster has {have} (no autoscaler, or it hit max_workers)")
        print(f"waiting for nodes: have {have}", flush=True)
        time.sleep(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=None, help="Ray address; omit for an embedded Ray")
    parser.add_argument("--want-cpus", type=float, default=0, help="ask the autoscaler for this many CPUs")
    parser.add_argument("--want-gpus", type=float, default=0, help="ask the autoscaler for this many GPUs")
    parser.add_argument("--wait-s", type=float, default=900, help="how long to wait for new nodes")
    args = parser.parse_args()
    # Joins the Ray at --address, or starts an embedded one that is stopped at the end.
    with ray_session(args.address, what="check_cluster") as session:
        print("cluster resources:", session.resources())
        if args.want_cpus or args.want_gpus:
            scale_up(args.want_cpus, args.want_gpus, args.wait_s)
        nodes = [node for node in ray.nodes() if node["Alive"]]
        print(f"{len(nodes)} alive node(s)")
        probes = []
        for node in nodes:
            resources = node["Resources"]
            # Pin the probe to this node with its node:<ip> resource; ask for a GPU if it has one.
            pin = {f"node:{node['NodeManagerAddress']}": 0.01}
            options = {"resources": pin, "num_cpus": 0, "num_gpus": 1 if resources.get("GPU", 0) >= 1 else 0}
            probes.append(describe_node.options(**options).remote())
        for report in ray.get(probes, timeout=300):
            print(report)


if __name__ == "__main__":
    main()
