"""The rules a namespace's policies live under: every SchedulingGovernance that selects the
namespace, the strictest answer of each field winning.

The API server refuses specs beyond these rules (the chart's admission policy); the
operator applies them where the answer depends on the cluster as it is: the pods that
share a node, the annotations that would create a policy, a governance tightened after a
policy was admitted. A cluster with no governance object at all is ungoverned (None), as
before governance existed; once one exists, a namespace none selects gets the safe
defaults of the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schedcp.api.v1alpha1.governance import SchedulingGovernanceSpec
from schedcp.api.v1alpha1.policy import Mode
from schedcp_operator.workload import selects

BUILT_IN = "(built-in defaults)"
# From the most to the least cautious: the strictest governance gives the smallest.
_MODE_ORDER = (Mode.OFF, Mode.RECOMMEND, Mode.AUTO)


@dataclass(frozen=True)
class Rules:
    """What a namespace may do; `by` names the governance objects that say so."""

    namespace: str
    by: tuple[str, ...]
    allow_auto: bool
    max_priority: int
    derived_policies: Mode
    accept_neighbours_auto: bool
    max_neighbour_loss_percent: int

    def source(self) -> str:
        return f"SchedulingGovernance {', '.join(self.by)}"

    def derived_mode(self, wanted: Mode) -> Mode | None:
        """The mode a derived policy gets: the operator's flag, bounded; None when forbidden."""
        if self.derived_policies == Mode.OFF:
            return None
        return min(wanted, self.derived_policies, key=_MODE_ORDER.index)


def rules_for(namespace: str, labels: Mapping[str, str],
              governances: Mapping[str, SchedulingGovernanceSpec]) -> Rules | None:
    if not governances:
        return None
    chosen = {name: spec for name, spec in sorted(governances.items()) if selects(spec.namespace_selector, labels)}
    specs = list(chosen.values()) or [SchedulingGovernanceSpec()]
    return Rules(
        namespace=namespace,
        by=tuple(chosen) or (BUILT_IN,),
        allow_auto=all(s.allow_auto for s in specs),
        max_priority=min(s.max_priority for s in specs),
        derived_policies=min((Mode(s.derived_policies) for s in specs), key=_MODE_ORDER.index),
        accept_neighbours_auto=all(s.accept_neighbours_auto for s in specs),
        max_neighbour_loss_percent=min(s.max_neighbour_loss_percent for s in specs),
    )
