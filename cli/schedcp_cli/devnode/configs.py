"""The node's configuration files: the bridge CNI network, the kubelet's and kube-proxy's.

Choices a dev node on a shared machine needs, beyond the defaults:
- cgroup v1 hosts: Kubernetes 1.36 refuses v1 unless told (`failCgroupV1: false`), and
  with no systemd the driver is cgroupfs;
- the node's cgroups under a root of their own (`cgroup_root`), not the host's /kubepods;
- no evictions or image GC on a full dev disk: the images cannot be pulled back;
- the kubelet authenticates the API server by the cluster CA, and authorizes it alone;
- kube-proxy leaves the host's conntrack sysctls and localhost routing alone.
"""

from __future__ import annotations

import json
from pathlib import Path

POD_RANGE = "10.244.0.0/16"
NODE_POD_SUBNET = "10.244.0.0/24"
NETWORK_NAME = "schedcp-dev"


def cni_network(ipam_dir: Path) -> str:
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": NETWORK_NAME,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": NODE_POD_SUBNET}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(ipam_dir),
                    },
                }
            ],
        },
        indent=2,
    )


def kubelet(
    *, address: str, port: int, healthz_port: int, ca: Path, runtime_socket: Path, cgroup_root: str
) -> str:
    return json.dumps(
        {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{cgroup_root}",
            "address": address,
            "port": port,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": healthz_port,
            "readOnlyPort": 0,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False}, "x509": {"clientCAFile": str(ca)}},
            "authorization": {"mode": "AlwaysAllow"},
            "containerRuntimeEndpoint": f"unix://{runtime_socket}",
            "failSwapOn": False,
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%", "imagefs.available": "1%"},
            "serializeImagePulls": False,
            "maxPods": 30,
        },
        indent=2,
    )


def kube_proxy(*, kubeconfig: Path, node_name: str, healthz_port: int, metrics_port: int) -> str:
    return json.dumps(
        {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": node_name,
            "clusterCIDR": POD_RANGE,
            "healthzBindAddress": f"127.0.0.1:{healthz_port}",
            "metricsBindAddress": f"127.0.0.1:{metrics_port}",
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            "iptables": {"localhostNodePorts": False},
        },
        indent=2,
    )
