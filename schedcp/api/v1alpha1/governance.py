"""SchedulingGovernance (cluster-scoped): what a cluster admin lets the SchedulerPolicies of
some namespaces do.

A node's scheduler is shared by every pod on the node, but a SchedulerPolicy is namespaced:
without a rule above the namespaces, whoever may write a policy may replace the scheduler
under other teams' pods. A governance object says, for the namespaces its selector picks,
how far their policies may go. Every governance object that selects a namespace applies,
and the strictest answer wins: a second object can narrow what a first allows, never widen
it, so no one loosens a rule by adding an object that happens to match.

The API server enforces what a spec may say (the chart's ValidatingAdmissionPolicy takes
these objects as its parameters); the operator enforces what depends on the cluster's state:
which nodes an Auto policy may change, and whether pod annotations may create a policy.
The defaults are the safe ones: Recommend only, a modest priority cap, annotations that
recommend, the offline designer, nothing done on a node shared with a namespace that did
not consent.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from schedcp.api.v1alpha1.base import DECIMAL_USD, ApiModel, LabelSelector
from schedcp.api.v1alpha1.policy import DesignerKind, Mode

# Nodes an admin opts in: Auto policies act there whoever else's pods run on it.
AUTO_NODE_LABEL = "schedcp.io/allow-auto"
# A namespace with this label leaves the chart's default governance for the one it names.
NAMESPACE_LABEL = "schedcp.io/governance"


class BudgetCaps(ApiModel):
    """The most a policy's designer budget may ask for; see Budget in the policy."""

    max_calls: Annotated[int, Field(ge=1, le=500)] = 12
    max_tokens: Annotated[int, Field(ge=1000, le=10_000_000)] = 400_000
    max_cost_usd: Annotated[str, Field(pattern=DECIMAL_USD, description="Decimal US dollars.")] = "0.50"
    max_wall_seconds: Annotated[int, Field(ge=10, le=7200)] = 900


class SchedulingGovernanceSpec(ApiModel):
    namespace_selector: Annotated[
        LabelSelector, Field(description="The namespaces governed; empty selects every namespace.")
    ] = LabelSelector()
    allow_auto: Annotated[
        bool, Field(description="Policies may use mode Auto (roll out without a person's approval).")
    ] = False
    max_priority: Annotated[
        int, Field(ge=0, le=1000, description="The highest spec.priority a policy may claim in conflicts.")
    ] = 100
    derived_policies: Annotated[
        Mode,
        Field(description="The most a policy derived from pod annotations schedcp.io/optimize may do: "
                          "Off creates none, Recommend waits for approval, Auto rolls out."),
    ] = Mode.RECOMMEND
    designers: Annotated[
        list[DesignerKind], Field(max_length=4, description="Designers a policy may name.")
    ] = [DesignerKind.OFFLINE]
    budget: BudgetCaps = BudgetCaps()
    accept_neighbours_auto: Annotated[
        bool,
        Field(description="Auto policies of other namespaces may change the scheduler of nodes this "
                          "namespace's pods run on; otherwise such a node stops at Recommended."),
    ] = False
    max_neighbour_loss_percent: Annotated[
        int,
        Field(ge=0, le=100, description="How much CPU time this namespace's pods may lose on a canary node "
                                        "of another namespace's policy before that canary is rolled back."),
    ] = 10
