"""The repository against the real API server: cluster templates, history, promotion."""

from __future__ import annotations

import pytest
from kubernetes import client

from schedcp.api.v1alpha1.base import GROUP, VERSION
from schedcp.api.v1alpha1.kinds import SCHEDULER_TEMPLATE
from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp.api.v1alpha1.template import Outcome
from schedcp_operator.design.profile import Trait, WorkloadProfile
from schedcp_operator.design.repository import Repository, history_entry, promote, record_outcome, workload_signature

pytestmark = pytest.mark.cluster

PROFILE = WorkloadProfile(objective=ObjectiveKind.THROUGHPUT, traits=[Trait.CPU_BOUND], goal="throughput")


@pytest.fixture
def custom(kube_cluster, crds_installed):
    api = client.CustomObjectsApi(kube_cluster.api_client())
    yield api
    for name in ("fifo", "synth-winner"):
        try:
            api.delete_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, name)
        except client.ApiException:
            pass


def test_outcomes_become_history_and_anti_patterns_across_loads(kube_cluster, custom) -> None:
    api = kube_cluster.api_client()
    repository = Repository.load(api)
    record_outcome(api, repository, "fifo", history_entry(PROFILE, "fifo-1a", Outcome.EJECTED, "n1", "runnable task stall"))
    record_outcome(api, repository, "fifo", history_entry(PROFILE, "fifo-1b", Outcome.REGRESSED, "n2", "p99 +40%"))
    stored = custom.get_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, "fifo")
    assert [h["outcome"] for h in stored["status"]["history"]] == ["Ejected", "Regressed"]
    assert stored["status"]["history"][0]["workloadSignature"] == workload_signature(PROFILE)
    reloaded = Repository.load(api)
    assert reloaded.get("fifo").in_cluster
    assert len(reloaded.anti_patterns(PROFILE)) == 2
    assert reloaded.search(PROFILE)[0].name != "fifo"


def test_a_generated_winner_is_promoted_once_and_then_ranked(kube_cluster, custom) -> None:
    api = kube_cluster.api_client()
    repository = Repository.load(api)
    spec = repository.get("fifo").spec.model_copy(update={"description": "Generated: a global queue tuned for render farms."})
    assert promote(api, repository, "synth-winner", spec) is True
    assert promote(api, repository, "synth-winner", spec) is False
    stored = custom.get_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, "synth-winner")
    assert stored["spec"]["origin"] == "Generated"
    assert "synth-winner" in Repository.load(api).names()
