"""An image's root filesystem from Debian packages and the project's source, with mmdebstrap.

mmdebstrap resolves and unpacks the image's package list for its suite (trixie works from the
bookworm host: its keys are in bookworm's keyring) and runs our hooks inside the new root
with /proc, /sys and /dev mounted: a virtualenv with the project installed from its source
tree, as the Dockerfiles do. pip reaches PyPI through the host's network; where HTTPS goes
through an intercepting proxy it needs the CA bundle that trusts the proxy, given here
explicitly (`ca_bundle`) and removed from the root before the image is made.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

from schedcp.provisioning.scx import scx_root
from schedcp_cli.devimages.spec import REPO, SOURCE_DIR, SOURCE_PATHS, VENV_DIR, ImageSpec

MIRROR = "http://deb.debian.org/debian"
BUILD_CA = "/tmp/schedcp-build-ca.crt"
_CHROOT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# What a slim Debian image leaves out too.
_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
_PROVISION = (
    "from schedcp.provisioning.kernel import provision_kernel; "
    "from schedcp.provisioning.guest import base_initramfs; print(provision_kernel(), base_initramfs())"
)


def stage_source(target: Path) -> Path:
    """The paths the Dockerfiles COPY, without caches and build leftovers."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".venv")
    for relative in SOURCE_PATHS:
        source = REPO / relative
        if source.is_dir():
            shutil.copytree(source, target / relative, ignore=ignore)
        else:
            shutil.copy2(source, target / relative)
    return target


def install_commands(spec: ImageSpec, ca_bundle: Path | None) -> list[str]:
    """The shell run in the new root (as root, with its network): the venv, the project, and
    for the operator its sched_ext kernel cache, exactly what the Dockerfile's RUNs do."""
    pip_cert = f"PIP_CERT={BUILD_CA} SSL_CERT_FILE={BUILD_CA} " if ca_bundle else ""
    commands = [
        f"python3 -m venv {VENV_DIR}",
        f"{pip_cert}{VENV_DIR}/bin/pip install --no-cache-dir --no-compile -q -e {SOURCE_DIR}",
    ]
    if spec.provisions_cache:
        cache = spec.env["SCHEDCP_CACHE_DIR"]
        commands.append(f"SCHEDCP_CACHE_DIR={cache} {VENV_DIR}/bin/python -c {shlex.quote(_PROVISION)}")
        # The chart copies the cache as the non-root user: apt leaves parts of it to root.
        commands.append(f"chmod -R a+rX {cache}")
    if spec.user != "0":
        uid, gid = spec.user.split(":")
        commands += [
            f"groupadd --gid {gid} schedcp",
            f"useradd --uid {uid} --gid {gid} --no-create-home --shell /usr/sbin/nologin schedcp",
        ]
    return commands


def mmdebstrap_args(spec: ImageSpec, target: Path, source: Path, ca_bundle: Path | None) -> list[str]:
    hooks = [f'mkdir -p "$1{SOURCE_DIR}"', f'copy-in {" ".join(str(source / p) for p in SOURCE_PATHS)} {SOURCE_DIR}']
    if ca_bundle:
        hooks.append(f'cp {shlex.quote(str(ca_bundle))} "$1{BUILD_CA}"')
    # A clean environment: the host's (pip settings, SSL_CERT_FILE naming the host's bundle)
    # would make the build depend on the machine it runs on.
    clean = f"env -i PATH={_CHROOT_PATH} HOME=/root LANG=C.UTF-8"
    hooks += [f'chroot "$1" {clean} sh -ec {shlex.quote(c)}' for c in install_commands(spec, ca_bundle)]
    scx = scx_root() / "bin"
    if scx.is_dir():
        hooks += [f'mkdir -p "$1{spec.scx_dir}"', f'cp -a {shlex.quote(str(scx))}/. "$1{spec.scx_dir}/"']
    hooks += [f'rm -f "$1{BUILD_CA}"', 'rm -rf "$1/var/lib/apt/lists"/* "$1/var/cache/apt"/*.bin']
    return [
        "mmdebstrap",
        "--quiet",
        "--mode=root",
        "--variant=apt",
        "--format=directory",
        f"--include={','.join(spec.packages())}",
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in _EXCLUDES),
        *(f"--customize-hook={hook}" for hook in hooks),
        spec.suite,
        str(target),
        MIRROR,
    ]


def build_rootfs(spec: ImageSpec, target: Path, ca_bundle: Path | None) -> Path:
    if ca_bundle is not None and not ca_bundle.is_file():
        raise FileNotFoundError(f"CA bundle {ca_bundle} does not exist")
    staging = target.with_name(f"{target.name}.source")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        source = stage_source(staging)
        result = subprocess.run(mmdebstrap_args(spec, target, source, ca_bundle), capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if result.returncode != 0:
        raise RuntimeError(f"mmdebstrap for the {spec.name} image failed:\n{result.stderr[-4000:]}")
    return target
