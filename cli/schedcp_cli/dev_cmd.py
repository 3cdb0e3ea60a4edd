"""`schedcp dev cluster up|down|env|status`: the local control plane for the demo and for hacking."""

from __future__ import annotations

import argparse
import functools
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

from schedcp.provisioning.guest import base_initramfs
from schedcp.provisioning.kernel import provision_kernel
from schedcp.provisioning.scx import SCX_CRATES, build_crate
from schedcp_cli.devcluster.cluster import INFO_FILE, DevCluster
from schedcp_cli.devcluster.etcd import ensure_etcd
from schedcp_cli.devcluster.helmbuild import ensure_helm
from schedcp_cli.devcluster.kubebuild import ensure_kubernetes_binaries
from schedcp_cli.devcluster.paths import default_state_dir
from schedcp_cli.devimages.build import ImageArchive, ensure_image, ensure_pause_image
from schedcp_cli.devimages.spec import IMAGES
from schedcp_cli.devnode import hostnet
from schedcp_cli.devnode.hostlock import HostBusy
from schedcp_cli.devnode.node import DevNode, down
from schedcp_cli.devnode.runtime import ensure_containerd
from schedcp_cli.vm_kubelet import VmKubeletNode


def _attach(args: argparse.Namespace) -> DevCluster | None:
    if not (args.state_dir / INFO_FILE).exists():
        print(f"no dev cluster in {args.state_dir}")
        return None
    return DevCluster.attach(args.state_dir)


def _up(args: argparse.Namespace) -> int:
    existing = _attach(args) if (args.state_dir / INFO_FILE).exists() else None
    if existing and all(existing.running().values()):
        print(f"already running: {existing.info.server if existing.info else ''}")
        return 0
    if existing:
        existing.stop()
    started = time.monotonic()
    host_address = hostnet.host_address() if args.for_nodes else None
    info = DevCluster(args.state_dir, detached=True, host_address=host_address).start()
    print(f"control plane ready at {info.server} in {time.monotonic() - started:.1f}s")
    print(f"export KUBECONFIG={info.kubeconfig}")
    return 0


def _down(args: argparse.Namespace) -> int:
    cluster = _attach(args)
    if cluster:
        cluster.stop()
        (args.state_dir / INFO_FILE).unlink()
        print("stopped")
    return 0


def _env(args: argparse.Namespace) -> int:
    cluster = _attach(args)
    if not cluster:
        return 1
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    print(f'export PATH="{cluster.info.kubectl.parent if cluster.info else ""}:$PATH"')
    return 0


def _status(args: argparse.Namespace) -> int:
    cluster = _attach(args)
    if not cluster:
        return 1
    running = cluster.running()
    print(json.dumps({"server": cluster.info.server if cluster.info else None, "running": running}, indent=2))
    return 0 if all(running.values()) else 1


def _prepare(args: argparse.Namespace) -> int:
    """Build or fetch into the cache everything the demo and the tests run, each step timed."""
    steps = (
        ("kubernetes binaries", ensure_kubernetes_binaries),
        ("etcd", ensure_etcd),
        ("helm", ensure_helm),
        ("sched_ext kernel", provision_kernel),
        ("guest userland", base_initramfs),
        ("containerd", ensure_containerd),
    )
    for name, step in steps:
        started = time.monotonic()
        result = step()
        print(f"prepared {name} in {time.monotonic() - started:.1f}s: {getattr(result, 'release', result)}", flush=True)
    return _prepare_scx(args.scx)


def _prepare_scx(crates: tuple[str, ...]) -> int:
    """Each crate's build time, or why it failed: a failure does not stop the other crates."""
    failed = 0
    for crate in crates:
        started = time.monotonic()
        status = build_crate(crate)
        took = f"{time.monotonic() - started:.1f}s"
        if status.binary:
            print(f"prepared {crate} in {took}: {status.binary}", flush=True)
        else:
            failed += 1
            print(f"could not build {crate} in {took}: {status.message}", flush=True)
    return 1 if failed else 0


def _images(args: argparse.Namespace) -> int:
    """Build (or find in the cache) each image archive, timed, with its size."""
    for spec in IMAGES:
        _timed_image(functools.partial(ensure_image, spec, args.ca_bundle))
    _timed_image(ensure_pause_image)
    return 0


def _timed_image(build: Callable[[], ImageArchive]) -> ImageArchive:
    started = time.monotonic()
    image = build()
    print(f"image {image.reference}: {image.size_bytes / 1e6:.0f} MB in {time.monotonic() - started:.1f}s", flush=True)
    return image


def _node_up(args: argparse.Namespace) -> int:
    cluster = _attach(args)
    if not cluster or not cluster.info:
        return 1
    if cluster.info.host_address is None:
        print("the dev cluster serves on 127.0.0.1 only: `schedcp dev cluster up --for-nodes` first")
        return 1
    images = [ensure_image(spec, args.ca_bundle) for spec in IMAGES]
    started = time.monotonic()
    try:
        DevNode(cluster.info, args.name, detached=True).start(images, ensure_pause_image())
    except HostBusy as busy:
        print(busy)
        return 1
    print(f"node {args.name} Ready in {time.monotonic() - started:.1f}s; images: {', '.join(i.reference for i in images)}")
    return 0


def _node_down(args: argparse.Namespace) -> int:
    try:
        down(args.name)
    except HostBusy as busy:
        print(busy)
        return 1
    print(f"node {args.name} removed")
    return 0


def _node_vm(args: argparse.Namespace) -> int:
    """In the foreground until Ctrl-C: the VM dies with this process, and its Node goes too."""
    cluster = _attach(args)
    if not cluster or not cluster.info:
        return 1
    images = [ensure_image(spec, args.ca_bundle) for spec in IMAGES if spec.name == "node-agent"]
    node = VmKubeletNode(cluster.info, args.name, args.state_dir / "vm-nodes" / args.name, images, ensure_pause_image())
    print(f"booting {args.name}; console: {node.vm.console_log}", flush=True)
    # `kill` stops it as Ctrl-C does, removing the Node (a background job ignores SIGINT).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    shown = 0
    try:
        while node.vm.alive():
            reports = node.vm.reports()
            for report in reports[shown:]:
                print(json.dumps(report), flush=True)
            shown = len(reports)
            time.sleep(1)
        print(f"the VM stopped:\n{node.vm.console()}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        node.stop()
        cluster.kubectl("delete", "node", args.name, "--ignore-not-found", "--wait=false", check=False)


def _scx_crates(text: str) -> tuple[str, ...]:
    crates = tuple(c.strip() for c in text.split(",") if c.strip()) if text else SCX_CRATES
    if unknown := [c for c in crates if c not in SCX_CRATES]:
        raise argparse.ArgumentTypeError(f"not an scx crate: {', '.join(unknown)} (known: {', '.join(SCX_CRATES)})")
    return crates


def register(subparsers: argparse._SubParsersAction) -> None:
    dev = subparsers.add_parser("dev", help="local development helpers")
    dev_actions = dev.add_subparsers(dest="dev_command", required=True)
    prepare = dev_actions.add_parser("prepare", help="build and cache Kubernetes, etcd, helm, the kernel, the guest")
    prepare.add_argument("--scx", nargs="?", const="", default=(), type=_scx_crates, metavar="CRATE,...",
                         help="also build the scx schedulers (all, or the given crates) with cargo: "
                              "about 20 minutes for the first on two cores, 5-8 for each next")
    prepare.set_defaults(func=_prepare)
    ca_bundle = argparse.ArgumentParser(add_help=False)
    ca_bundle.add_argument(
        "--ca-bundle", type=Path, default=Path("/etc/ssl/certs/ca-certificates.crt"),
        help="CA certificates pip trusts while building images (HTTPS through an intercepting proxy needs the "
             "host's bundle; the default); removed from the image afterwards",
    )
    dev_actions.add_parser(
        "images", help="build the operator, node-agent and pause images from Debian packages and this tree",
        parents=[ca_bundle],
    ).set_defaults(func=_images)
    cluster = dev_actions.add_parser("cluster", help="etcd + kube-apiserver + kube-controller-manager (+ kube-scheduler)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", type=Path, default=default_state_dir())
    actions = cluster.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start (builds Kubernetes into the cache on first use)", parents=[common])
    up.add_argument("--for-nodes", action="store_true",
                    help="serve on the host's address and run kube-scheduler, so that `dev node up` can join")
    up.set_defaults(func=_up)
    for name, func, text in (
        ("down", _down, "stop every process of the cluster"),
        ("env", _env, "print shell exports for kubectl"),
        ("status", _status, "show whether the processes run"),
    ):
        actions.add_parser(name, help=text, parents=[common]).set_defaults(func=func)
    node = dev_actions.add_parser("node", help="a real node: containerd, kubelet, kube-proxy joined to the dev cluster")
    node_actions = node.add_subparsers(dest="action", required=True)
    named = argparse.ArgumentParser(add_help=False)
    named.add_argument("--name", default="dev-node-1")
    node_actions.add_parser(
        "up", help="build and import the images, start the node, wait for Ready", parents=[common, named, ca_bundle]
    ).set_defaults(func=_node_up)
    node_actions.add_parser(
        "down", help="stop it and undo all it changed on the host (also after a crash)", parents=[named]
    ).set_defaults(func=_node_down)
    node_actions.add_parser(
        "vm", parents=[common, named, ca_bundle],
        help="a node in the sched_ext micro-VM with its own containerd and kubelet, in the foreground until Ctrl-C "
             "(TCG: Ready in about a minute, the agent image imported in about 7; pods need hostNetwork and nodeName)",
    ).set_defaults(func=_node_vm)
