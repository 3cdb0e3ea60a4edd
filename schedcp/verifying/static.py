"""Stage 1, without booting anything: source and object checks.

The object is checked against the allow-list (allowlist.py): its program sections, every
helper it calls by number, every kfunc and kernel variable it refers to, its maps, its
global data and its license. This reads what the kernel would get, so a call hidden by a
macro or written in inline assembly is found; the names come from the kernel's own enums
and BTF (kernel_names.py). The source check only adds what the object cannot show.

An scx binary is checked against its built-in template instead: only a binary the project
pins (crate, version, digest) may run, with exactly the arguments its tunables give, and
the copy in the cache must have the pinned digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schedcp.api.v1alpha1.template import SOURCE_MAX_LENGTH, BinarySource, command_arguments
from schedcp.artifacts import file_sha256
from schedcp.provisioning.scx import crate_status
from schedcp.templates import builtin_scx_templates
from schedcp.verifying import allowlist
from schedcp.verifying.bpf_object import BpfObject, read_object
from schedcp.verifying.kernel_names import KernelNames

OPS_DEFINITION = re.compile(r'SEC\("\.struct_ops\.link"\)\s*struct\s+sched_ext_ops\s+\w+\s*=\s*\{(?P<body>.*?)\};', re.S)
REQUIRED_CALLBACKS = ("enqueue",)


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)

    def add(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)


def check_source(source: str) -> Findings:
    found = Findings()
    if len(source) > SOURCE_MAX_LENGTH:
        found.add(f"source is {len(source)} bytes, more than {SOURCE_MAX_LENGTH}")
    ops = OPS_DEFINITION.search(source)
    if not ops:
        found.add('no `SEC(".struct_ops.link") struct sched_ext_ops NAME = {...}`: a link-attached sched_ext ops is required')
    else:
        for callback in (*REQUIRED_CALLBACKS, "name"):
            if not re.search(rf"\.{callback}\s*=", ops.group("body")):
                found.add(f"sched_ext_ops lacks .{callback}")
    return found


def _check_sections(obj: BpfObject, found: Findings) -> None:
    for section in obj.sections:
        if section.executable and section.name != allowlist.SUBPROGRAM_SECTION \
                and not allowlist.PROGRAM_SECTION.match(section.name):
            found.add(f"program in section {section.name}: {allowlist.PROGRAM_SECTION_REASON}")
    ops = obj.datasec(allowlist.OPS_SECTION)
    if not ops:
        found.add(f"object has no {allowlist.OPS_SECTION} section with a struct {allowlist.OPS_TYPE}")
    for name, btf_type in ops:
        if btf_type["name"] != allowlist.OPS_TYPE:
            found.add(f"struct_ops {name} is a struct {btf_type['name']}, not a {allowlist.OPS_TYPE}: "
                      f"{allowlist.PROGRAM_SECTION_REASON}")
    for where, what in sorted(obj.hand_encoded):
        found.add(f"{where} contains {what}, which no C compiles to: hand-encoded instructions are refused")


def _check_helpers(obj: BpfObject, names: KernelNames, found: Findings) -> None:
    for section, number in sorted(obj.helper_calls, key=lambda call: (call[1], call[0])):
        helper = names.helper(number)
        if helper in allowlist.HELPERS:
            continue
        why = allowlist.REFUSED_HELPERS.get(helper, allowlist.UNLISTED_HELPER)
        found.add(f"helper {helper} (#{number}, called in {section}) is refused: {why}")


def _kfunc_allowed(name: str) -> bool:
    return name in allowlist.KFUNCS or name.startswith(tuple(allowlist.KFUNC_FAMILIES))


def _check_externs(obj: BpfObject, names: KernelNames, found: Findings) -> None:
    functions = obj.extern_functions()
    for name, weak in sorted(obj.externs.items()):
        if name not in functions:
            found.add(f"kernel variable {name} is refused: {allowlist.EXTERN_VARIABLE}")
        elif not _kfunc_allowed(name):
            why = allowlist.REFUSED_KFUNCS.get(name, allowlist.UNLISTED_KFUNC)
            found.add(f"kfunc {name} is refused: {why}")
        elif not weak and names.kfuncs is not None and name not in names.kfuncs:
            found.add(f"kfunc {name} is not a kfunc of kernel {names.release} (its BTF), and is not declared __weak "
                      f"with a fallback: the load would fail")


def _map_setting(obj: BpfObject, members: dict[str, dict[str, Any]], name: str) -> int | None:
    """A `__uint(name, N)` member: a pointer to an array of N ints."""
    member = members.get(name)
    return int(obj.resolve(obj.type(member["type_id"])["type_id"])["nr_elems"]) if member else None


def _entry_bytes(obj: BpfObject, members: dict[str, dict[str, Any]]) -> int:
    total = 0
    for part in ("key", "value"):
        if part in members:  # `__type(part, T)`: a pointer to T
            total += obj.size_of(obj.type(members[part]["type_id"])["type_id"])
        else:
            total += _map_setting(obj, members, f"{part}_size") or 0
    return total


def _check_maps(obj: BpfObject, names: KernelNames, found: Findings) -> None:
    for name, definition in obj.datasec(".maps"):
        members = {m["name"]: m for m in obj.resolve(definition["id"]).get("members", [])}
        number = _map_setting(obj, members, "type")
        map_type = names.map_type(number) if number is not None else "no type"
        if map_type not in allowlist.MAP_TYPES:
            why = allowlist.REFUSED_MAP_TYPES.get(map_type, allowlist.UNLISTED_MAP_TYPE)
            found.add(f"map {name} of type {map_type} is refused: {why}")
            continue
        entries = _map_setting(obj, members, "max_entries") or 0
        size = entries * _entry_bytes(obj, members)
        if entries > allowlist.MAX_MAP_ENTRIES:
            found.add(f"map {name} has max_entries {entries}, more than {allowlist.MAX_MAP_ENTRIES}")
        elif size > allowlist.MAX_MAP_BYTES:
            found.add(f"map {name} takes {size} bytes ({entries} entries), more than {allowlist.MAX_MAP_BYTES}")
    data = sum(s.size for s in obj.sections if allowlist.GLOBAL_DATA.match(s.name))
    if data > allowlist.MAX_GLOBAL_DATA_BYTES:
        found.add(f"global variables take {data} bytes, more than {allowlist.MAX_GLOBAL_DATA_BYTES}")


def check_object(path: Path, names: KernelNames) -> Findings:
    """The object's problems against the allow-list, named as kernel `names.release` names them."""
    found = Findings()
    obj = read_object(path)
    if not obj.license.startswith("GPL"):
        found.add(f"license \"{obj.license}\" is not GPL-compatible: sched_ext kfuncs are GPL-only")
    if not obj.btf:
        found.add("object has no BTF: its maps and externs cannot be checked")
    _check_sections(obj, found)
    _check_helpers(obj, names, found)
    _check_externs(obj, names, found)
    _check_maps(obj, names, found)
    return found


def check_binary(binary: BinarySource, tunables: dict[str, int]) -> tuple[Findings, Path | None]:
    """The problems of an scx binary candidate, and its cached copy when there are none."""
    found = Findings()
    template = next((t for t in builtin_scx_templates().values()
                     if t.binary().model_copy(update={"arguments": binary.arguments}) == binary), None)
    if template is None:
        found.add(f"{binary.crate} {binary.version} ({binary.sha256[:12]}…, ops {binary.ops_prefix}) is not a built-in "
                  f"scx scheduler: only the pinned binaries that the node agents carry can run")
        return found, None
    declared = {t.name for t in template.metadata.tunables}
    if unknown := sorted(set(tunables) - declared):
        found.add(f"{template.name} has no tunables {unknown}")
        return found, None
    try:
        expected = command_arguments(template.metadata.tunables, template.defaults() | tunables)
    except ValueError as error:
        found.add(str(error))
        return found, None
    if binary.arguments != expected:
        found.add(f"arguments {binary.arguments} are not those of the tunables: {expected}")
    status = crate_status(binary.crate, binary.version)
    if status.binary is None:
        found.add(f"{binary.crate} is not in the cache: {status.message}")
    elif (actual := file_sha256(status.binary)) != binary.sha256:
        found.add(f"the cached {binary.crate} has sha256 {actual[:12]}…, the template pins {binary.sha256[:12]}…")
    return found, status.binary if not found.problems else None
