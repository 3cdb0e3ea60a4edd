"""Where a verified scheduler object travels from the operator to the agents: a ConfigMap
per revision (binaryData), named here once for both sides; and the digest both sides take
of a file (an scx binary is checked by the verifier and again by the agent before it runs)."""

import hashlib
from pathlib import Path

from schedcp.naming import fit

OBJECT_KEY = "scheduler.bpf.o"


def object_configmap_name(revision_name: str) -> str:
    return fit(f"schedcp-object-{revision_name}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
