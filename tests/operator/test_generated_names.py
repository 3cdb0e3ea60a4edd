"""Every name and label value the project derives from a user's name fits the API server's
limits, and two long names that share a prefix never give the same derived name."""

from __future__ import annotations

import re

import pytest

from schedcp.artifacts import object_configmap_name
from schedcp.naming import LABEL_VALUE_MAX, NAME_MAX, label_value
from schedcp_node_agent.node_state import field_manager
from schedcp_operator.design.journal import journal_name
from schedcp_operator.revisions import revision_name

pytestmark = pytest.mark.unit

SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SHA = "ab" * 32


def long_names() -> list[str]:
    """Two 253-character policy names that differ only at the end, one cut at a dot."""
    stem = "a" * 50 + "." + "b-" * 100
    return [(stem + "x" * NAME_MAX)[:NAME_MAX], (stem + "y" * NAME_MAX)[:NAME_MAX], "web"]


def test_short_names_are_kept_as_they_are() -> None:
    assert revision_name("web", SHA) == f"web-{SHA[:12]}"
    assert object_configmap_name("web-1") == "schedcp-object-web-1"
    assert label_value("web-1") == "web-1"


@pytest.mark.parametrize("policy", long_names())
def test_revision_names_and_their_derivatives_fit(policy: str) -> None:
    revision = revision_name(policy, SHA)
    for name in (revision, object_configmap_name(revision), journal_name("ns-" + "n" * 60, policy)):
        assert len(name) <= NAME_MAX and SUBDOMAIN.match(name), name
    value = label_value(revision)
    assert len(value) <= LABEL_VALUE_MAX and LABEL_VALUE.match(value), value


def test_long_names_that_share_a_prefix_stay_apart() -> None:
    first, second, _ = long_names()
    revisions = revision_name(first, SHA), revision_name(second, SHA)
    assert revisions[0] != revisions[1]
    assert object_configmap_name(revisions[0]) != object_configmap_name(revisions[1])
    assert label_value(revisions[0]) != label_value(revisions[1])
    assert journal_name("ns", first) != journal_name("ns", second)
    assert field_manager(first) != field_manager(second) and len(field_manager(first)) <= 128


def test_journals_of_different_namespaces_and_names_never_share_a_name() -> None:
    assert journal_name("a-b", "c") != journal_name("a", "b-c")
