"""`schedcp-node-agent`: one per node (a DaemonSet), or by hand on a VM node.

Configuration comes from flags, each with an environment variable of the same meaning
(NODE_NAME comes from the downward API in the DaemonSet).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from kubernetes import client, config

from schedcp_node_agent.agent import AgentConfig, NodeAgent
from schedcp_node_agent.applier import HealthPolicy
from schedcp_node_agent.host import HostPaths
from schedcp_node_agent.ops_server import AgentMetrics, Probes, serve


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname.lower(),
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="schedcp-node-agent", description=__doc__)
    p.add_argument("--node-name", default=env("NODE_NAME"), help="this node's name (env NODE_NAME)")
    p.add_argument("--kubeconfig", default=env("KUBECONFIG"), help="out of cluster: a kubeconfig")
    p.add_argument("--host-root", type=Path, default=Path(env("SCHEDCP_HOST_ROOT", "/")),
                   help="where the host's /proc and /sys are mounted")
    p.add_argument("--state-dir", type=Path, default=Path(env("SCHEDCP_STATE_DIR", "/var/lib/schedcp")))
    p.add_argument("--bpftool", default=env("SCHEDCP_BPFTOOL", "bpftool"), help="command, split on spaces")
    p.add_argument("--artifacts-namespace", default=env("SCHEDCP_NAMESPACE", "schedcp-system"))
    p.add_argument("--lease-namespace", default=env("SCHEDCP_NAMESPACE", "schedcp-system"),
                   help="namespace of the node's Lease, the agent's liveness (env SCHEDCP_NAMESPACE)")
    p.add_argument("--artifacts-dir", type=Path, default=None, help="read objects from here, not ConfigMaps")
    p.add_argument("--scx-dir", type=Path, default=Path(env("SCHEDCP_SCX_DIR", "/opt/schedcp/scx")),
                   help="the scx scheduler binaries, as VERSION/bin/CRATE (env SCHEDCP_SCX_DIR)")
    p.add_argument("--profile-hz", type=float, default=float(env("SCHEDCP_PROFILE_HZ", "1")))
    p.add_argument("--window-seconds", type=int, default=60)
    p.add_argument("--kubepods", default=env("SCHEDCP_KUBEPODS"), help="the kubelet's cgroup root, if not kubepods")
    p.add_argument("--bcc-python", default=env("SCHEDCP_BCC_PYTHON", ""),
                   help="command of a Python with BCC (python3-bpfcc) for tier-2 profiling; empty: tier 1 only")
    p.add_argument("--status-interval", type=float, default=30.0,
                   help="seconds between renewals of the node's Lease, and between checks for a status with news")
    p.add_argument("--status-refresh", type=float, default=300.0, help="seconds between status writes without news")
    p.add_argument("--healthy-after", type=float, default=30.0, help="seconds before a revision is known-good")
    p.add_argument("--metrics-address", default="0.0.0.0")
    p.add_argument("--metrics-port", type=int, default=int(env("SCHEDCP_METRICS_PORT", "9464")), help="0: off")
    p.add_argument("--unload-on-exit", action="store_true", help="unload our scheduler when stopping")
    p.add_argument("--log-format", choices=["json", "plain"], default="json")
    args = p.parse_args(argv)
    if not args.node_name:
        p.error("--node-name or NODE_NAME is required")
    return args


def _configure_logging(fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])


def _api_client(kubeconfig: str | None) -> client.ApiClient:
    if kubeconfig:
        api: client.ApiClient = config.new_client_from_config(kubeconfig)
        return api
    config.load_incluster_config()
    return client.ApiClient()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _configure_logging(args.log_format)
    agent_config = AgentConfig(
        node_name=args.node_name,
        host=HostPaths(root=args.host_root, state_dir=args.state_dir, node=args.node_name),
        bpftool=args.bpftool.split(),
        artifacts_namespace=args.artifacts_namespace,
        artifacts_dir=args.artifacts_dir,
        scx_dir=args.scx_dir,
        profile_hz=args.profile_hz,
        window_seconds=args.window_seconds,
        kubepods=args.kubepods,
        bcc_python=args.bcc_python.split(),
        status_interval_seconds=args.status_interval,
        status_refresh_seconds=args.status_refresh,
        lease_namespace=args.lease_namespace,
        unload_on_exit=args.unload_on_exit,
        health=HealthPolicy(healthy_after_seconds=args.healthy_after),
    )
    metrics, probes = AgentMetrics(), Probes()
    if args.metrics_port:
        serve(args.metrics_address, args.metrics_port, metrics, probes)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logging.getLogger("schedcp.agent").info("node agent starting for node %s", args.node_name)
    NodeAgent(agent_config, _api_client(args.kubeconfig), metrics, probes).run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
