"""The policy repository: which scheduler fits a workload, and what each did before.

Built-in templates come from `bpf/`; the cluster's SchedulerTemplate objects (promoted
generated schedulers, edited built-ins) override them by name. Ranking adds three
scores, each explained in `Ranked.reasons`:
- structure: the profile's objective and traits against a table of what each scheduler
  is for (for templates outside the table, traits found in its text);
- text: BM25 of the goal, the query and the traits' words over the template's
  description, algorithm, use cases and limitations (limitations count against);
- history: outcomes recorded for similar workload signatures (same objective, mostly the
  same traits), scaled by similarity; better for Improved, worse for Regressed, Ejected
  or Rejected. Those on the same signature are the anti-patterns shown to the planner.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client
from pydantic import BaseModel

from schedcp.api.v1alpha1.base import API_VERSION, GROUP, VERSION, SchedulingMetrics
from schedcp.api.v1alpha1.kinds import SCHEDULER_TEMPLATE
from schedcp.api.v1alpha1.policy import ObjectiveKind
from schedcp.api.v1alpha1.template import HistoryEntry, Origin, Outcome, SchedulerTemplateSpec, SchedulerTemplateStatus
from schedcp.templates import builtin_specs
from schedcp_operator.design.profile import Trait, WorkloadProfile

HISTORY_LIMIT = 100
# A trait set sharing at least half its traits with another (Jaccard) is the same kind of
# workload for history: one more trait such as `contended` should not forget an ejection.
SIMILAR_SIGNATURE = 0.5
STATUS_ATTEMPTS = 3
STRUCTURE_WEIGHT, TEXT_WEIGHT, HISTORY_WEIGHT = 1.0, 0.6, 2.5
OUTCOME_SCORE = {Outcome.IMPROVED: 1.0, Outcome.NEUTRAL: 0.0, Outcome.REGRESSED: -1.0,
                 Outcome.EJECTED: -2.0, Outcome.REJECTED: -1.5}
ANTI_PATTERNS = {Outcome.REGRESSED, Outcome.EJECTED, Outcome.REJECTED}

# What each built-in is for: affinity (-1..1) to objectives and traits.
AFFINITY: dict[str, dict[str, float]] = {
    "latency-class": {ObjectiveKind.LATENCY: 1.0, Trait.MIXED_LOAD: 1.0, Trait.LATENCY_SENSITIVE: 0.6,
                      Trait.CONTENDED: 0.3, Trait.LONG_TAIL_BATCH: -0.5},
    "interactive": {ObjectiveKind.LATENCY: 0.4, ObjectiveKind.BALANCED: 0.3, Trait.INTERACTIVE: 1.0,
                    Trait.LATENCY_SENSITIVE: 0.5, Trait.MIXED_LOAD: -0.2, Trait.CPU_BOUND: -0.3},
    "batch": {ObjectiveKind.MAKESPAN: 1.0, Trait.LONG_TAIL_BATCH: 1.0, Trait.CPU_BOUND: 0.3,
              Trait.LATENCY_SENSITIVE: -0.6, Trait.INTERACTIVE: -0.6},
    "fifo": {ObjectiveKind.THROUGHPUT: 0.8, Trait.CPU_BOUND: 0.5, Trait.CONTENDED: -0.4,
             Trait.LATENCY_SENSITIVE: -0.8, Trait.MIXED_LOAD: -0.6},
    "vtime": {ObjectiveKind.BALANCED: 1.0, ObjectiveKind.THROUGHPUT: 0.4, Trait.CONTENDED: 0.4,
              Trait.THROTTLED: 0.3},
    # The scx production schedulers know no pod classes, so for a policy's protected pods they
    # rank below the class-aware built-ins; they are general-purpose and strong where their
    # own authors aimed them.
    "scx-bpfland": {ObjectiveKind.LATENCY: 0.5, Trait.INTERACTIVE: 0.6, Trait.LATENCY_SENSITIVE: 0.4,
                    Trait.MIXED_LOAD: 0.3},
    "scx-lavd": {ObjectiveKind.LATENCY: 0.4, Trait.INTERACTIVE: 0.7, Trait.LATENCY_SENSITIVE: 0.4},
    "scx-rusty": {ObjectiveKind.THROUGHPUT: 0.3, Trait.CPU_BOUND: 0.3, Trait.LATENCY_SENSITIVE: -0.3},
    "scx-flash": {ObjectiveKind.BALANCED: 0.2, ObjectiveKind.LATENCY: 0.2},
    "scx-p2dq": {ObjectiveKind.THROUGHPUT: 0.4, ObjectiveKind.BALANCED: 0.2, Trait.CPU_BOUND: 0.3},
}
TRAIT_WORDS: dict[str, str] = {
    Trait.LATENCY_SENSITIVE: "latency wakeup p99 tail response",
    Trait.CPU_BOUND: "cpu-bound throughput batch",
    Trait.MIXED_LOAD: "latency next to batch protect",
    Trait.LONG_TAIL_BATCH: "long-tail makespan jobs batch",
    Trait.INTERACTIVE: "interactive sleep wake responsive",
    Trait.CONTENDED: "contended fairness share",
    Trait.THROTTLED: "quota fairness share",
    ObjectiveKind.LATENCY: "latency p99",
    ObjectiveKind.THROUGHPUT: "throughput",
    ObjectiveKind.MAKESPAN: "makespan long-tail",
    ObjectiveKind.BALANCED: "fair fairness balanced share",
}
WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class RepositoryEntry(BaseModel):
    name: str
    spec: SchedulerTemplateSpec
    history: list[HistoryEntry] = []
    in_cluster: bool = False


class Ranked(BaseModel):
    name: str
    score: float
    reasons: list[str]


def tokens(text: str) -> list[str]:
    words = WORD.findall(text.lower())
    return words + [part for word in words if "-" in word for part in word.split("-")]


def workload_signature(profile: WorkloadProfile) -> str:
    return "+".join([profile.objective, *sorted(profile.traits)])


def signature_similarity(a: str, b: str) -> float:
    """0 for different objectives, else the Jaccard index of the two trait sets."""
    objective_a, *traits_a = a.split("+")
    objective_b, *traits_b = b.split("+")
    if objective_a != objective_b:
        return 0.0
    union = set(traits_a) | set(traits_b)
    return len(set(traits_a) & set(traits_b)) / len(union) if union else 1.0


class Bm25:
    """Okapi BM25 over a handful of documents; k1 and b at their usual values."""

    def __init__(self, documents: dict[str, list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.documents = {name: Counter(words) for name, words in documents.items()}
        self.lengths = {name: len(words) for name, words in documents.items()}
        self.average = sum(self.lengths.values()) / max(len(documents), 1)
        self.k1, self.b = k1, b
        frequency = Counter(word for counts in self.documents.values() for word in counts)
        n = len(documents)
        self.idf = {word: math.log(1 + (n - df + 0.5) / (df + 0.5)) for word, df in frequency.items()}

    def score(self, name: str, query: list[str]) -> tuple[float, list[str]]:
        counts, length = self.documents[name], self.lengths[name]
        total, matched = 0.0, []
        for word in set(query):
            tf = counts.get(word, 0)
            if tf:
                matched.append(word)
                total += self.idf[word] * tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * length / self.average))
        return total, sorted(matched)


class Repository:
    def __init__(self, entries: dict[str, RepositoryEntry]) -> None:
        self.entries = entries

    @classmethod
    def from_builtins(cls) -> Repository:
        return cls({name: RepositoryEntry(name=name, spec=spec) for name, spec in builtin_specs().items()})

    @classmethod
    def load(cls, api: client.ApiClient | None) -> Repository:
        repository = cls.from_builtins()
        if api is None:
            return repository
        listing = cast(dict[str, Any],
                       client.CustomObjectsApi(api).list_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural))
        for obj in listing.get("items", []):
            name = obj["metadata"]["name"]
            status = SchedulerTemplateStatus.model_validate(obj.get("status") or {})
            repository.entries[name] = RepositoryEntry(
                name=name, spec=SchedulerTemplateSpec.model_validate(obj["spec"]), history=status.history, in_cluster=True)
        return repository

    def names(self) -> list[str]:
        return sorted(self.entries)

    def get(self, name: str) -> RepositoryEntry:
        return self.entries[name]

    def search(self, profile: WorkloadProfile, query: str = "", limit: int = 3) -> list[Ranked]:
        index = Bm25({name: self._words(e.spec) for name, e in self.entries.items()})
        against = Bm25({name: tokens(" ".join(e.spec.limitations)) for name, e in self.entries.items()})
        wanted = tokens(" ".join([profile.goal, query, *(TRAIT_WORDS[t] for t in [profile.objective, *profile.traits])]))
        signature = workload_signature(profile)
        ranked = [self._rank(name, profile, wanted, index, against, signature) for name in self.entries]
        ranked.sort(key=lambda r: (-r.score, r.name))
        return ranked[:limit]

    def _rank(self, name: str, profile: WorkloadProfile, wanted: list[str], index: Bm25, against: Bm25,
              signature: str) -> Ranked:
        affinity = AFFINITY.get(name) or self._affinity_from_text(name)
        features = [profile.objective, *profile.traits]
        structure = sum(affinity.get(f, 0.0) for f in features)
        text, matched = index.score(name, wanted)
        penalty, _ = against.score(name, wanted)
        history, outcomes = self._history(name, signature)
        score = STRUCTURE_WEIGHT * structure + TEXT_WEIGHT * (text - 0.5 * penalty) + HISTORY_WEIGHT * history
        reasons = [f"fits {', '.join(f for f in features if affinity.get(f, 0) > 0)}"] if structure > 0 else []
        reasons += [f"text: {', '.join(matched[:6])}"] if matched else []
        reasons += [f"history on similar workloads: {history:+.1f} over {outcomes}"] if outcomes else []
        return Ranked(name=name, score=score, reasons=reasons or ["no specific match"])

    def _history(self, name: str, signature: str) -> tuple[float, int]:
        """Mean outcome score on similar workloads, each scaled by its similarity so that
        evidence from a less similar workload counts less; and how many entries counted."""
        scaled = [similarity * OUTCOME_SCORE[Outcome(h.outcome)] for h in self.entries[name].history
                  if (similarity := signature_similarity(h.workload_signature, signature)) >= SIMILAR_SIGNATURE]
        return (sum(scaled) / len(scaled) if scaled else 0.0), len(scaled)

    def _affinity_from_text(self, name: str) -> dict[str, float]:
        """A cluster template outside the table: a trait counts where its words appear."""
        words = set(self._words(self.entries[name].spec))
        return {feature: 0.5 for feature, text in TRAIT_WORDS.items() if words & set(tokens(text))}

    @staticmethod
    def _words(spec: SchedulerTemplateSpec) -> list[str]:
        return tokens(" ".join([spec.description, spec.algorithm, *spec.use_cases]))

    def anti_patterns(self, profile: WorkloadProfile) -> list[str]:
        """Every bad outcome on this very signature, with the tunables it had: what planning must not repeat."""
        signature = workload_signature(profile)
        return [_lesson(name, h) for name, entry in sorted(self.entries.items()) for h in entry.history
                if h.workload_signature == signature and Outcome(h.outcome) in ANTI_PATTERNS]

    def avoided(self, profile: WorkloadProfile) -> dict[str, str]:
        """Templates whose latest outcome on this signature was bad, with that lesson: a planner
        skips them (a later Improved on the same signature lifts it)."""
        signature = workload_signature(profile)
        found = {}
        for name, entry in sorted(self.entries.items()):
            same = [h for h in entry.history if h.workload_signature == signature]
            if same and Outcome(same[-1].outcome) in ANTI_PATTERNS:
                found[name] = _lesson(name, same[-1])
        return found

    def proven(self, profile: WorkloadProfile) -> list[tuple[str, HistoryEntry]]:
        """Configurations that improved a similar workload, the most similar and then the newest
        first; none of a template this signature avoids."""
        signature, avoided = workload_signature(profile), self.avoided(profile)
        found = [(signature_similarity(h.workload_signature, signature), h.time, name, h)
                 for name, entry in self.entries.items() if name not in avoided for h in entry.history
                 if Outcome(h.outcome) == Outcome.IMPROVED
                 and signature_similarity(h.workload_signature, signature) >= SIMILAR_SIGNATURE]
        found.sort(key=lambda f: (-f[0], -f[1].timestamp(), f[2]))
        return [(name, h) for _, _, name, h in found]

    def proven_lessons(self, profile: WorkloadProfile) -> list[str]:
        return [_lesson(name, h) for name, h in self.proven(profile)[:5]]

    def with_source(self, sha256: str) -> str | None:
        """The cluster template that already holds this code, if one does."""
        return next((name for name, e in sorted(self.entries.items()) if e.in_cluster and e.spec.source.sha256 == sha256),
                    None)


def _lesson(name: str, h: HistoryEntry) -> str:
    tunables = ",".join(f"{k}={v}" for k, v in sorted(h.tunables.items()))
    return (f"{name}{f' [{tunables}]' if tunables else ''} on {h.workload_signature}: {h.outcome}"
            + (f" ({h.note})" if h.note else ""))


def _template_body(name: str, spec: SchedulerTemplateSpec) -> dict:
    return {"apiVersion": API_VERSION, "kind": SCHEDULER_TEMPLATE.kind, "metadata": {"name": name}, "spec": spec.to_wire()}


def record_outcome(api: client.ApiClient, repository: Repository, template: str, entry: HistoryEntry) -> bool:
    """Append to the template's status history, creating the object for a built-in first;
    False if the history already has this revision's outcome (recorded by an operator that
    stopped before it could say so)."""
    custom = client.CustomObjectsApi(api)
    current = repository.get(template)
    if not current.in_cluster:
        try:
            custom.create_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, _template_body(template, current.spec))
        except client.ApiException as error:
            if error.status != 409:
                raise
    history, added = _append_history(custom, template, entry)
    repository.entries[template] = current.model_copy(update={"history": history, "in_cluster": True})
    return added


def _append_history(custom: client.CustomObjectsApi, template: str, entry: HistoryEntry) -> tuple[list[HistoryEntry], bool]:
    """A concurrent writer makes the replace fail with 409 (stale resourceVersion) rather
    than lose its entry; then we read again and retry."""
    for _ in range(STATUS_ATTEMPTS - 1):
        try:
            return _replace_history(custom, template, entry)
        except client.ApiException as error:
            if error.status != 409:
                raise
    return _replace_history(custom, template, entry)


def _replace_history(custom: client.CustomObjectsApi, template: str, entry: HistoryEntry) -> tuple[list[HistoryEntry], bool]:
    obj = cast(dict[str, Any], custom.get_cluster_custom_object(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, template))
    status = SchedulerTemplateStatus.model_validate(obj.get("status") or {})
    if any((h.revision, h.outcome) == (entry.revision, entry.outcome) for h in status.history):
        return status.history, False
    history = [*status.history, entry][-HISTORY_LIMIT:]  # the schema's bound: the oldest go
    obj["status"] = status.model_copy(update={"history": history}).to_wire()
    # The object read carries its resourceVersion: a write that raced another is refused (409).
    custom.replace_cluster_custom_object_status(GROUP, VERSION, SCHEDULER_TEMPLATE.plural, template, obj)
    return history, True


def promote(api: client.ApiClient, repository: Repository, name: str, spec: SchedulerTemplateSpec) -> bool:
    """Add a generated scheduler that won to the repository; False if it is already there."""
    generated = spec.model_copy(update={"origin": Origin.GENERATED})
    try:
        client.CustomObjectsApi(api).create_cluster_custom_object(
            GROUP, VERSION, SCHEDULER_TEMPLATE.plural, _template_body(name, generated))
    except client.ApiException as error:
        if error.status == 409:
            return False
        raise
    repository.entries[name] = RepositoryEntry(name=name, spec=generated, in_cluster=True)
    return True


def history_entry(profile: WorkloadProfile, revision: str, outcome: Outcome, node: str | None = None,
                  note: str = "", after: SchedulingMetrics | None = None) -> HistoryEntry:
    """An outcome for `profile`: its protected pods' metrics are the `before`."""
    return HistoryEntry(workload_signature=workload_signature(profile), revision=revision, node=node, outcome=outcome,
                        before=profile.protected, after=after, note=note,
                        time=datetime.now(UTC).replace(microsecond=0))
