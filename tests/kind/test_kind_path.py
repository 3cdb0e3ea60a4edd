"""The kind end-to-end path (test/e2e/kind), checked without a container engine.

These machines have no docker, podman or kind, so run.sh never runs here. What can be
proven statically is: the script parses and passes shellcheck; the kind config and the
GitHub workflow pass yamllint; the config gives every node the mounts the node agent
needs, with a bpffs directory of its own; the workflow runs the script; the chart values
and the SchedulerPolicy the script uses are ones the chart and the API accept; and the
script stops with exit status 2 and says what is missing when a tool is absent.

shellcheck and yamllint are host packages (hack/apt-packages.txt); without them these
tests fail, they do not skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from schedcp.api.v1alpha1.policy import SchedulerPolicySpec
from schedcp_cli.devcluster.helmbuild import HELM_VERSION, ensure_helm

REPO = Path(__file__).resolve().parents[2]
KIND_DIR = REPO / "test" / "e2e" / "kind"
RUN_SH = KIND_DIR / "run.sh"
KIND_CONFIG = KIND_DIR / "kind-config.yaml"
YAMLLINT_CONFIG = KIND_DIR / ".yamllint"
WORKFLOW = REPO / ".github" / "workflows" / "e2e-kind.yaml"
CHART = REPO / "charts" / "schedcp"

# Node paths the agent's DaemonSet mounts that a kind node does not have by itself.
AGENT_MOUNTS = {"/sys/fs/bpf", "/sys/kernel/btf", "/sys/kernel/debug"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: it is in hack/apt-packages.txt (make setup, or apt-get install {name})"
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


# -- linters ------------------------------------------------------------------------------


def test_run_sh_parses_with_bash_n() -> None:
    result = _run("bash", "-n", str(RUN_SH))
    assert result.returncode == 0, result.stderr


def test_run_sh_passes_shellcheck() -> None:
    result = _run(_tool("shellcheck"), "--shell=bash", "--severity=style", str(RUN_SH))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", [KIND_CONFIG, WORKFLOW], ids=["kind-config", "workflow"])
def test_yaml_passes_yamllint(path: Path) -> None:
    result = _run(_tool("yamllint"), "--strict", "-c", str(YAMLLINT_CONFIG), str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# -- the kind config ----------------------------------------------------------------------


def _kind_config() -> dict[str, Any]:
    return yaml.safe_load(KIND_CONFIG.read_text())


def test_kind_config_has_one_control_plane_and_two_workers() -> None:
    config = _kind_config()
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]


def test_every_kind_node_mounts_what_the_agent_needs() -> None:
    for index, node in enumerate(_kind_config()["nodes"]):
        mounts = {m["containerPath"]: m for m in node.get("extraMounts", [])}
        assert mounts.keys() >= AGENT_MOUNTS, f"node {index} lacks {AGENT_MOUNTS - mounts.keys()}"
        bpffs = mounts["/sys/fs/bpf"]
        # The agent pins there: writable, and never a channel for mounts back into the host.
        assert not bpffs.get("readOnly", False)
        assert bpffs.get("propagation") == "HostToContainer"
        for path in AGENT_MOUNTS - {"/sys/fs/bpf"}:
            assert mounts[path]["hostPath"] == path and mounts[path].get("readOnly") is True, path
        # /sys/kernel/sched_ext comes with the node's own sysfs; a mount would hide nothing new.
        assert not any(p.startswith("/sys/kernel/sched_ext") for p in mounts)


def test_each_kind_node_pins_in_its_own_directory_of_the_host_bpffs() -> None:
    """An agent treats every pin under <bpffs>/schedcp as its own: one shared directory would
    let an agent unload the scheduler another node's agent loaded."""
    sources = [next(m["hostPath"] for m in n["extraMounts"] if m["containerPath"] == "/sys/fs/bpf")
               for n in _kind_config()["nodes"]]
    assert all(s.startswith("/sys/fs/bpf/") for s in sources), sources
    assert len(set(sources)) == len(sources), sources
    # run.sh creates these directories for podman and knows them by these names.
    names = re.search(r"^bpffs_dirs=\(([^)]*)\)", RUN_SH.read_text(), re.MULTILINE)
    assert names, "run.sh lists the nodes' bpffs directories in bpffs_dirs=(...)"
    assert [f"/sys/fs/bpf/schedcp-kind/{n}" for n in names.group(1).split()] == sources


# -- the workflow -------------------------------------------------------------------------


def _workflow() -> dict[Any, Any]:
    # YAML 1.1 reads the key `on` as True.
    return yaml.safe_load(WORKFLOW.read_text())


def test_workflow_runs_on_pull_requests_and_by_hand() -> None:
    triggers = _workflow()[True]
    assert set(triggers) == {"pull_request", "workflow_dispatch"}


def test_workflow_runs_run_sh_and_uploads_diagnostics_on_failure() -> None:
    (job,) = _workflow()["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    runs = [s for s in steps if s.get("run", "").strip() == "bash test/e2e/kind/run.sh"]
    assert len(runs) == 1, "one step runs the end-to-end script"
    artifacts = runs[0]["env"]["SCHEDCP_E2E_ARTIFACTS"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "failure()"
    assert artifacts in upload["with"]["path"]
    uses = {str(s.get("uses", "")).split("@")[0]: s for s in steps}
    assert uses["helm/kind-action"]["with"]["install_only"] is True, "run.sh creates the cluster itself"
    assert uses["azure/setup-helm"]["with"]["version"] == HELM_VERSION, "the helm the project builds"


# -- what run.sh gives the chart and the API ----------------------------------------------


def _helm_sets() -> list[str]:
    """The --set arguments of run.sh's helm call, with its image variables filled in."""
    text = RUN_SH.read_text()
    images = dict(re.findall(r"^(operator_image|agent_image)=(\S+)$", text, re.MULTILINE))
    sets = []
    for raw in re.findall(r"--set (\S+)", text):
        for var, image in images.items():
            raw = raw.replace(f'"${{{var}%%:*}}"', image.split(":")[0]).replace(f'"${{{var}#*:}}"', image.split(":")[1])
        assert "$" not in raw, f"unexpanded variable in --set {raw}"
        sets += ["--set", raw]
    return sets


def test_chart_accepts_run_sh_values_and_runs_the_loaded_images() -> None:
    # values.schema.json refuses unknown keys, so a misspelt --set fails here, not in CI.
    result = _run(str(ensure_helm()), "template", "schedcp", str(CHART), "--namespace", "schedcp-system", *_helm_sets())
    assert result.returncode == 0, result.stderr
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(result.stdout) if d}
    operator = docs[("Deployment", "schedcp-operator")]["spec"]["template"]["spec"]["containers"][0]
    agent = docs[("DaemonSet", "schedcp-node-agent")]["spec"]["template"]["spec"]["containers"][0]
    assert (operator["image"], operator["imagePullPolicy"]) == ("schedcp-operator:e2e", "Never")
    assert (agent["image"], agent["imagePullPolicy"]) == ("schedcp-node-agent-bcc:e2e", "Never")
    # kind's kubelet: systemd driver, --cgroup-root=/kubelet.
    assert "--kubepods=kubelet.slice/kubelet-kubepods.slice" in agent["args"]


def _unknown_keys(given: Any, parsed: Any, where: str = "spec") -> list[str]:
    """Keys of the manifest that the model dropped: pydantic ignores unknown fields."""
    if not isinstance(given, dict) or not isinstance(parsed, dict):
        return []
    found = []
    for key, value in given.items():
        if key not in parsed:
            found.append(f"{where}.{key}")
        else:
            found += _unknown_keys(value, parsed[key], f"{where}.{key}")
    return found


@pytest.mark.parametrize("mode", ["Recommend", "Auto"])
def test_run_sh_policy_is_a_valid_scheduler_policy(mode: str) -> None:
    body = re.search(r"^apply_policy\(\) \{.*?<<EOF\n(.*?)^EOF$", RUN_SH.read_text(), re.MULTILINE | re.DOTALL)
    assert body, "run.sh writes its SchedulerPolicy in apply_policy's here-document"
    policy = yaml.safe_load(body.group(1).replace("$name", "e2e").replace("$mode", mode))
    assert (policy["apiVersion"], policy["kind"]) == ("schedcp.io/v1alpha1", "SchedulerPolicy")
    spec = SchedulerPolicySpec.model_validate(policy["spec"])
    assert spec.mode == mode and spec.designer.kind == "offline"
    assert spec.pod_selector.match_labels == {"app": "web"}
    unknown = _unknown_keys(policy["spec"], spec.model_dump(by_alias=True))
    assert not unknown, f"keys the API does not know: {unknown}"


def test_run_sh_workload_matches_the_policy_selector() -> None:
    body = re.search(r"apply -f - <<'EOF'\n(.*?)^EOF$", RUN_SH.read_text(), re.MULTILINE | re.DOTALL)
    assert body
    deployments = {d["metadata"]["name"]: d for d in yaml.safe_load_all(body.group(1))}
    assert sorted(deployments) == ["batch", "web"]
    for name, deployment in deployments.items():
        assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": name}
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert re.fullmatch(r"busybox:[0-9.]+", container["image"]), "a pinned public image kind can pull"


# -- run.sh's own refusals ----------------------------------------------------------------


def _bin_with(tmp_path: Path, fakes: dict[str, str]) -> dict[str, str]:
    """An environment whose PATH holds only `dirname` and the given fake tools."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dirname").symlink_to(_tool("dirname"))
    for name, script in fakes.items():
        (bindir / name).write_text(f"#!/bin/sh\n{script}\n")
        (bindir / name).chmod(0o755)
    return {"PATH": str(bindir), "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}


def test_run_sh_names_every_missing_tool_and_exits_2(tmp_path: Path) -> None:
    result = subprocess.run([_tool("bash"), str(RUN_SH)], env=_bin_with(tmp_path, {}),
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2, result.stderr
    for missing in ("docker or podman", "kind", "kubectl", "helm"):
        assert f"missing: {missing}\n" in result.stderr
    assert not list(tmp_path.glob("schedcp-e2e.*")), "nothing is left behind by a refusal"


def test_run_sh_exits_2_when_the_container_engine_does_not_answer(tmp_path: Path) -> None:
    env = _bin_with(tmp_path, {"docker": "exit 1", "kind": "exit 0", "kubectl": "exit 0", "helm": "exit 0"})
    result = subprocess.run([_tool("bash"), str(RUN_SH)], env=env, capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 2
    assert "'docker info' failed" in result.stderr


def test_run_sh_refuses_unknown_arguments(tmp_path: Path) -> None:
    result = subprocess.run([_tool("bash"), str(RUN_SH), "--bogus"], env={**os.environ, "TMPDIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and "unknown argument: --bogus" in result.stderr
