"""Step 1 of the lab: what does the cluster have, and can every node run gradkit?

    python cluster/labs/check_cluster.py                    # embedded Ray on this machine
    python cluster/labs/check_cluster.py --address auto     # the cluster this machine is in
    python cluster/labs/check_cluster.py --address ray://HEAD:10001

Prints the cluster's resources (what `ray status` shows), then runs one small task on
every node (a GPU task where the node has GPUs) reporting its host, versions and devices.
"""

import argparse
import socket

import ray
import torch

from gradkit.distributed.ray_runtime import cluster_resources, ensure_ray


@ray.remote
def describe_node() -> dict:
    import gradkit
    gpus = ray.get_gpu_ids()
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"host": socket.gethostname(), "ip": ray.util.get_node_ip_address(),
            "torch": torch.__version__, "ray": ray.__version__, "gradkit": getattr(gradkit, "__version__", "?"),
            "cuda": torch.cuda.is_available(), "gpu_ids": gpus, "gpu_names": names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=None, help="Ray address; omit for an embedded Ray")
    args = parser.parse_args()
    ensure_ray(address=args.address)
    print("cluster resources:", cluster_resources())
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
