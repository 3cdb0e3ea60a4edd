"""Generate CustomResourceDefinitions from the API models.

pydantic emits JSON Schema 2020-12; a CRD wants a *structural* OpenAPI v3.0 schema. The
conversion inlines `$ref`s, drops titles and nulls (an optional field is omitted on the
wire, never null), turns constrained map keys (patternProperties is not allowed in CRDs)
into CEL rules, and leaves the x-kubernetes-* extensions the models declare untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from schedcp.api.v1alpha1 import ALL_KINDS, Kind

JsonSchema = dict[str, Any]

_DROPPED_KEYS = {"$defs", "title", "propertyNames", "patternProperties"}


def _resolve(node: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    """Follow `$ref`s and unwrap `Optional[X]` until the node is a plain schema."""
    while True:
        if "$ref" in node:
            target = dict(defs[node["$ref"].rsplit("/", 1)[-1]])
            target.update({k: v for k, v in node.items() if k != "$ref"})
            node = target
            continue
        present = [s for s in node.get("anyOf", []) if s.get("type") != "null"]
        if "anyOf" in node and len(present) == 1:
            node = {**{k: v for k, v in node.items() if k != "anyOf"}, **present[0]}
            continue
        return node


def _map_key_rule(node: JsonSchema) -> list[dict[str, str]]:
    patterns = list(node.get("patternProperties", {}))
    if not patterns:
        return []
    return [{"rule": f"self.all(k, k.matches(r'{patterns[0]}'))", "message": "invalid key"}]


def _convert(node: JsonSchema, defs: dict[str, JsonSchema]) -> JsonSchema:
    node = _resolve(node, defs)
    out: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value in (None, {}, [])):
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, defs)
        elif key == "exclusiveMinimum":
            out.update(minimum=value, exclusiveMinimum=True)
        elif key == "exclusiveMaximum":
            out.update(maximum=value, exclusiveMaximum=True)
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    if "patternProperties" in node:
        out["additionalProperties"] = _convert(next(iter(node["patternProperties"].values())), defs)
        out["x-kubernetes-validations"] = _map_key_rule(node) + out.get("x-kubernetes-validations", [])
    if "properties" in out or "additionalProperties" in out:
        out.setdefault("type", "object")
    return out


def openapi_schema(model: type[BaseModel]) -> JsonSchema:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _convert(raw, raw.get("$defs", {}))


def _printer_columns(kind: Kind) -> list[dict[str, Any]]:
    columns = []
    for column in kind.columns:
        entry: dict[str, Any] = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
        if column.priority:
            entry["priority"] = column.priority
        if column.description:
            entry["description"] = column.description
        columns.append(entry)
    return columns


def crd_for(kind: Kind) -> dict[str, Any]:
    root: JsonSchema = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": openapi_schema(kind.spec),
        },
    }
    if kind.status is not None:
        root["properties"]["status"] = openapi_schema(kind.status)
    if kind.spec_required:
        root["required"] = ["spec"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name},
        "spec": {
            "group": kind.group,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": list(kind.categories),
            },
            "scope": kind.scope,
            "versions": [
                {
                    "name": kind.version,
                    "served": True,
                    "storage": True,
                    **({"subresources": {"status": {}}} if kind.status is not None else {}),
                    "additionalPrinterColumns": _printer_columns(kind),
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def kopf_peering_crd() -> dict[str, Any]:
    """kopf's own ClusterKopfPeering kind, which replicas use to elect who acts."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "clusterkopfpeerings.kopf.dev"},
        "spec": {
            "group": "kopf.dev",
            "names": {"kind": "ClusterKopfPeering", "plural": "clusterkopfpeerings", "singular": "clusterkopfpeering"},
            "scope": "Cluster",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                            },
                        }
                    },
                }
            ],
        },
    }


class _NoAliasDumper(yaml.SafeDumper):
    """Shared sub-schemas are written out in full: anchors in CRDs confuse readers and tools."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def rendered_crds() -> dict[str, str]:
    """File name -> YAML text of every CRD the project ships."""
    documents = {f"{k.group}_{k.plural}.yaml": crd_for(k) for k in ALL_KINDS}
    documents["kopf.dev_clusterkopfpeerings.yaml"] = kopf_peering_crd()
    header = "# Generated by `schedcp crds generate` from schedcp/api; do not edit.\n"
    return {
        name: header + yaml.dump(doc, Dumper=_NoAliasDumper, sort_keys=False, width=100)
        for name, doc in documents.items()
    }


def write_crds(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_crds().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
