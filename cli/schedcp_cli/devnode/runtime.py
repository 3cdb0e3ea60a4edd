"""containerd for a dev node: sid's 2.1 unpacked into the cache, run with bookworm's runc.

Kubernetes 1.36 needs containerd 2 (1.6 lacks the RuntimeConfig call); sid's runc needs a
newer glibc than bookworm's, so the runc option names the host's. Everything containerd
keeps (root, state, socket, CNI config, network namespaces) lives in the node's state dir.
Two settings this host needs: the pause image is ours (no registry), and
`restrict_oom_score_adj`, because CAP_SYS_RESOURCE is not in the bounding set here (the
sandbox's oom_score_adj of -998 would fail with "can't get final child's PID from pipe").
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from schedcp.debian_packages import DebianSuite

CONTAINERD_SUITE = "sid"
RUNC = Path("/usr/sbin/runc")
CNI_PLUGINS = Path("/usr/lib/cni")
NAMESPACE = "k8s.io"


def ensure_containerd() -> Path:
    """The directory holding containerd, its runc shim and ctr."""
    bin_dir = DebianSuite(CONTAINERD_SUITE).extract("containerd") / "usr" / "bin"
    for name in ("containerd", "containerd-shim-runc-v2", "ctr"):
        if not (bin_dir / name).is_file():
            raise RuntimeError(f"containerd from {CONTAINERD_SUITE} has no {bin_dir / name}")
    return bin_dir


def config(state: Path, socket: Path, cni_conf_dir: Path, pause_image: str) -> str:
    return f"""version = 3
root = '{state / "root"}'
state = '{state / "state"}'
# NRI would listen on a host path; nothing here uses it.
disabled_plugins = ['io.containerd.nri.v1.nri']

[grpc]
  address = '{socket}'

[plugins.'io.containerd.internal.v1.opt']
  path = '{state / "opt"}'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{pause_image}'

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = '{RUNC}'
      SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['{CNI_PLUGINS}']
    conf_dir = '{cni_conf_dir}'
    use_internal_loopback = true
"""


def import_command(ctr: Path, socket: Path, archive: Path) -> list[str]:
    return [str(ctr), f"--address={socket}", f"--namespace={NAMESPACE}", "images", "import", str(archive)]


def import_image(ctr: Path, socket: Path, archive: Path) -> None:
    result = subprocess.run(import_command(ctr, socket, archive), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ctr images import {archive.name} failed: {result.stderr.strip()[-2000:]}")
