"""Build the control plane, kubectl and a node's kubelet and kube-proxy from the k8s.io/kubernetes Go module.

No registry reachable here publishes these binaries, and `go install ...@version` refuses
because k8s.io/kubernetes `replace`s its staging modules with local paths. So we write a
throwaway consuming module whose go.mod pins each staging module to the `v0.<minor>.<patch>`
release that matches, which is exactly what the upstream release tags publish.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from schedcp.cache import cache_root
from schedcp_cli.devcluster.paths import KUBERNETES_VERSION

log = logging.getLogger(__name__)

# One `go build`: the node's commands share most packages with the control plane's, so adding
# them costs about a minute and a half with the control plane's build cache.
COMMANDS = ("kube-apiserver", "kubectl", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", re.MULTILINE)


def bin_dir(version: str = KUBERNETES_VERSION) -> Path:
    return cache_root() / "kubernetes" / version / "bin"


def staging_modules(upstream_gomod: str) -> list[str]:
    """The k8s.io modules that the upstream go.mod redirects into ./staging."""
    return sorted(set(_STAGING_REPLACE.findall(upstream_gomod)))


def staging_version(version: str) -> str:
    """v1.36.3 -> v0.36.3: the tag the staging repositories carry for that release."""
    major, minor, patch = version.lstrip("v").split(".")
    if major != "1":
        raise ValueError(f"unsupported Kubernetes version {version}")
    return f"v0.{minor}.{patch}"


def consumer_gomod(version: str, upstream_gomod: str, go_directive: str) -> str:
    pinned = staging_version(version)
    replaces = "\n".join(f"\t{m} => {m} {pinned}" for m in staging_modules(upstream_gomod))
    return (
        "module schedcp.local/kubebuild\n\n"
        f"go {go_directive}\n\n"
        f"require k8s.io/kubernetes {version}\n\n"
        f"replace (\n{replaces}\n)\n"
    )


def _go(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["go", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def _go_env() -> dict[str, str]:
    # GOTOOLCHAIN=local: never fetch another Go toolchain; CGO off: static binaries.
    return {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}


def _version_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(["-s -w", *flags])


def ensure_kubernetes_binaries(version: str = KUBERNETES_VERSION) -> Path:
    """Return the directory holding the COMMANDS binaries, building the missing ones once."""
    target = bin_dir(version)
    missing = [cmd for cmd in COMMANDS if not (target / cmd).is_file()]
    if not missing:
        return target
    env = _go_env()
    with tempfile.TemporaryDirectory(prefix="schedcp-kubebuild-") as tmp:
        work = Path(tmp)
        info = json.loads(_go(["mod", "download", "-json", f"k8s.io/kubernetes@{version}"], work, env))
        upstream = Path(info["GoMod"]).read_text()
        go_line = re.search(r"^go\s+(\S+)", upstream, re.MULTILINE)
        (work / "go.mod").write_text(consumer_gomod(version, upstream, go_line.group(1) if go_line else "1.24"))
        log.info("building %s %s from the Go module proxy (cold: minutes)", ", ".join(missing), version)
        _go(["mod", "download", "k8s.io/kubernetes"], work, env)
        staging = target.parent / "bin.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        packages = [f"k8s.io/kubernetes/cmd/{cmd}" for cmd in missing]
        _go(["build", "-trimpath", "-ldflags", _version_ldflags(version), "-o", str(staging) + "/", *packages], work, env)
    # Move each binary in only when complete, so an interrupted build is never a cache hit.
    target.mkdir(parents=True, exist_ok=True)
    for built in staging.iterdir():
        built.rename(target / built.name)
    staging.rmdir()
    return target
