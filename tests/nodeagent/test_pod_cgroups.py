"""Pods' cgroups are found as the kubelet and the runtimes name them, on every hierarchy kind.

Most tests build directory trees in tmp_path (naming is pure path logic); the last ones
use the host's real cgroup tree with a real process in it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from schedcp_cli.host_pods import BURSTABLE, HostPods
from schedcp_node_agent.pod_cgroups import (
    PodCgroupNotFound,
    PodCgroupResolver,
    QosClass,
    detect_hierarchies,
    pod_pids,
    pod_relative_path,
)

UID = "3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f"
UID_ = "3f2a9c1e_7b4d_4e8a_9c0f_1a2b3c4d5e6f"
CID = "0123456789abcdef" * 4

# (top-level kubepods cgroup, QoS, where the kubelet puts the pod), spelled out literally.
LAYOUTS = [
    ("kubepods", QosClass.GUARANTEED, f"kubepods/pod{UID}"),
    ("kubepods", QosClass.BURSTABLE, f"kubepods/burstable/pod{UID}"),
    ("kubepods", QosClass.BEST_EFFORT, f"kubepods/besteffort/pod{UID}"),
    ("kubepods.slice", QosClass.GUARANTEED, f"kubepods.slice/kubepods-pod{UID_}.slice"),
    (
        "kubepods.slice",
        QosClass.BURSTABLE,
        f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice",
    ),
    (
        "kubepods.slice",
        QosClass.BEST_EFFORT,
        f"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice",
    ),
]

# Marker files of each host kind, and where its cpu and v2 hierarchies are.
HOSTS = {
    "v2": ({"cgroup.controllers"}, ".", "."),
    "v1": ({"cpu,cpuacct/cpu.shares"}, "cpu,cpuacct", None),
    "hybrid": ({"cpu/cpu.shares", "unified/cgroup.controllers"}, "cpu", "unified"),
}


def host(root: Path, kind: str) -> tuple[Path, Path | None]:
    markers, cpu, unified = HOSTS[kind]
    for marker in markers:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).touch()
    return root / cpu, root / unified if unified else None


def make_pod(cpu: Path, unified: Path | None, relative: str) -> None:
    for hierarchy in {h for h in (cpu, unified) if h is not None}:
        (hierarchy / relative).mkdir(parents=True)


@pytest.mark.parametrize(("kubepods", "qos", "expected"), LAYOUTS)
def test_pod_path_is_named_as_the_kubelet_names_it(kubepods: str, qos: QosClass, expected: str) -> None:
    assert pod_relative_path(PurePosixPath(kubepods), UID, qos) == PurePosixPath(expected)


@pytest.mark.parametrize("kind", HOSTS)
@pytest.mark.parametrize(("kubepods", "qos", "expected"), LAYOUTS)
def test_resolves_each_layout_on_each_kind_of_host(
    tmp_path: Path, kind: str, kubepods: str, qos: QosClass, expected: str
) -> None:
    cpu, unified = host(tmp_path, kind)
    make_pod(cpu, unified, expected)

    pod = PodCgroupResolver(tmp_path).resolve(UID, qos)

    assert pod.path == cpu / expected
    assert pod.version == (1 if kind != "v2" else 2)
    assert pod.unified_path == (unified / expected if unified else None)
    assert pod.cgroup_id == (os.stat(unified / expected).st_ino if unified else None)


@pytest.mark.parametrize(("kubepods", "qos", "expected"), LAYOUTS)
def test_unknown_qos_tries_every_class(tmp_path: Path, kubepods: str, qos: QosClass, expected: str) -> None:
    cpu, unified = host(tmp_path, "v2")
    make_pod(cpu, unified, expected)
    assert PodCgroupResolver(tmp_path).resolve(UID).path == cpu / expected


def test_a_pod_not_on_the_node_is_not_found(tmp_path: Path) -> None:
    cpu, unified = host(tmp_path, "v2")
    make_pod(cpu, unified, f"kubepods/burstable/pod{UID}")
    with pytest.raises(PodCgroupNotFound, match="besteffort"):
        PodCgroupResolver(tmp_path).resolve(UID, QosClass.BEST_EFFORT)


def test_hybrid_host_without_the_pod_in_v2_has_no_cgroup_id(tmp_path: Path) -> None:
    cpu, _ = host(tmp_path, "hybrid")
    make_pod(cpu, None, f"kubepods/pod{UID}")
    pod = PodCgroupResolver(tmp_path).resolve(UID, QosClass.GUARANTEED)
    assert (pod.version, pod.unified_path, pod.cgroup_id) == (1, None, None)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        # kind nodes run the kubelet with --cgroup-root=/kubelet.
        ("/kubelet/kubepods", f"kubelet/kubepods/burstable/pod{UID}"),
        (
            "kubelet.slice/kubelet-kubepods.slice",
            "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
            f"kubelet-kubepods-burstable-pod{UID_}.slice",
        ),
    ],
)
def test_kubepods_root_override_for_nested_kubelets(tmp_path: Path, override: str, expected: str) -> None:
    cpu, unified = host(tmp_path, "v2")
    make_pod(cpu, unified, expected)
    assert PodCgroupResolver(tmp_path, kubepods=override).resolve(UID, QosClass.BURSTABLE).path == cpu / expected


@pytest.mark.parametrize(
    ("pod_dir", "container_id", "own", "monitor"),
    [
        (f"kubepods.slice/kubepods-pod{UID_}.slice", f"containerd://{CID}", f"cri-containerd-{CID}.scope", None),
        (f"kubepods/pod{UID}", f"containerd://{CID}", CID, None),
        (
            f"kubepods.slice/kubepods-pod{UID_}.slice",
            f"cri-o://{CID}",
            f"crio-{CID}.scope",
            f"crio-conmon-{CID}.scope",
        ),
        (f"kubepods/pod{UID}", f"cri-o://{CID}", f"crio-{CID}", f"crio-conmon-{CID}"),
    ],
)
def test_container_cgroups_by_runtime_and_driver(
    tmp_path: Path, pod_dir: str, container_id: str, own: str, monitor: str | None
) -> None:
    cpu, _unified = host(tmp_path, "v2")
    for child in filter(None, (own, monitor)):
        make_pod(cpu, None, f"{pod_dir}/{child}")
    not_started = f"containerd://{'f' * 64}"

    pod = PodCgroupResolver(tmp_path).resolve(UID, QosClass.GUARANTEED, [container_id, not_started])

    [container] = pod.containers
    assert container.container_id == container_id
    assert container.path == cpu / pod_dir / own
    assert container.monitor == (cpu / pod_dir / monitor if monitor else None)


def test_unsupported_runtime_is_an_error(tmp_path: Path) -> None:
    cpu, unified = host(tmp_path, "v2")
    make_pod(cpu, unified, f"kubepods/pod{UID}")
    with pytest.raises(ValueError, match="docker"):
        PodCgroupResolver(tmp_path).resolve(UID, QosClass.GUARANTEED, [f"docker://{CID}"])


def test_no_cgroup_filesystem_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        detect_hierarchies(tmp_path)


SANDBOX = "fedcba9876543210" * 4


def test_pids_are_read_from_the_pod_and_its_containers_subtrees(tmp_path: Path) -> None:
    cpu, _unified = host(tmp_path, "v2")
    pod_dir = cpu / f"kubepods/pod{UID}"
    layout = [(".", "3\n"), (f"crio-{CID}", "12\n7\n"), (f"crio-{CID}/nested", "40\n"), (f"crio-conmon-{CID}", "8\n")]
    for relative, procs in layout:
        (pod_dir / relative).mkdir(parents=True, exist_ok=True)
        (pod_dir / relative / "cgroup.procs").write_text(procs)

    pod = PodCgroupResolver(tmp_path).resolve(UID, container_ids=[f"cri-o://{CID}"])

    assert pod_pids(pod) == [3, 7, 8, 12, 40]


def test_the_sandbox_pause_process_is_not_one_of_the_pods(tmp_path: Path) -> None:
    """containerd gives the sandbox (pause) its own cgroup beside the containers', named
    after the sandbox id, which the pod's status never lists."""
    cpu, _unified = host(tmp_path, "v1")
    pod_dir = cpu / f"kubepods/besteffort/pod{UID}"
    for relative, procs in [(".", ""), (SANDBOX, "99\n"), (CID, "12\n")]:
        (pod_dir / relative).mkdir(parents=True, exist_ok=True)
        (pod_dir / relative / "cgroup.procs").write_text(procs)

    pod = PodCgroupResolver(tmp_path).resolve(UID, QosClass.BEST_EFFORT, [f"containerd://{CID}"])

    assert pod_pids(pod) == [12]


# The host's real cgroup tree: a real process in a real pod cgroup.


def test_finds_a_real_pod_and_its_process(host_pods: HostPods) -> None:
    uid = host_pods.pod()
    sleeper = host_pods.spawn(uid, ["sleep", "1000"])
    hierarchies = host_pods.hierarchies

    pod = PodCgroupResolver().resolve(uid, QosClass.BURSTABLE)

    assert pod.path == hierarchies.cpu / BURSTABLE / f"pod{uid}"
    assert pod.version == hierarchies.cpu_version
    if hierarchies.unified:
        assert pod.cgroup_id == os.stat(hierarchies.unified / BURSTABLE / f"pod{uid}").st_ino
    assert pod_pids(pod) == [sleeper.pid]
    assert PodCgroupResolver().resolve(uid) == pod


def test_finds_a_real_pod_through_the_v2_hierarchy_alone(host_pods: HostPods) -> None:
    """On a hybrid host, the v2 mount seen on its own is what a pure v2 host looks like."""
    unified = host_pods.hierarchies.unified
    if unified is None:
        pytest.skip("no cgroup v2 hierarchy on this host")
    uid = host_pods.pod()
    sleeper = host_pods.spawn(uid, ["sleep", "1000"])

    pod = PodCgroupResolver(unified).resolve(uid, QosClass.BURSTABLE)

    assert (pod.path, pod.version) == (unified / BURSTABLE / f"pod{uid}", 2)
    assert pod.cgroup_id == os.stat(pod.path).st_ino
    assert pod_pids(pod) == [sleeper.pid]
