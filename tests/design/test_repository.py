"""The repository's ranking, measured on labelled workloads against a substring baseline."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp.api.v1alpha1.template import Outcome
from schedcp_operator.design.offline import candidates
from schedcp_operator.design.profile import Trait, WorkloadProfile
from schedcp_operator.design.repository import (
    Repository,
    history_entry,
    signature_similarity,
    tokens,
    workload_signature,
)

pytestmark = pytest.mark.unit

LABELLED = yaml.safe_load(Path(__file__).with_name("labelled_workloads.yaml").read_text())


def profile_of(case: dict) -> WorkloadProfile:
    return WorkloadProfile(objective=case["objective"], traits=case["traits"], goal=case["goal"])


def substring_baseline(repository: Repository, goal: str) -> list[str]:
    """Templates ordered by how many goal words occur anywhere in their text."""
    def hits(name: str) -> int:
        spec = repository.get(name).spec
        text = " ".join([spec.description, spec.algorithm, *spec.use_cases]).lower()
        return sum(word in text for word in tokens(goal))
    return sorted(repository.names(), key=lambda name: (-hits(name), name))


def accuracy(rankings: list[list[str]], k: int) -> float:
    return sum(case["expected"] in ranking[:k] for case, ranking in zip(LABELLED, rankings, strict=True)) / len(LABELLED)


@pytest.fixture(scope="module")
def repository() -> Repository:
    return Repository.from_builtins()


def test_ranking_finds_the_expected_template(repository) -> None:
    rankings = [[r.name for r in repository.search(profile_of(case), limit=5)] for case in LABELLED]
    top1, top3 = accuracy(rankings, 1), accuracy(rankings, 3)
    print(f"\nrepository ranking on {len(LABELLED)} labelled workloads: top-1 {top1:.2f}, top-3 {top3:.2f}")
    assert {case["expected"] for case in LABELLED} == set(repository.names()), "every template is labelled"
    assert top1 >= 0.8 and top3 == 1.0


def test_ranking_beats_substring_matching(repository) -> None:
    ours = accuracy([[r.name for r in repository.search(profile_of(c), limit=5)] for c in LABELLED], 1)
    baseline = accuracy([substring_baseline(repository, c["goal"]) for c in LABELLED], 1)
    print(f"\ntop-1: ranking {ours:.2f}, substring baseline {baseline:.2f}")
    assert ours > baseline


def test_an_ejection_on_this_workload_is_an_anti_pattern_that_pushes_the_template_down(repository) -> None:
    profile = WorkloadProfile(objective=ObjectiveKind.THROUGHPUT, traits=[Trait.CPU_BOUND], goal="throughput")
    assert repository.search(profile)[0].name == "fifo"
    local = Repository(dict(repository.entries))
    for _ in range(3):
        entry = history_entry(profile, "fifo-abc", Outcome.EJECTED, note="runnable task stall")
        local.entries["fifo"] = local.entries["fifo"].model_copy(update={"history": [*local.entries["fifo"].history, entry]})
    ranked = local.search(profile, limit=len(local.entries))
    assert ranked[0].name != "fifo"
    assert "history on similar workloads: -2.0 over 3" in next(r for r in ranked if r.name == "fifo").reasons
    assert local.anti_patterns(profile) == [f"fifo on {workload_signature(profile)}: Ejected (runnable task stall)"] * 3
    assert repository.anti_patterns(profile) == []


def test_history_carries_over_to_similar_workloads_only(repository) -> None:
    recorded = WorkloadProfile(objective=ObjectiveKind.LATENCY, traits=[Trait.LATENCY_SENSITIVE, Trait.MIXED_LOAD])
    local = Repository(dict(repository.entries))
    entry = history_entry(recorded, "latency-class-1", Outcome.EJECTED, note="batch pods starved")
    local.entries["latency-class"] = local.entries["latency-class"].model_copy(update={"history": [entry] * 3})
    similar = recorded.model_copy(update={"traits": [*recorded.traits, Trait.CONTENDED]})  # 2 of 3 traits shared
    other = recorded.model_copy(update={"objective": ObjectiveKind.BALANCED})

    def scored(repo: Repository, profile: WorkloadProfile) -> tuple[float, list[str]]:
        ranked = next(r for r in repo.search(profile, limit=5) if r.name == "latency-class")
        return ranked.score, ranked.reasons

    (exact_before, _), (exact_after, _) = scored(repository, recorded), scored(local, recorded)
    (similar_before, _), (similar_after, reasons) = scored(repository, similar), scored(local, similar)
    assert exact_after < exact_before and similar_after < similar_before
    assert exact_before - exact_after > similar_before - similar_after, "less similar evidence counts less"
    assert "history on similar workloads: -1.3 over 3" in reasons
    assert scored(local, other) == scored(repository, other)
    assert local.anti_patterns(similar) == [], "anti-patterns are for the same signature only"


def test_signature_similarity() -> None:
    assert signature_similarity("latency+a+b", "latency+b+a") == 1.0
    assert signature_similarity("latency+a+b", "latency+a+b+c") == 2 / 3
    assert signature_similarity("latency+a", "balanced+a") == 0.0
    assert signature_similarity("latency", "latency") == 1.0


def test_signature_ignores_trait_order() -> None:
    a = WorkloadProfile(objective=ObjectiveKind.LATENCY, traits=[Trait.MIXED_LOAD, Trait.LATENCY_SENSITIVE])
    b = WorkloadProfile(objective=ObjectiveKind.LATENCY, traits=[Trait.LATENCY_SENSITIVE, Trait.MIXED_LOAD])
    assert workload_signature(a) == workload_signature(b) == "latency+latency-sensitive+mixed-load"


def _with_history(repository: Repository, template: str, *entries) -> Repository:
    local = Repository(dict(repository.entries))
    local.entries[template] = local.entries[template].model_copy(update={"history": list(entries)})
    return local


def test_the_offline_planner_skips_an_anti_pattern_and_names_it(repository) -> None:
    profile = WorkloadProfile(objective=ObjectiveKind.LATENCY, traits=[Trait.LATENCY_SENSITIVE, Trait.MIXED_LOAD])
    assert candidates(profile, repository).tried[0][0] == "latency-class"
    regressed = history_entry(profile, "web-1a2b", Outcome.REGRESSED, note="p99 4000 -> 12000 (limit 5%)")
    regressed = regressed.model_copy(update={"tunables": {"latency_slice_us": 3000}})
    local = _with_history(repository, "latency-class", regressed)
    found = candidates(profile, local)
    assert "latency-class" not in [t for t, _ in found.tried] and found.tried
    assert found.avoided == {"latency-class": f"latency-class [latency_slice_us=3000] on {workload_signature(profile)}: "
                                              f"Regressed (p99 4000 -> 12000 (limit 5%))"}
    assert local.anti_patterns(profile) == list(found.avoided.values()), "Claude's planner is told the tunables too"
    improved = history_entry(profile, "web-3c4d", Outcome.IMPROVED)
    assert "latency-class" not in local.avoided(profile.model_copy(update={"traits": [Trait.LATENCY_SENSITIVE]}))
    assert candidates(profile, _with_history(repository, "latency-class", regressed, improved)).tried[0][0] == \
        "latency-class", "a later improvement on the same workload lifts the anti-pattern"


def test_the_next_similar_workload_starts_from_the_configuration_that_improved(repository) -> None:
    recorded = WorkloadProfile(objective=ObjectiveKind.LATENCY, traits=[Trait.LATENCY_SENSITIVE, Trait.MIXED_LOAD])
    similar = recorded.model_copy(update={"traits": [*recorded.traits, Trait.CONTENDED]})
    improved = history_entry(recorded, "web-5e6f", Outcome.IMPROVED).model_copy(
        update={"tunables": {"slice_us": 2500, "gone": 1, "idle_credit_slices": 99}})
    local = _with_history(repository, "vtime", improved)
    found = candidates(similar, local)
    assert found.tried[0] == ("vtime", {"slice_us": 2500}), "what the template still declares, within its range"
    assert found.proven == {"vtime": f"improved {workload_signature(recorded)} with revision web-5e6f"}
    assert local.proven_lessons(similar) == [
        f"vtime [gone=1,idle_credit_slices=99,slice_us=2500] on {workload_signature(recorded)}: Improved"]
    other = recorded.model_copy(update={"objective": ObjectiveKind.THROUGHPUT})
    assert candidates(other, local).proven == {}
