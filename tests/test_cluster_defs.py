"""cluster/: the YAML and scripts parse and carry what Ray's tools need (no cluster started)."""

import ast
import json
import pathlib
import re
import subprocess

import pytest
import yaml

CLUSTER = pathlib.Path(__file__).resolve().parents[1] / "cluster"


def load(name):
    with open(CLUSTER / name) as handle:
        return yaml.safe_load(handle)


def test_ray_up_config_validates_against_rays_own_schema():
    jsonschema = pytest.importorskip("jsonschema")
    ray_autoscaler = pytest.importorskip("ray.autoscaler")
    schema_path = pathlib.Path(ray_autoscaler.__file__).parent / "ray-schema.json"
    config = load("ray-up-aws.yaml")
    jsonschema.validate(config, json.loads(schema_path.read_text()))


def test_ray_up_config_has_head_and_a_gpu_worker_type():
    config = load("ray-up-aws.yaml")
    for key in ("cluster_name", "provider", "available_node_types", "head_node_type"):
        assert key in config, key
    assert config["provider"]["type"] == "aws"
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    for name, node_type in types.items():
        assert "resources" in node_type and "node_config" in node_type, name
        if name != config["head_node_type"]:
            assert node_type["min_workers"] <= node_type["max_workers"] <= config["max_workers"]
    assert any(t["resources"].get("GPU", 0) >= 1 for t in types.values())
    assert any("ray start --head" in command for command in config["head_start_ray_commands"])
    assert any("--address=$RAY_HEAD_IP" in command for command in config["worker_start_ray_commands"])


def test_kuberay_manifest_has_head_and_gpu_worker_groups():
    manifest = load("kuberay-raycluster.yaml")
    assert manifest["apiVersion"] == "ray.io/v1"
    assert manifest["kind"] == "RayCluster"
    spec = manifest["spec"]
    head = spec["headGroupSpec"]
    assert "rayStartParams" in head
    assert head["template"]["spec"]["containers"][0]["image"]
    groups = spec["workerGroupSpecs"]
    assert groups and len({g["groupName"] for g in groups}) == len(groups)
    gpu_groups = []
    for group in groups:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        container = group["template"]["spec"]["containers"][0]
        limits = container["resources"]["limits"]
        if "nvidia.com/gpu" in limits:
            gpu_groups.append(group["groupName"])
            assert int(limits["nvidia.com/gpu"]) >= 1
    assert gpu_groups, "no worker group asks for nvidia.com/gpu"
    images = {c["image"] for g in groups for c in g["template"]["spec"]["containers"]}
    assert images == {head["template"]["spec"]["containers"][0]["image"]}  # one image everywhere


@pytest.mark.parametrize("script", ["slurm-ray.sbatch", "start_manual.sh"])
def test_shell_scripts_pass_bash_syntax_check(script):
    subprocess.run(["bash", "-n", str(CLUSTER / script)], check=True)


def test_slurm_script_starts_head_then_workers_and_runs_the_lab():
    text = (CLUSTER / "slurm-ray.sbatch").read_text()
    assert "#SBATCH --nodes=" in text and "#SBATCH --gpus-per-task=" in text
    head, worker, lab = (text.index("ray start --head"), text.index('ray start --address="$address"'),
                         text.index("python cluster/labs/run_strategy.py"))
    assert head < worker < lab


def test_manual_recipe_usage_is_reported_on_bad_arguments():
    result = subprocess.run(["bash", str(CLUSTER / "start_manual.sh"), "nonsense"], capture_output=True, text=True)
    assert result.returncode == 2 and "usage:" in result.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (CLUSTER / "labs").glob("*.py")))
def test_lab_scripts_parse_and_take_an_address(script):
    source = (CLUSTER / "labs" / script).read_text()
    ast.parse(source)
    assert '"--address"' in source


def test_lab_guide_covers_every_strategy_and_recipe():
    guide = (CLUSTER / "README.md").read_text()
    for needle in ("ray status", "ray up", "kubectl apply", "sbatch", "ray start --head",
                   "--address", "ps-sync", "ps-async", "ring", "torch-allreduce", "ddp",
                   "run_pipeline.py", "RAY_AUTH_MODE"):
        assert needle in guide, needle


def test_every_lab_command_in_the_guide_uses_flags_the_script_has():
    """The guide's commands name scripts that exist and options those scripts define."""
    guide = (CLUSTER / "README.md").read_text() + (CLUSTER / "slurm-ray.sbatch").read_text()
    commands = re.findall(r"cluster/labs/(\w+\.py)([^\n`]*)", guide)
    assert len(commands) >= 10
    for script, arguments in commands:
        source = (CLUSTER / "labs" / script).read_text()
        for flag in re.findall(r"(--[a-z][a-z-]*)", arguments):
            assert f'"{flag}"' in source, f"{script} has no option {flag}"
