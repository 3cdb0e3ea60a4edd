"""The committed CRDs are exactly what the models generate, and are structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from schedcp.api.crds import rendered_crds

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def test_committed_crds_match_the_models() -> None:
    expected = rendered_crds()
    committed = {p.name: p.read_text() for p in CRD_DIR.glob("*.yaml")}
    assert sorted(committed) == sorted(expected), "run `make crds` to regenerate"
    stale = [name for name, text in expected.items() if committed[name] != text]
    assert not stale, f"stale CRDs (run `make crds`): {stale}"


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}", key, value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def test_generated_schemas_use_only_structural_openapi_keywords() -> None:
    forbidden = {"$ref", "$defs", "anyOf", "allOf", "oneOf", "patternProperties", "title", "const"}
    for name, text in rendered_crds().items():
        schema = yaml.safe_load(text.split("\n", 1)[1])["spec"]["versions"][0]["schema"]
        found = [path for path, key, _ in _walk(schema) if key in forbidden]
        assert not found, f"{name}: {found[:5]}"


def test_every_object_schema_declares_a_type() -> None:
    for name, text in rendered_crds().items():
        schema = yaml.safe_load(text.split("\n", 1)[1])["spec"]["versions"][0]["schema"]
        untyped = [
            path
            for path, key, value in _walk(schema)
            if key in ("items", "additionalProperties") and isinstance(value, dict) and "type" not in value
        ]
        assert not untyped, f"{name}: {untyped[:5]}"
