"""Where a verified scheduler object travels from the operator to the agents: a ConfigMap
per revision (binaryData), named here once for both sides."""

from schedcp.naming import fit

OBJECT_KEY = "scheduler.bpf.o"


def object_configmap_name(revision_name: str) -> str:
    return fit(f"schedcp-object-{revision_name}")
