"""The scx schedulers are repository entries: ranked, readable, configurable by their flags only, not patchable."""

from __future__ import annotations

import pytest

from schedcp.api.v1alpha1.template import parse_binary
from schedcp_operator.design.profile import Trait, WorkloadProfile
from schedcp_operator.design.repository import Repository
from schedcp_operator.design.tools import (
    Action,
    PlanDecision,
    ProposeConfiguration,
    ReadTemplate,
    SubmitSource,
    ToolError,
    Workspace,
    decide_plan,
    propose_configuration,
    read_template,
    submit_source,
)


@pytest.fixture
def ws() -> Workspace:
    profile = WorkloadProfile(objective="latency", traits=[Trait.INTERACTIVE, Trait.LATENCY_SENSITIVE],
                              goal="frame times of game servers, tasks waking each other in chains")
    return Workspace(profile, Repository.from_builtins())


def test_reading_an_scx_template_shows_its_binary_and_flags(ws) -> None:
    view = read_template(ws, ReadTemplate(name="scx-lavd", include_source=True))
    assert view.binary and view.binary.crate == "scx_lavd" and view.binary.version == "1.1.4"
    assert {t.flag for t in view.tunables} >= {"--slice-max-us", "--no-preemption"}
    assert view.source is None


def test_an_scx_template_ranks_first_where_its_authors_aimed_it(ws) -> None:
    assert ws.repository.search(ws.profile)[0].name == "scx-lavd"


def test_a_binary_cannot_be_patched(ws) -> None:
    with pytest.raises(ToolError, match="not patched"):
        decide_plan(ws, PlanDecision(action=Action.PATCH, template="scx-lavd", reason="tweak it"))
    with pytest.raises(ToolError, match="not patched"):
        submit_source(ws, SubmitSource(source="char _license[] SEC(\"license\") = \"GPL\";", based_on="scx-lavd"))


def test_configuring_a_binary_makes_its_arguments_from_the_tunables_only(ws) -> None:
    view = propose_configuration(ws, ProposeConfiguration(template="scx-lavd", tunables={"preempt_shift": 3,
                                                                                        "no_wake_sync": 1}))
    binary = parse_binary(ws.candidate.source)
    assert view.template == "scx-lavd" and binary is not None
    assert binary.arguments == ["--slice-max-us=5000", "--slice-min-us=500", "--preempt-shift=3", "--no-wake-sync"]
    with pytest.raises(ToolError, match="outside"):
        propose_configuration(ws, ProposeConfiguration(template="scx-lavd", tunables={"preempt_shift": 99}))
    with pytest.raises(ToolError, match="has no tunables"):
        propose_configuration(ws, ProposeConfiguration(template="scx-lavd", tunables={"pin_root_path": 1}))
