"""cluster/: the YAML and scripts parse and carry what Ray's tools need (no cluster started)."""

import ast
import json
import pathlib
import re
import subprocess

import pytest
import yaml
from support import REPO

CLUSTER = REPO / "cluster"


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


RAY_CLIENT_SCRIPTS = sorted(p.name for p in (CLUSTER / "labs").glob("*.py") if p.name != "stop_cluster.py")


@pytest.mark.parametrize("script", RAY_CLIENT_SCRIPTS)
def test_lab_scripts_parse_and_take_an_address(script):
    source = (CLUSTER / "labs" / script).read_text()
    ast.parse(source)
    assert '"--address"' in source


def test_stop_script_works_by_temp_dir_and_never_runs_ray_stop():
    source = (CLUSTER / "labs" / "stop_cluster.py").read_text()
    ast.parse(source)
    assert '"--temp-dir"' in source and "subprocess" not in source


def _commands(path: pathlib.Path) -> list[tuple[int, str]]:
    """The lines of ``path`` that a person or a machine runs: code blocks of a guide,
    non-comment shell, every line of a lab script (its docstring holds usage examples)."""
    lines = list(enumerate(path.read_text().splitlines(), 1))
    if path.suffix == ".md":
        inside, kept = False, []
        for number, line in lines:
            if line.lstrip().startswith("```"):
                inside = not inside
            elif inside:
                kept.append((number, line.split("#")[0]))  # comments may warn about them
        return kept
    if path.suffix in (".sh", ".sbatch"):
        return [(number, line.split("#")[0]) for number, line in lines]
    return lines


def test_kit_never_tells_anyone_to_stop_every_ray_or_to_guess_the_address():
    """`ray stop` stops other people's Ray on a shared machine, and `--address auto` fails
    ("Found multiple active Ray instances") as soon as a second Ray runs there."""
    paths = [CLUSTER / "README.md", CLUSTER / "start_manual.sh", CLUSTER / "slurm-ray.sbatch",
             *(CLUSTER / "labs").glob("*.py")]
    for path in paths:
        for number, line in _commands(path):
            where = f"{path.name}:{number}: {line.strip()}"
            if path.suffix != ".py":  # stop_cluster.py's docstring explains why not
                assert not re.search(r"(^|[\s`;(])ray stop\b", line), where
            assert not re.search(r"--address[ =]auto\b|address=[\"']auto[\"']", line), where


# What must never travel to a cluster node: the virtual environment (~2 GB), git's
# history, the course's gradebook and students' submissions, outputs.
NEVER_SHIPPED = [".venv", ".git", "course/gradebook.db", "course/submitted", "course/autograded",
                 "course/feedback", "course/exports", "out"]


def _copy_sources(dockerfile: str) -> list[str]:
    sources = []
    for line in dockerfile.splitlines():
        words = line.split()
        if words and words[0].upper() in ("COPY", "ADD"):
            paths = [w for w in words[1:] if not w.startswith("--")]
            sources += paths[:-1]  # the last one is the destination
    return sources


def test_dockerfile_copies_only_what_the_nodes_run():
    root = CLUSTER.parent
    sources = _copy_sources((CLUSTER / "Dockerfile").read_text())
    assert sources and "." not in sources and "./" not in sources, sources
    for source in sources:
        assert (root / source).exists(), f"COPY {source}: no such path"
        assert not any(source == never or source.startswith(never + "/") for never in NEVER_SHIPPED)
    shipped = sum(f.stat().st_size for s in sources for f in ([root / s] if (root / s).is_file()
                  else (root / s).rglob("*")) if f.is_file() and "__pycache__" not in f.parts)
    assert shipped < 20 * 2**20, f"the image would get {shipped / 2**20:.0f} MiB of the repository"
    assert 'gradkit[labs]' in (CLUSTER / "Dockerfile").read_text()  # torch and Ray Train on the nodes


def _ignore_patterns(text: str) -> set[str]:
    return {line.strip().removeprefix("**/") for line in text.splitlines()
            if line.strip() and not line.startswith("#")}


def test_build_context_and_ray_up_copy_leave_out_venv_git_and_course_data():
    dockerignore = _ignore_patterns((CLUSTER / "Dockerfile.dockerignore").read_text())
    config = load("ray-up-aws.yaml")
    rsync = {pattern.removeprefix("**/") for pattern in config["rsync_exclude"]}
    for never in NEVER_SHIPPED:
        assert never in dockerignore, f"Dockerfile.dockerignore lets {never} into the build context"
        assert never in rsync, f"ray-up-aws.yaml's rsync_exclude lets {never} onto every node"
    assert dockerignore == rsync, dockerignore ^ rsync  # one list, written twice on purpose
    assert config["rsync_filter"] == [".gitignore"]
    assert config["file_mounts"] == {"/home/ray/gradkit": "."}
    assert any("gradkit[labs]" in command for command in config["setup_commands"])


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


def test_strategy_lab_reports_the_staleness_of_every_read():
    """run_strategy.py's ps-async line: counted by hand for four reads with bound 4."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_strategy", CLUSTER / "labs" / "run_strategy.py")
    lab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lab)
    line = lab.describe_staleness([0, 1, 1, 3], bound=4)
    assert line == ("staleness of 4 reads: mean 1.25, max 3 (bound 4); "
                    "reads per staleness {0: 1, 1: 2, 3: 1}")
    source = (CLUSTER / "labs" / "run_strategy.py").read_text()
    assert 'describe_staleness(epoch["staleness"], args.staleness)' in source
