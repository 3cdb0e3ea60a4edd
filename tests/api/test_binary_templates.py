"""A template's source is BPF C or an scx binary, never both; a binary's arguments come only
from its declared flags, within their ranges."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import ValidationError

from schedcp.api.v1alpha1.template import BinarySource, TemplateSource, Tunable, command_arguments, parse_binary
from schedcp.templates import builtin_scx_templates, builtin_specs

BINARY = BinarySource(crate="scx_bpfland", version="1.1.4", sha256="a" * 64, ops_prefix="bpfland")


def test_a_source_is_either_code_or_a_binary() -> None:
    with pytest.raises(ValidationError, match="either code or a binary"):
        TemplateSource(code="x", binary=BINARY, sha256="0" * 64)
    with pytest.raises(ValidationError, match="either code or a binary"):
        TemplateSource(sha256="0" * 64)


def test_a_binary_source_text_round_trips_and_c_is_not_taken_for_one() -> None:
    source = TemplateSource(binary=BINARY, sha256="0" * 64)
    assert parse_binary(source.text()) == BINARY
    assert parse_binary("#include <scx/common.bpf.h>\n") is None


def test_arguments_hold_every_valued_flag_and_the_bool_flags_that_are_on() -> None:
    tunables = builtin_scx_templates()["scx-bpfland"].spec().tunables
    values = {t.name: t.default for t in tunables} | {"slice_us": 5000, "sticky_tasks": 1}
    assert command_arguments(tunables, values) == ["--slice-us=5000", "--slice-min-us=0", "--sticky-tasks"]
    with pytest.raises(ValueError, match="outside"):
        command_arguments(tunables, values | {"slice_us": 10})


def test_arguments_outside_the_flag_grammar_are_refused() -> None:
    with pytest.raises(ValidationError):
        BINARY.model_validate(BINARY.model_dump() | {"arguments": ["--pin-root-path=/tmp"]})
    with pytest.raises(ValidationError):
        BINARY.model_validate(BINARY.model_dump() | {"arguments": ["--slice-us=1; reboot"]})


def test_a_bool_flag_must_be_off_by_default() -> None:
    with pytest.raises(ValidationError, match="bool flag"):
        Tunable(name="x", type="bool", default=1, minimum=0, maximum=1, flag="--x")


def test_every_scx_builtin_pins_its_binary_and_maps_each_tunable_to_a_flag() -> None:
    specs = builtin_specs()
    scx = {name: spec for name, spec in specs.items() if spec.source.binary}
    assert sorted(scx) == ["scx-bpfland", "scx-flash", "scx-lavd", "scx-p2dq", "scx-rusty"]
    for name, spec in scx.items():
        assert spec.source.sha256 == hashlib.sha256(spec.source.text().encode()).hexdigest(), name
        assert spec.tunables and all(t.flag for t in spec.tunables), name
        assert spec.source.binary and spec.source.binary.crate == name.replace("-", "_")
