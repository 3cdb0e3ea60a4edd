"""What goes into each image: the one description that `schedcp dev images` builds from and
that the Dockerfiles must agree with (tests/images holds them to it).

A Dockerfile installs its image's Debian packages from the list files named here, copies the
same source paths and installs them the same way; only the builder differs (docker there,
mmdebstrap and umoci here, where no container engine or registry exists). The node agent has
two images from one Dockerfile: tier 1 (the default target) and, with BCC for tier-2 profiling,
the `bcc` target, whose LLVM would otherwise make every agent image weigh 500 MB.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from schedcp.provisioning.scx import SCX_VERSION

REPO = Path(__file__).resolve().parents[3]

# What the Dockerfiles COPY into /opt/schedcp/src: an editable install, because the scheduler
# library (bpf/) and the BCC collector are read from the source tree.
SOURCE_PATHS = ("pyproject.toml", "README.md", "schedcp", "operator", "node-agent", "cli", "bpf")
SOURCE_DIR = "/opt/schedcp/src"
VENV_DIR = "/opt/schedcp/venv"

# The Debian major release of a Dockerfile's base image, and the suite mmdebstrap takes.
DEBIAN_SUITES = {"12": "bookworm", "13": "trixie"}


class ImageSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    dockerfile: Path
    # The Dockerfile stage this image is (None: its last, the default target).
    target: str | None = None
    # Installed in this order: the Dockerfile's stages copy and install each in turn.
    packages_files: tuple[Path, ...]
    suite: str
    entrypoint: str
    env: dict[str, str]
    # Where the pinned scx scheduler builds go (the Dockerfile's `COPY --from=scx`).
    scx_dir: str
    # "uid:gid" the entrypoint runs as; a non-root one gets a `schedcp` account, as the Dockerfile adds.
    user: str = "0"
    # The operator fetches the sched_ext kernel and guest userland into its cache at build time.
    provisions_cache: bool = False

    def packages(self) -> list[str]:
        lines = [line for path in self.packages_files for line in (REPO / path).read_text().splitlines()]
        return [word for line in lines for word in line.split("#", 1)[0].split()]


_PATH = f"{VENV_DIR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

OPERATOR = ImageSpec(
    name="operator",
    dockerfile=Path("operator/Dockerfile"),
    packages_files=(Path("operator/image-packages.txt"),),
    suite="bookworm",
    entrypoint="schedcp-operator",
    env={"PATH": _PATH, "SCHEDCP_CACHE_DIR": "/opt/schedcp/cache", "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"},
    scx_dir=f"/opt/schedcp/cache/scx/{SCX_VERSION}/bin",
    user="65532:65532",
    provisions_cache=True,
)

NODE_AGENT = ImageSpec(
    name="node-agent",
    dockerfile=Path("node-agent/Dockerfile"),
    packages_files=(Path("node-agent/image-packages.txt"),),
    suite="trixie",
    entrypoint="schedcp-node-agent",
    env={"PATH": _PATH, "PYTHONDONTWRITEBYTECODE": "1"},
    scx_dir=f"/opt/schedcp/scx/{SCX_VERSION}/bin",
)

# The chart runs this one where tier-2 profiling is on (agent.tier2.enabled).
NODE_AGENT_BCC = NODE_AGENT.model_copy(update={
    "name": "node-agent-bcc",
    "target": "bcc",
    "packages_files": (*NODE_AGENT.packages_files, Path("node-agent/image-packages-bcc.txt")),
    "env": {**NODE_AGENT.env, "SCHEDCP_BCC_PYTHON": "/usr/bin/python3"},
})

IMAGES = (OPERATOR, NODE_AGENT, NODE_AGENT_BCC)
