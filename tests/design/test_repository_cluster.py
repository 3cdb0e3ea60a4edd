"""The repository against the real API server: cluster templates, history, promotion."""

from __future__ import annotations

import contextlib

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION, SchedulingMetrics
from schedcp.api.v1alpha1.kinds import SCHEDULER_TEMPLATE
from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp.api.v1alpha1.template import Outcome
from schedcp_operator.design.profile import Trait, WorkloadProfile
from schedcp_operator.design.repository import (
    HISTORY_LIMIT,
    Repository,
    history_entry,
    promote,
    record_outcome,
    workload_signature,
)

pytestmark = pytest.mark.cluster

PROFILE = WorkloadProfile(objective=ObjectiveKind.THROUGHPUT, traits=[Trait.CPU_BOUND], goal="throughput",
                          protected=SchedulingMetrics(run_delay_p99_micros=900, samples=10))


def _delete_templates(api: client.CustomObjectsApi) -> None:
    for obj in api.list_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural)["items"]:
        with contextlib.suppress(client.ApiException):
            api.delete_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, obj["metadata"]["name"])


@pytest.fixture
def custom(kube_cluster, crds_installed):
    """A repository with no cluster objects: the chart's tests leave its built-in templates."""
    api = client.CustomObjectsApi(kube_cluster.api_client())
    _delete_templates(api)
    yield api
    _delete_templates(api)


def test_outcomes_become_history_and_anti_patterns_across_loads(kube_cluster, custom) -> None:
    api = kube_cluster.api_client()
    repository = Repository.load(api)
    record_outcome(api, repository, "fifo", history_entry(PROFILE, "fifo-1a", Outcome.EJECTED, "n1", "runnable task stall"))
    after = SchedulingMetrics(run_delay_p99_micros=1260, samples=10)
    record_outcome(api, repository, "fifo",
                   history_entry(PROFILE, "fifo-1b", Outcome.REGRESSED, "n2", "p99 +40%", after=after))
    stored = custom.get_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, "fifo")
    assert stored["spec"]["origin"] == "BuiltIn"
    history = stored["status"]["history"]
    assert [h["outcome"] for h in history] == ["Ejected", "Regressed"]
    assert history[0]["workloadSignature"] == workload_signature(PROFILE)
    assert (history[1]["node"], history[1]["revision"]) == ("n2", "fifo-1b")
    assert history[1]["before"]["runDelayP99Micros"] == 900 and history[1]["after"]["runDelayP99Micros"] == 1260
    reloaded = Repository.load(api)
    assert reloaded.get("fifo").in_cluster
    assert len(reloaded.anti_patterns(PROFILE)) == 2
    assert reloaded.search(PROFILE)[0].name != "fifo"


def test_a_cluster_object_overrides_the_built_in_of_its_name(kube_cluster, custom) -> None:
    api = kube_cluster.api_client()
    edited = Repository.from_builtins().get("fifo").spec.model_copy(update={"description": "Edited in the cluster."})
    custom.create_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": SCHEDULER_TEMPLATE.kind, "metadata": {"name": "fifo"},
        "spec": edited.to_wire()})
    loaded = Repository.load(api)
    assert loaded.get("fifo").in_cluster and loaded.get("fifo").spec.description == "Edited in the cluster."
    assert loaded.names() == Repository.from_builtins().names()
    assert not loaded.get("vtime").in_cluster


def test_history_keeps_the_newest_entries_within_the_schema_bound(kube_cluster, custom) -> None:
    api = kube_cluster.api_client()
    repository = Repository.load(api)
    record_outcome(api, repository, "fifo", history_entry(PROFILE, "fifo-0", Outcome.NEUTRAL))
    # Fill the history to the bound in one write rather than a hundred.
    obj = custom.get_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, "fifo")
    obj["status"]["history"] = [history_entry(PROFILE, f"fifo-{i}", Outcome.NEUTRAL).to_wire()
                                for i in range(HISTORY_LIMIT)]
    custom.replace_cluster_custom_object_status(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, "fifo", obj)
    record_outcome(api, Repository.load(api), "fifo", history_entry(PROFILE, "fifo-new", Outcome.IMPROVED))
    history = custom.get_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, "fifo")["status"]["history"]
    assert len(history) == HISTORY_LIMIT
    assert (history[0]["revision"], history[-1]["revision"]) == ("fifo-1", "fifo-new")


def test_a_generated_winner_is_promoted_once_and_then_ranked(kube_cluster, custom) -> None:
    api = kube_cluster.api_client()
    repository = Repository.load(api)
    spec = repository.get("fifo").spec.model_copy(update={"description": "Generated: a global queue tuned for render farms."})
    assert promote(api, repository, "synth-winner", spec) is True
    assert promote(api, repository, "synth-winner", spec) is False
    stored = custom.get_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, "synth-winner")
    assert stored["spec"]["origin"] == "Generated"
    reloaded = Repository.load(api)
    assert reloaded.get("synth-winner").in_cluster and reloaded.get("synth-winner").spec.origin == "Generated"
