"""A clang new enough to build the scx schedulers' BPF code, run from the cache.

scx_utils' build script refuses clang < 18 for BPF (it compiles with `-mcpu=v4`) and
bookworm ships 14. Trixie's clang-19 with its whole dependency closure is unpacked (never
installed) into the cache, and its programs are patched to use the unpacked dynamic loader
and libraries: trixie's glibc is newer than the host's, so the host's loader cannot run them.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path

from schedcp.cache import cache_root
from schedcp.debian_packages import MULTIARCH_LIBS, DebianSuite, relocate, unpack_root

log = logging.getLogger(__name__)

CLANG_SUITE = "trixie"
CLANG_MAJOR = 19
CLANG_PACKAGES = [f"clang-{CLANG_MAJOR}", f"llvm-{CLANG_MAJOR}", f"libclang-common-{CLANG_MAJOR}-dev"]
LLVM_DIR = Path(f"usr/lib/llvm-{CLANG_MAJOR}")
LIBRARY_DIRS = (MULTIARCH_LIBS, LLVM_DIR / "lib")


def clang_version(clang: Path) -> str:
    """The first line of `clang --version`, e.g. "Debian clang version 19.1.7 (3+b1)"."""
    result = subprocess.run([str(clang), "--version"], capture_output=True, text=True, check=False)
    first = result.stdout.splitlines()[0] if result.stdout else ""
    if result.returncode != 0 or f"clang version {CLANG_MAJOR}." not in first:
        raise RuntimeError(f"{clang} does not run as clang {CLANG_MAJOR}: {(result.stderr or first).strip()[-500:]}")
    return first


def ensure_clang() -> Path:
    """The path of a working clang 19, unpacked and patched into the cache on first use."""
    debs = DebianSuite(CLANG_SUITE).download_closure(CLANG_PACKAGES)
    fingerprint = hashlib.sha256("\n".join(d.name for d in debs).encode()).hexdigest()[:16]
    root = cache_root() / "clang" / fingerprint
    unpack_root(debs, root, lambda tree: relocate(tree / LLVM_DIR / "bin", root, LIBRARY_DIRS))
    clang = root / LLVM_DIR / "bin" / "clang"
    log.info("%s at %s (%d packages)", clang_version(clang), clang, len(debs))
    return clang
