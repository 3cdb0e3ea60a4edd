"""Where the dev cluster keeps its cached binaries and per-cluster state.

Binaries are cached per version under the user's cache dir so a second setup takes
seconds; cluster state (certificates, etcd data, logs) lives in a state dir that the
caller chooses, so tests can run a throwaway cluster next to a long-lived demo one.
"""

from __future__ import annotations

import os
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"


def cache_root() -> Path:
    override = os.environ.get("SCHEDCP_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "schedcp"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "schedcp" / "dev-cluster"
