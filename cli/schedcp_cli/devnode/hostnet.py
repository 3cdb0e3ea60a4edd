"""What a node changes in the host's network and kernel settings, and how `down` undoes it.

kube-proxy and the kubelet write iptables chains named KUBE-*, the bridge CNI plugin CNI-*
chains, a `cni0` bridge and IP forwarding; the kubelet sets a few kernel sysctls. Their
values before `up` are recorded, and `down` (also after a crash) puts them back and removes
every such chain and rule, in both address families, leaving every other rule as it was.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

BRIDGE = "cni0"
# Written by the bridge plugin (ip_forward) and the kubelet (the rest) on start.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
_OURS = re.compile(r"\b(KUBE|CNI)-[\w-]*")


def read_sysctls() -> dict[str, str]:
    return {name: Path("/proc/sys", name).read_text().strip() for name in SYSCTLS}


def restore_sysctls(saved: dict[str, str]) -> None:
    for name, value in saved.items():
        path = Path("/proc/sys", name)
        if path.read_text().strip() != value:
            path.write_text(value)


def without_node_rules(saved: str) -> str:
    """An iptables-save dump with every KUBE-/CNI- chain and every rule naming one left out."""
    kept = [line for line in saved.splitlines() if not (line.startswith((":", "-A")) and _OURS.search(line))]
    return "\n".join(kept) + "\n"


def remove_rules() -> None:
    for save, restore in (("iptables-save", "iptables-restore"), ("ip6tables-save", "ip6tables-restore")):
        dump = subprocess.run([save], capture_output=True, text=True, check=True).stdout
        if _OURS.search(dump):
            subprocess.run([restore], input=without_node_rules(dump), text=True, check=True, capture_output=True)


def remove_bridge() -> None:
    subprocess.run(["ip", "link", "delete", BRIDGE], check=False, capture_output=True)


def host_address() -> str:
    """The host's address on its default route: kubelets and pods reach the API server there."""
    out = subprocess.run(["ip", "-o", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"\bsrc (\S+)", out)
    if not found:
        raise RuntimeError(f"no source address on the default route: {out.strip()}")
    return found.group(1)
