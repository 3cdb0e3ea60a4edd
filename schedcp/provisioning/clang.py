"""A clang new enough to build the scx schedulers' BPF code, run from the cache.

scx_utils' build script refuses clang < 18 for BPF (it compiles with `-mcpu=v4`) and
bookworm ships 14. Trixie's clang-19 with its whole dependency closure is unpacked (never
installed) into the cache, and its programs are patched to use the unpacked dynamic loader
and libraries: trixie's glibc is newer than the host's, so the host's loader cannot run them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from schedcp.debian_packages import MULTIARCH_LIBS, unpacked_programs, version_line

log = logging.getLogger(__name__)

CLANG_SUITE = "trixie"
CLANG_MAJOR = 19
CLANG_PACKAGES = [f"clang-{CLANG_MAJOR}", f"llvm-{CLANG_MAJOR}", f"libclang-common-{CLANG_MAJOR}-dev"]
LLVM_DIR = Path(f"usr/lib/llvm-{CLANG_MAJOR}")
LIBRARY_DIRS = (MULTIARCH_LIBS, LLVM_DIR / "lib")


def ensure_clang() -> Path:
    """The path of a working clang 19, unpacked and patched into the cache on first use."""
    root, packages = unpacked_programs(CLANG_SUITE, CLANG_PACKAGES, "clang", LLVM_DIR / "bin", LIBRARY_DIRS)
    clang = root / LLVM_DIR / "bin" / "clang"
    log.info("%s at %s (%d packages)", version_line(clang, f"clang version {CLANG_MAJOR}."), clang, packages)
    return clang
