"""Build the `helm` command from the helm.sh/helm Go module, cached like the Kubernetes binaries.

No registry reachable here ships a helm binary. helm's go.mod has no `replace` lines, so a
plain `go build` of cmd/helm inside a throwaway consuming module works; we add the ldflags
that helm's own Makefile sets (version, and the Kubernetes version that `helm template` and
`helm lint` assume when no cluster is asked), derived from the client-go it requires.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path

from schedcp.cache import cache_root
from schedcp_cli.devcluster.kubebuild import _go, _go_env

log = logging.getLogger(__name__)

HELM_MODULE = "helm.sh/helm/v3"
HELM_VERSION = "v3.22.0"
_CLIENT_GO = re.compile(r"^\s*k8s\.io/client-go\s+v0\.(\d+)\.\d+", re.MULTILINE)


def helm_binary(version: str = HELM_VERSION) -> Path:
    return cache_root() / "helm" / version / "bin" / "helm"


def kube_version_of(helm_gomod: str) -> tuple[int, int]:
    """client-go v0.37.x in helm's go.mod -> Kubernetes 1.37 (what helm's Makefile computes)."""
    found = _CLIENT_GO.search(helm_gomod)
    if not found:
        raise ValueError("helm's go.mod does not require k8s.io/client-go")
    return 1, int(found.group(1))


def helm_ldflags(version: str, helm_gomod: str) -> str:
    major, minor = kube_version_of(helm_gomod)
    flags = [
        "-s -w",
        f"-X {HELM_MODULE}/internal/version.version={version}",
        f"-X {HELM_MODULE}/internal/version.gitTreeState=clean",
    ]
    for pkg in ("pkg/lint/rules", "pkg/chartutil"):
        flags += [f"-X {HELM_MODULE}/{pkg}.k8sVersionMajor={major}", f"-X {HELM_MODULE}/{pkg}.k8sVersionMinor={minor}"]
    return " ".join(flags)


def ensure_helm(version: str = HELM_VERSION) -> Path:
    """Return the cached helm binary, building it from the Go module proxy once (cold: minutes)."""
    target = helm_binary(version)
    if target.is_file():
        return target
    env = _go_env()
    with tempfile.TemporaryDirectory(prefix="schedcp-helmbuild-") as tmp:
        work = Path(tmp)
        info = json.loads(_go(["mod", "download", "-json", f"{HELM_MODULE}@{version}"], work, env))
        upstream = Path(info["GoMod"]).read_text()
        go_line = re.search(r"^go\s+(\S+)", upstream, re.MULTILINE)
        (work / "go.mod").write_text(
            f"module schedcp.local/helmbuild\n\ngo {go_line.group(1) if go_line else '1.24'}\n\n"
            f"require {HELM_MODULE} {version}\n"
        )
        log.info("building helm %s from the Go module proxy (cold: minutes)", version)
        partial = target.with_name("helm.partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        _go(
            ["build", "-trimpath", "-ldflags", helm_ldflags(version, upstream), "-o", str(partial), f"{HELM_MODULE}/cmd/helm"],
            work,
            env,
        )
    # Renamed in only when complete, so an interrupted build is never a cache hit.
    partial.rename(target)
    return target
