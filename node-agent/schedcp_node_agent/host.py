"""Where the agent finds the node's kernel interfaces.

In the DaemonSet the host's /proc, /sys and state directory are mounted under a prefix
(hostPath volumes); on a VM node or in tests they are the real paths. Everything that
reads the kernel goes through one `HostPaths`, so no module hard-codes `/sys`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


def read_value(path: Path) -> str | None:
    """A sysfs or procfs value, stripped; None when the file is absent or unreadable."""
    try:
        return path.read_text().strip()
    except OSError:
        return None


class HostPaths(BaseModel):
    model_config = ConfigDict(frozen=True)

    root: Path = Path("/")
    state_dir: Path = Path("/var/lib/schedcp")
    # Nodes that share a kernel may share its bpffs too (kind): each agent keeps its pins
    # under its own node's name so that none takes another's for its own.
    node: str = ""

    @property
    def proc(self) -> Path:
        return self.root / "proc"

    @property
    def sys(self) -> Path:
        return self.root / "sys"

    @property
    def sched_ext(self) -> Path:
        return self.sys / "kernel" / "sched_ext"

    @property
    def cgroup(self) -> Path:
        return self.sys / "fs" / "cgroup"

    @property
    def bpffs(self) -> Path:
        return self.sys / "fs" / "bpf"

    @property
    def pin_root(self) -> Path:
        """One directory per loaded revision; its name is the revision's name."""
        return self.bpffs / "schedcp" / self.node if self.node else self.bpffs / "schedcp"
