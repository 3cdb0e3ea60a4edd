"""The production sched_ext schedulers of the scx project, built from the crate registry.

They are the anchors the scheduling benchmark measures designs against. Each crate is
built once with `cargo install` into the cache (one install root per pinned version, one
target directory shared by all crates, so later crates reuse what the first compiled).
Every attempt leaves a log and a small record of its outcome; a failed crate is retried
by the next call, and `scx_status` tells per crate the binary or why there is none.

The BPF side needs clang >= 18 (trixie's, see clang.py). The build passes its BPF flags
both to that clang and to bindgen, which loads the host's libclang 14: the two flags 14
rejects (`-mcpu=v4`, `-mllvm -disable-ldsx`) go only to the BPF compiles, through a
wrapper script given as BPF_CLANG.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel

from schedcp.cache import cache_root
from schedcp.provisioning.clang import ensure_clang
from schedcp.provisioning.kernel import KernelArtifacts

SCX_VERSION = "1.1.4"
SCX_CRATES = ("scx_bpfland", "scx_lavd", "scx_rusty", "scx_flash", "scx_p2dq")
# What scx_cargo's own flags add for BPF beyond what the host's libclang accepts.
BPF_ONLY_FLAGS = "-mcpu=v4 -mllvm -disable-ldsx"
GUEST_SCRIPT = Path(__file__).with_name("scx_guest.sh")
WRAPPER = """#!/bin/sh
# BPF_CLANG for the scx builds: {flags} only where clang compiles for BPF.
case " $* " in
*" -target bpf "* | *" --target=bpf "*) exec "{clang}" {flags} "$@" ;;
esac
exec "{clang}" "$@"
"""


class ScxReason(StrEnum):
    BUILT = "Built"
    NOT_BUILT = "NotBuilt"
    BUILDING = "Building"
    BUILD_FAILED = "BuildFailed"


class ScxBuild(BaseModel):
    """The outcome of one `cargo install`, kept beside its log."""

    crate: str
    version: str
    returncode: int
    seconds: float
    failure: str = ""


class ScxStatus(BaseModel):
    """A crate's binary if built, else the reason it is missing; `message` is for people."""

    crate: str
    reason: ScxReason
    binary: Path | None = None
    message: str = ""
    log: Path | None = None
    seconds: float | None = None


def scx_root(version: str = SCX_VERSION) -> Path:
    return cache_root() / "scx" / version


def _paths(crate: str, version: str) -> tuple[Path, Path, Path, Path]:
    """binary, log, outcome record, lock."""
    root = scx_root(version)
    logs = root / "logs"
    return root / "bin" / crate, logs / f"{crate}.log", logs / f"{crate}.json", logs / f"{crate}.lock"


def _lock_held(lock: Path) -> bool:
    if not lock.exists():
        return False
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def crate_status(crate: str, version: str = SCX_VERSION) -> ScxStatus:
    binary, log, record, lock = _paths(crate, version)
    outcome = ScxBuild.model_validate_json(record.read_text()) if record.exists() else None
    seconds = outcome.seconds if outcome else None
    if binary.exists():
        return ScxStatus(crate=crate, reason=ScxReason.BUILT, binary=binary, log=log, seconds=seconds)
    if _lock_held(lock):
        return ScxStatus(crate=crate, reason=ScxReason.BUILDING, message=f"its cargo build is under way ({log})", log=log)
    if outcome and outcome.returncode != 0:
        return ScxStatus(crate=crate, reason=ScxReason.BUILD_FAILED, log=log, seconds=seconds,
                         message=f"cargo install failed after {outcome.seconds:.0f}s: {outcome.failure} ({log})")
    return ScxStatus(crate=crate, reason=ScxReason.NOT_BUILT,
                     message=f"not built: `schedcp dev prepare --scx {crate}` builds it")


def scx_status(crates: Iterable[str] = SCX_CRATES, version: str = SCX_VERSION) -> dict[str, ScxStatus]:
    """Per crate, the binary or why it is missing, without building anything."""
    return {crate: crate_status(crate, version) for crate in crates}


def build_failure(log: str) -> str:
    """The first line that says why a cargo build failed, short enough for a table cell."""
    lines = log.strip().splitlines()
    # A build script's panic names the cause; cargo's own "error:" line only names the crate.
    for index, line in enumerate(lines):
        if "panicked at" in line:
            crate = next((x.split("`")[1] for x in lines if "failed to run custom build command" in x and "`" in x), "")
            reason = next((x.strip() for x in lines[index + 1:] if x.strip()), "")
            return f"{crate} build script: {reason}"[:200]
    for line in lines:
        if line.startswith("error") or "fatal error" in line or "not found" in line:
            return line.strip()[:200]
    return (lines[-1] if lines else "no output")[:160]


def base_cflags(clang: Path) -> str:
    """scx_cargo's BPF cflags (clang_info.rs) less BPF_ONLY_FLAGS, for BPF_BASE_CFLAGS. The
    system include directories are clang's own, found the way scx_cargo finds them."""
    probe = subprocess.run([str(clang), "-v", "-E", "-"], input="", capture_output=True, text=True, check=True)
    lines = probe.stderr.splitlines()
    includes = lines[lines.index("#include <...> search starts here:") + 1:lines.index("End of search list.")]
    flags = ["-g", "-O2", "-Wall", "-Wno-compare-distinct-pointer-types", "-D__TARGET_ARCH_x86", "-mlittle-endian"]
    return " ".join(flags + [f"-idirafter {directory.strip()}" for directory in includes])


def _build_env(version: str) -> dict[str, str]:
    clang = ensure_clang()
    wrapper = scx_root(version) / "bpf-clang"
    wrapper.write_text(WRAPPER.format(clang=clang, flags=BPF_ONLY_FLAGS))
    wrapper.chmod(0o755)
    return os.environ | {
        "BPF_CLANG": str(wrapper),
        "BPF_BASE_CFLAGS": base_cflags(clang),
        "CARGO_TARGET_DIR": str(cache_root() / "scx" / "target"),
    }


def _install(crate: str, version: str, log: Path) -> ScxBuild:
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    command = ["nice", "-n", "10", cargo, "install", "--locked", "--root", str(scx_root(version)),
               "--version", version, crate]
    started = time.monotonic()
    with log.open("w") as sink:
        sink.write(" ".join(command) + "\n")
        sink.flush()
        try:
            returncode = subprocess.run(command, env=_build_env(version), stdin=subprocess.DEVNULL, stdout=sink,
                                        stderr=subprocess.STDOUT, check=False).returncode
        except (OSError, RuntimeError, ValueError, subprocess.CalledProcessError) as error:
            sink.write(f"error: {error}\n")
            returncode = -1
    seconds = round(time.monotonic() - started, 1)
    failure = build_failure(log.read_text(errors="replace")) if returncode else ""
    return ScxBuild(crate=crate, version=version, returncode=returncode, seconds=seconds, failure=failure)


def build_crate(crate: str, version: str = SCX_VERSION) -> ScxStatus:
    """Build `crate` unless it is in the cache; a second caller waits for the first's build."""
    binary, log, record, lock = _paths(crate, version)
    log.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not binary.exists():
            record.write_text(_install(crate, version, log).model_dump_json())
    return crate_status(crate, version)


def ensure_scx(crates: Iterable[str] = SCX_CRATES, version: str = SCX_VERSION) -> dict[str, Path]:
    """The binaries of `crates` that build, building the missing ones; see scx_status for the rest."""
    built = {crate: build_crate(crate, version).binary for crate in crates}
    return {crate: binary for crate, binary in built.items() if binary}


def scx_guest_files(kernel: KernelArtifacts) -> dict[str, Path]:
    """Files for run_script's `files` that let a guest script `. ./scx_guest.sh` and start
    scx binaries from the shared host tree (see scx_guest.sh)."""
    return {"scx_guest.sh": GUEST_SCRIPT, "kernel-config": kernel.config}
