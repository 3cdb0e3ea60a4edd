"""A persistent mount namespace of its own for the node's containerd and kubelet.

The kubelet's `mountPropagation: HostToContainer` needs the volume's mount to be shared or a
slave, but every mount of this host is private; making the host's `/` shared would change
the host for everyone. So the node runs in a namespace bound to a file (`unshare
--mount=FILE`) whose root is made rshared inside: pod mounts stay in there, and unmounting
the file after the last process leaves frees them all.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path


def create(ns_file: Path, binds: dict[Path, Path]) -> list[Path]:
    """Make the namespace, and in it mount each `binds` source over its host path, so that
    what the kubelet and containerd write to fixed host paths lands in the node's state dir.
    Returns the mount points it had to create on the host (empty directories) for `destroy`."""
    created = [target for target in binds if not target.exists()]
    for target in created:
        target.mkdir(parents=True)
    ns_file.touch()
    subprocess.run(["unshare", f"--mount={ns_file}", "true"], check=True, capture_output=True)
    subprocess.run(["nsenter", f"--mount={ns_file}", "mount", "--make-rshared", "/"], check=True, capture_output=True)
    for target, source in binds.items():
        source.mkdir(parents=True, exist_ok=True)
        subprocess.run(["nsenter", f"--mount={ns_file}", "mount", "--bind", str(source), str(target)],
                       check=True, capture_output=True)
    return created


def command(ns_file: Path, argv: list[str]) -> list[str]:
    """`argv` run inside the namespace (nsenter execs it: the pid is the command's)."""
    return ["nsenter", f"--mount={ns_file}", "--", *argv]


def members(ns_file: Path) -> list[int]:
    """Processes in the namespace: those started in it and every child they left (shims)."""
    try:
        bound = os.stat(ns_file)
    except FileNotFoundError:
        return []
    # Device and inode: a namespace file that is no longer bound is a plain file elsewhere.
    identity = (bound.st_dev, bound.st_ino)
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            with contextlib.suppress(OSError):
                ns = os.stat(entry / "ns" / "mnt")
                if (ns.st_dev, ns.st_ino) == identity:
                    found.append(int(entry.name))
    return found


def destroy(ns_file: Path, created: list[Path]) -> None:
    """Release the namespace (it goes once no process is left in it), its file, and the
    mount points `create` made on the host while they are still empty."""
    if ns_file.exists():
        subprocess.run(["umount", str(ns_file)], check=False, capture_output=True)
        ns_file.unlink(missing_ok=True)
    for target in created:
        with contextlib.suppress(OSError):
            target.rmdir()
