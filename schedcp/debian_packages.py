"""Fetch packages from Debian suites newer than the host's, without installing them.

The host stays bookworm: packages from trixie, trixie-backports or sid are resolved with a
private sources list and lists dir, downloaded with `apt-get download` and unpacked with
`dpkg-deb -x` into a cache keyed by suite, package and version. Nothing touches /var/lib/dpkg.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from schedcp.cache import cache_root, filling

log = logging.getLogger(__name__)

MIRROR = "http://deb.debian.org/debian"
LISTS_MAX_AGE_SECONDS = 24 * 3600


class DebianSuite:
    """One suite (e.g. "trixie", "trixie-backports", "sid") with its own apt state."""

    def __init__(self, suite: str, root: Path | None = None) -> None:
        self.suite = suite
        self.root = (root or cache_root() / "debian") / suite
        self.sources = self.root / "sources.list"
        self.lists = self.root / "lists"
        self.archives = self.root / "archives"

    def _apt(self, *args: str, cwd: Path | None = None) -> str:
        options = [
            f"-oDir::Etc::SourceList={self.sources}",
            "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={self.lists}",
            f"-oDir::Cache={self.root / 'apt-cache'}",
            "-oAPT::Sandbox::User=root",
            "-oAcquire::Languages=none",
        ]
        result = subprocess.run(
            ["apt-get", "-q", *options, *args], cwd=cwd, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"apt-get {' '.join(args)} ({self.suite}) failed: {result.stderr.strip()[-2000:]}")
        return result.stdout

    def update(self, force: bool = False) -> None:
        stamp = self.lists / ".updated"
        if not force and stamp.exists() and time.time() - stamp.stat().st_mtime < LISTS_MAX_AGE_SECONDS:
            return
        for directory in (self.lists / "partial", self.root / "apt-cache" / "archives" / "partial"):
            directory.mkdir(parents=True, exist_ok=True)
        self.sources.write_text(f"deb {MIRROR} {self.suite} main\n")
        self._apt("update")
        stamp.touch()

    def candidate_version(self, package: str) -> str:
        """The version `apt-get download` would fetch, from the suite's package index."""
        self.update()
        out = self._apt_cache_show(package)
        return fields(out)["Version"]

    def provides(self, package: str) -> bool:
        """Whether the suite's index has `package` at all (a kernel release, for instance)."""
        self.update()
        return "Package:" in self._apt_cache_show(package, check=False)

    def depends(self, package: str) -> list[str]:
        self.update()
        out = self._apt_cache_show(package)
        raw = fields(out).get("Depends", "")
        return [alternative.split("|")[0].split("(")[0].strip() for alternative in raw.split(",") if alternative.strip()]

    def _apt_cache_show(self, package: str, check: bool = True) -> str:
        return subprocess.run(
            [
                "apt-cache",
                f"-oDir::Etc::SourceList={self.sources}",
                "-oDir::Etc::SourceParts=/dev/null",
                f"-oDir::State::Lists={self.lists}",
                f"-oDir::Cache={self.root / 'apt-cache'}",
                "show",
                "--no-all-versions",
                package,
            ],
            capture_output=True,
            text=True,
            check=check,
        ).stdout

    def extract(self, package: str) -> Path:
        """Download and unpack `package`; return the directory it was unpacked into."""
        version = self.candidate_version(package)
        target = self.root / "extracted" / f"{package}_{version.replace(':', '%')}"
        if (target / ".complete").exists():
            return target
        with filling(target):
            if not (target / ".complete").exists():
                self._download_and_unpack(package, target)
                log.info("unpacked %s %s from %s", package, version, self.suite)
        return target

    def _download_and_unpack(self, package: str, target: Path) -> None:
        self.archives.mkdir(parents=True, exist_ok=True)
        self._apt("download", package, cwd=self.archives)
        debs = sorted(self.archives.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
        partial = target.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(partial)], check=True)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        (target / ".complete").touch()


    def download_closure(self, packages: list[str]) -> list[Path]:
        """The .deb files of `packages` and everything they depend on (no recommends), as
        apt resolves it for an empty system: the contents of a root filesystem."""
        self.update()
        empty_status = self.root / "empty-status"
        empty_status.touch()
        archives = self.root / "closure-archives"
        (archives / "partial").mkdir(parents=True, exist_ok=True)
        self._apt(
            f"-oDir::State::status={empty_status}", f"-oDir::Cache::archives={archives}", "-oDebug::NoLocking=1",
            "install", "--download-only", "--no-install-recommends", "-y", *packages,
        )
        planned = self._apt(
            f"-oDir::State::status={empty_status}", "-oDebug::NoLocking=1",
            "install", "--simulate", "--no-install-recommends", "-y", *packages,
        )
        names = [line.split()[1] for line in planned.splitlines() if line.startswith("Inst ")]
        return [max(archives.glob(f"{name}_*.deb"), key=lambda p: p.stat().st_mtime) for name in names]


MERGED_USR = ("lib", "lib64", "bin", "sbin")


def merged_usr_links(root: Path) -> None:
    """Debian since trixie ships files under /usr only; base-files' /lib -> usr/lib style
    links are what make /lib64/ld-linux-x86-64.so.2 and /bin/sh resolve in an unpacked root."""
    for merged in MERGED_USR:
        if not (root / merged).exists():
            (root / "usr" / merged).mkdir(parents=True, exist_ok=True)
            (root / merged).symlink_to(f"usr/{merged}")


def unpack_root(debs: list[Path], root: Path, finish: Callable[[Path], None]) -> Path:
    """`debs` unpacked into `root` once: `finish` completes the tree before it is published,
    so an interrupted run leaves only a partial directory that the next run starts over."""
    with filling(root):
        if (root / ".complete").exists():
            return root
        partial = root.with_suffix(".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        merged_usr_links(partial)
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], check=True)
        finish(partial)
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
        (root / ".complete").touch()
    return root


LOADER = Path("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
MULTIARCH_LIBS = Path("usr/lib/x86_64-linux-gnu")
ELF_MAGIC = b"\x7fELF"


def _is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as file:
        return file.read(4) == ELF_MAGIC


def relocate(programs: Path, root: Path, library_dirs: Iterable[Path] = (MULTIARCH_LIBS,)) -> None:
    """Point every program in the directory `programs` at the loader and libraries of the
    unpacked tree that will be published as `root`: a newer suite's glibc is newer than the
    host's, so the host's loader cannot run them. --force-rpath writes DT_RPATH, which
    (unlike DT_RUNPATH) also serves the libraries' own dependencies."""
    rpath = ":".join(str(root / directory) for directory in library_dirs)
    for program in sorted(programs.iterdir()):
        if _is_elf(program):
            subprocess.run(["patchelf", "--set-interpreter", str(root / LOADER), "--force-rpath", "--set-rpath",
                            rpath, str(program)], check=True)


def unpacked_programs(suite: str, packages: list[str], name: str, programs: Path,
                      library_dirs: Iterable[Path] = (MULTIARCH_LIBS,)) -> tuple[Path, int]:
    """`packages` of `suite` with their dependency closure, unpacked once into the cache
    under `name`, the programs in `programs` (relative) relocated to run from there: the
    root and the number of packages. A new closure (a package moved on) is a new root."""
    debs = DebianSuite(suite).download_closure(packages)
    fingerprint = hashlib.sha256("\n".join(d.name for d in debs).encode()).hexdigest()[:16]
    root = cache_root() / name / fingerprint
    unpack_root(debs, root, lambda tree: relocate(tree / programs, root, library_dirs))
    return root, len(debs)


def version_line(program: Path, expected: str) -> str:
    """The first line of `program --version`, which must contain `expected`: proof it runs."""
    result = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=False)
    first = result.stdout.splitlines()[0] if result.stdout else ""
    if result.returncode != 0 or expected not in first:
        raise RuntimeError(f"{program} does not run as {expected}: {(result.stderr or first).strip()[-500:]}")
    return first


def fields(control: str) -> dict[str, str]:
    """Parse the first stanza of Debian control-file text into its fields."""
    parsed: dict[str, str] = {}
    key = None
    for line in control.splitlines():
        if not line.strip():
            if parsed:
                break
            continue
        if line[0].isspace() and key:
            parsed[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            parsed[key] = value.strip()
    return parsed
