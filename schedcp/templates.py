"""The built-in scheduler library in `bpf/schedulers`: one `.bpf.c` and one `.yaml` each.

The YAML holds everything of a SchedulerTemplate but the source, which is read from the C
file beside it, so the repository, the chart and the CRD objects share one description.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field

from schedcp.api.v1alpha1.base import ApiModel
from schedcp.api.v1alpha1.template import (
    Readiness,
    SchedulerTemplateSpec,
    ShortText,
    TemplateSource,
    Tunable,
)

BPF_DIR = Path(__file__).resolve().parents[1] / "bpf"
SCHEDULER_DIR = BPF_DIR / "schedulers"
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
        return SchedulerTemplateSpec(
            description=self.metadata.description,
            algorithm=self.metadata.algorithm,
            use_cases=self.metadata.use_cases,
            limitations=self.metadata.limitations,
            tunables=self.metadata.tunables,
            readiness=self.metadata.readiness,
            source=TemplateSource(code=code, sha256=sha256_text(code)),
        )


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def builtin_templates(directory: Path = SCHEDULER_DIR) -> dict[str, BuiltinTemplate]:
    templates = {}
    for meta_path in sorted(directory.glob("*.yaml")):
        metadata = TemplateMetadata.model_validate(yaml.safe_load(meta_path.read_text()))
        templates[metadata.name] = BuiltinTemplate(metadata=metadata, source_path=meta_path.with_suffix(".bpf.c"))
    return templates
