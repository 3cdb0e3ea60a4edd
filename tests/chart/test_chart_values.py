"""The chart lints and renders for every values file; bad values fail with a clear message;
its generated copies (CRDs, built-in templates) are never stale."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from schedcp.api.v1alpha1.template import TemplateSource
from schedcp_cli.chart_files import CHART_CRDS, CHART_TEMPLATES, VALUES_SCHEMA, rendered_chart_files
from schedcp_node_agent import main as agent_main
from schedcp_operator import main as operator_main
from tests.chart.conftest import CHART, REPO, VALUES_FILES, render


def test_chart_crds_are_the_generated_crds_of_the_repository() -> None:
    root = {p.name: p.read_text() for p in (REPO / "crds").glob("*.yaml")}
    chart = {p.name: p.read_text() for p in (CHART / CHART_CRDS).glob("*.yaml")}
    assert sorted(chart) == sorted(root), "run `make crds` (schedcp crds generate) to refresh the chart"
    stale = [name for name in root if chart[name] != root[name]]
    assert not stale, f"charts/schedcp/crds differ from crds/: {stale} (run `make crds`)"


def test_chart_builtin_templates_are_generated_from_bpf_schedulers() -> None:
    expected = {path: text for path, text in rendered_chart_files(CHART).items() if path.parent == CHART_TEMPLATES}
    committed = {p.relative_to(CHART): p.read_text() for p in (CHART / CHART_TEMPLATES).glob("*.yaml")}
    assert sorted(committed) == sorted(expected), "run `make crds` to refresh charts/schedcp/files"
    stale = [str(path) for path in expected if committed[path] != expected[path]]
    assert not stale, f"stale built-in templates in the chart: {stale} (run `make crds`)"


def test_values_schema_documents_governance_with_the_models_schema() -> None:
    assert (CHART / VALUES_SCHEMA).read_text() == rendered_chart_files(CHART)[VALUES_SCHEMA], (
        "run `make crds` to refresh the governance part of values.schema.json")


@pytest.mark.parametrize("values", VALUES_FILES.values(), ids=VALUES_FILES.keys())
def test_helm_lint_passes_in_strict_mode(helm, values: Path | None) -> None:
    args = ["lint", str(CHART), "--strict", "--namespace", "schedcp-system"]
    result = helm(*args, *(["--values", str(values)] if values else []))
    assert "0 chart(s) failed" in result.stdout


def test_rendered_templates_carry_their_source_unchanged(helm) -> None:
    """The C source (or a binary's pin) goes through fromYaml/toYaml: its sha256 must still match."""
    objects = render(helm, "r", "schedcp-system", None)
    templates = {o["metadata"]["name"]: o for o in objects if o["kind"] == "SchedulerTemplate"}
    assert sorted(templates) == sorted(p.stem for p in (CHART / CHART_TEMPLATES).glob("*.yaml"))
    for name, obj in templates.items():
        source = TemplateSource.model_validate(obj["spec"]["source"])
        assert hashlib.sha256(source.text().encode()).hexdigest() == source.sha256, name
        assert obj["metadata"]["labels"]["schedcp.io/origin"] == "builtin"


def test_minimal_values_drop_the_optional_parts(helm) -> None:
    objects = render(helm, "r", "schedcp-system", VALUES_FILES["minimal"])
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"SchedulerTemplate", "ValidatingAdmissionPolicy", "MutatingAdmissionPolicy",
                        "SchedulingGovernance", "ServiceMonitor"}
    agent = next(o for o in objects if o["kind"] == "DaemonSet")["spec"]["template"]["spec"]
    assert agent["containers"][0]["securityContext"]["privileged"] is True
    assert not any(v["name"] == "host-debugfs" for v in agent["volumes"])


def test_claude_values_wire_the_key_secret_into_the_operator_only(helm) -> None:
    objects = render(helm, "r", "schedcp-system", VALUES_FILES["monitoring-claude"])
    operator = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in operator["containers"][0]["env"]}
    assert env["ANTHROPIC_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "anthropic-api-key", "key": "api-key"}
    assert operator["containers"][0]["resources"]["limits"]["devices.kubevirt.io/kvm"] == 1
    agent = next(o for o in objects if o["kind"] == "DaemonSet")
    assert "ANTHROPIC" not in yaml.safe_dump(agent)


@pytest.mark.parametrize("values", VALUES_FILES.values(), ids=VALUES_FILES.keys())
def test_rendered_command_lines_parse_with_the_programs_own_flags(helm, values: Path | None, monkeypatch) -> None:
    """Flag drift between the chart and the two programs fails here, not on a node."""
    monkeypatch.setenv("NODE_NAME", "node-1")  # the downward API's job in the DaemonSet
    objects = render(helm, "r", "schedcp-system", values)
    containers = {o["kind"]: o["spec"]["template"]["spec"]["containers"][0] for o in objects
                  if o["kind"] in ("Deployment", "DaemonSet")}
    operator = operator_main.parse_args(containers["Deployment"]["args"])
    agent = agent_main.parse_args(containers["DaemonSet"]["args"])
    assert operator.artifacts_namespace == agent.artifacts_namespace == "schedcp-system"
    assert not operator.standalone and operator.peering == "schedcp-operator"
    assert agent.node_name == "node-1" and str(agent.host_root) == "/host"
    assert operator.liveness.endswith(f":{containers['Deployment']['ports'][0]['containerPort']}/healthz")
    assert agent.metrics_port == containers["DaemonSet"]["ports"][0]["containerPort"]


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        (["--set", "designer.kind=claude"], "/designer/apiKeySecret/name"),
        (["--set", "designer.kind=claude", "--set", "designer.apiKeySecret=null"], "/designer"),
        (["--set", "operator.replicas=-1"], "/operator/replicas"),
        (["--set", "designer.kind=gpt"], "/designer/kind"),
        (["--set", "agent.seccompProfile=Localhost"], "/agent/seccompProfile"),
        (["--set", "operator.replica=3"], "replica"),
    ],
    ids=["claude-without-secret", "claude-secret-removed", "negative-replicas", "unknown-designer",
         "unknown-seccomp", "misspelt-key"],
)
def test_bad_values_are_refused_by_the_schema(helm, settings: list[str], complaint: str) -> None:
    for command in ("template", "lint"):
        args = [command, *(["r"] if command == "template" else []), str(CHART), *settings]
        result = helm(*args, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0, f"helm {command} accepted {settings}"
        assert "values don't meet the specifications of the schema" in output or "schema" in output, output
        assert complaint in output, output


def operator_memory_limit(helm, *extra: str) -> str:
    objects = render(helm, "r", "schedcp-system", None, *extra)
    operator = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    return operator["containers"][0]["resources"]["limits"]["memory"]


def test_the_operator_memory_limit_grows_with_the_designs_it_runs_at_once_unless_set(helm) -> None:
    assert operator_memory_limit(helm) == "3072Mi"  # 512 + 2 designs x 1280
    assert operator_memory_limit(helm, "--set", "operator.designConcurrency=4") == "5632Mi"
    assert operator_memory_limit(helm, "--set", "operator.resources.limits.memory=2Gi") == "2Gi"


@pytest.mark.parametrize(("tier2", "image"), [("true", "schedcp/node-agent-bcc:9.9.9"), ("false", "schedcp/node-agent:9.9.9")])
def test_the_agent_runs_the_bcc_image_only_with_tier_2_on(helm, tier2: str, image: str) -> None:
    """BCC's LLVM is most of its image: a node profiling with tier 1 only should not carry it."""
    objects = render(helm, "r", "schedcp-system", None, "--set", f"agent.tier2.enabled={tier2}",
                     "--set", "agent.image.tag=9.9.9", "--set", "agent.tier2.image.tag=9.9.9")
    agent = next(o for o in objects if o["kind"] == "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    assert agent["image"] == image
    assert any(a.startswith("--bcc-python=") for a in agent["args"]) == (tier2 == "true")
