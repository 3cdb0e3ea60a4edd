"""The built-in scheduler library: the project's own in `bpf/schedulers` (one `.bpf.c` and
one `.yaml` each), the scx project's production schedulers in `bpf/scx` (one `.yaml` each).

The YAML holds everything of a SchedulerTemplate but the source, which is read from the C
file beside it, so the repository, the chart and the CRD objects share one description.
An scx template's YAML pins its binary (crate, version, sha256 of the bytes the agent image
carries and the verifier runs) and maps each tunable to a command-line flag.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field

from schedcp.api.v1alpha1.base import SHA256_HEX, ApiModel
from schedcp.api.v1alpha1.template import (
    BinarySource,
    Readiness,
    SchedulerTemplateSpec,
    ShortText,
    TemplateSource,
    Tunable,
    binary_text,
)

BPF_DIR = Path(__file__).resolve().parents[1] / "bpf"
SCHEDULER_DIR = BPF_DIR / "schedulers"
SCX_DIR = BPF_DIR / "scx"
INCLUDE_DIR = BPF_DIR / "include"


class TemplateMetadata(ApiModel):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=63)]
    ops_name: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$", max_length=127)]
    description: Annotated[str, Field(min_length=1, max_length=4096)]
    algorithm: Annotated[str, Field(min_length=1, max_length=4096)]
    use_cases: list[ShortText] = []
    limitations: list[ShortText] = []
    tunables: list[Tunable] = []
    readiness: Readiness = Readiness.EXPERIMENTAL


class BinaryPin(ApiModel):
    crate: str
    version: str
    sha256: Annotated[str, Field(pattern=SHA256_HEX)]


class ScxTemplateMetadata(TemplateMetadata):
    """`opsName` is the prefix of the ops name the kernel reports (scx appends version and target)."""

    binary: BinaryPin


class BuiltinTemplate(ApiModel):
    metadata: TemplateMetadata
    source_path: Path

    @property
    def name(self) -> str:
        return self.metadata.name

    def source(self) -> str:
        return self.source_path.read_text()

    def defaults(self) -> dict[str, int]:
        return {t.name: t.default for t in self.metadata.tunables}

    def spec(self) -> SchedulerTemplateSpec:
        code = self.source()
        return _spec(self.metadata, TemplateSource(code=code, sha256=sha256_text(code)))


class BuiltinScxTemplate(ApiModel):
    metadata: ScxTemplateMetadata

    @property
    def name(self) -> str:
        return self.metadata.name

    def defaults(self) -> dict[str, int]:
        return {t.name: t.default for t in self.metadata.tunables}

    def binary(self) -> BinarySource:
        pin = self.metadata.binary
        return BinarySource(crate=pin.crate, version=pin.version, sha256=pin.sha256, ops_prefix=self.metadata.ops_name)

    def spec(self) -> SchedulerTemplateSpec:
        return _spec(self.metadata, TemplateSource(binary=self.binary(), sha256=sha256_text(binary_text(self.binary()))))


def _spec(metadata: TemplateMetadata, source: TemplateSource) -> SchedulerTemplateSpec:
    return SchedulerTemplateSpec(
        description=metadata.description,
        algorithm=metadata.algorithm,
        use_cases=metadata.use_cases,
        limitations=metadata.limitations,
        tunables=metadata.tunables,
        readiness=metadata.readiness,
        source=source,
    )


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def builtin_templates(directory: Path = SCHEDULER_DIR) -> dict[str, BuiltinTemplate]:
    templates = {}
    for meta_path in sorted(directory.glob("*.yaml")):
        metadata = TemplateMetadata.model_validate(yaml.safe_load(meta_path.read_text()))
        templates[metadata.name] = BuiltinTemplate(metadata=metadata, source_path=meta_path.with_suffix(".bpf.c"))
    return templates


def builtin_scx_templates(directory: Path = SCX_DIR) -> dict[str, BuiltinScxTemplate]:
    templates = {}
    for meta_path in sorted(directory.glob("*.yaml")):
        metadata = ScxTemplateMetadata.model_validate(yaml.safe_load(meta_path.read_text()))
        if any(t.flag is None for t in metadata.tunables):
            raise ValueError(f"{meta_path}: every tunable of a binary needs its flag")
        templates[metadata.name] = BuiltinScxTemplate(metadata=metadata)
    return templates


def builtin_specs() -> dict[str, SchedulerTemplateSpec]:
    """Every built-in, BPF C and scx binaries, as the repository and the chart hold them."""
    specs = {name: t.spec() for name, t in builtin_templates().items()}
    return specs | {name: t.spec() for name, t in builtin_scx_templates().items()}
