"""Where a verified scheduler object travels from the operator to the agents: a ConfigMap
per revision (binaryData), named here once for both sides."""

OBJECT_KEY = "scheduler.bpf.o"


def object_configmap_name(revision_name: str) -> str:
    return f"schedcp-object-{revision_name}"[:253]
