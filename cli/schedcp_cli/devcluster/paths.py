"""Where the dev cluster keeps its per-cluster state; binaries go to the shared cache.

Cluster state (certificates, etcd data, logs) lives in a state dir that the caller
chooses, so tests can run a throwaway cluster next to a long-lived demo one.
"""

from __future__ import annotations

import os
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_SUITE = "trixie"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "schedcp" / "dev-cluster"
