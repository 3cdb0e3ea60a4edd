"""Stage 1, without booting anything: source and object checks.

The source checks give clear messages; the object checks cannot be dodged by macros
(a helper is called by number, a program type is named by its ELF section).

An scx binary is checked against its built-in template instead: only a binary the project
pins (crate, version, digest) may run, with exactly the arguments its tunables give, and
the copy in the cache must have the pinned digest.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from schedcp.api.v1alpha1.template import SOURCE_MAX_LENGTH, BinarySource, command_arguments
from schedcp.artifacts import file_sha256
from schedcp.provisioning.scx import crate_status
from schedcp.templates import builtin_scx_templates

# Helpers that reach outside the scheduler: user memory, signals, other BPF objects.
FORBIDDEN_HELPERS = {
    "bpf_probe_write_user": 36,
    "bpf_override_return": 58,
    "bpf_send_signal": 109,
    "bpf_send_signal_thread": 117,
    "bpf_sys_bpf": 166,
    "bpf_sys_close": 167,
}
PROGRAM_SECTION = re.compile(r"^struct_ops(\.s)?/\w+$")
OPS_DEFINITION = re.compile(r'SEC\("\.struct_ops\.link"\)\s*struct\s+sched_ext_ops\s+\w+\s*=\s*\{(?P<body>.*?)\};', re.S)
REQUIRED_CALLBACKS = ("enqueue",)
MAX_MAP_ENTRIES = 65_536
MAX_ENTRIES = re.compile(r"__uint\(\s*max_entries\s*,\s*([^)]+)\)")


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)

    def add(self, problem: str) -> None:
        self.problems.append(problem)


def check_source(source: str) -> Findings:
    found = Findings()
    if len(source) > SOURCE_MAX_LENGTH:
        found.add(f"source is {len(source)} bytes, more than {SOURCE_MAX_LENGTH}")
    for helper in FORBIDDEN_HELPERS:
        if re.search(rf"\b{helper}\b", source):
            found.add(f"forbidden helper {helper}: a scheduler may not reach outside the scheduler")
    for section in re.findall(r'SEC\("([^"]+)"\)', source):
        if section not in (".struct_ops.link", "license", ".maps") and not PROGRAM_SECTION.match(section):
            found.add(f'program section "{section}": only sched_ext struct_ops programs are allowed')
    ops = OPS_DEFINITION.search(source)
    if not ops:
        found.add('no `SEC(".struct_ops.link") struct sched_ext_ops NAME = {...}`: a link-attached sched_ext ops is required')
    else:
        for callback in (*REQUIRED_CALLBACKS, "name"):
            if not re.search(rf"\.{callback}\s*=", ops.group("body")):
                found.add(f"sched_ext_ops lacks .{callback}")
    for raw in MAX_ENTRIES.findall(source):
        if not raw.strip().isdigit() or int(raw) > MAX_MAP_ENTRIES:
            found.add(f"map max_entries {raw.strip()}: must be a literal at most {MAX_MAP_ENTRIES}")
    return found


def _sections(obj: Path) -> list[tuple[str, str]]:
    """(name, flags) of every ELF section, from llvm-readelf."""
    out = subprocess.run(["llvm-readelf", "-S", "-W", str(obj)], capture_output=True, text=True, check=True).stdout
    rows = re.findall(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+([A-Z]*)", out)
    return [(name, flags) for name, flags in rows]


def _license(obj: Path) -> str:
    # llvm-objcopy renames its output into place, so it needs a real file, not a pipe.
    dumped = obj.with_suffix(".license")
    subprocess.run(["llvm-objcopy", "-O", "binary", "--only-section=license", str(obj), str(dumped)], check=False)
    return dumped.read_bytes().split(b"\0", 1)[0].decode(errors="replace") if dumped.exists() else ""


def _helper_calls(obj: Path) -> set[int]:
    out = subprocess.run(["llvm-objdump", "-d", "--no-show-raw-insn", str(obj)], capture_output=True, text=True, check=True).stdout
    return {int(n) for n in re.findall(r"\bcall (\d+)\b", out)}


def check_object(obj: Path) -> Findings:
    found = Findings()
    if not _license(obj).startswith("GPL"):
        found.add("license section is not GPL-compatible: sched_ext kfuncs are GPL-only")
    for name, flags in _sections(obj):
        if "X" in flags and name != ".text" and not PROGRAM_SECTION.match(name):
            found.add(f"program in section {name}: only sched_ext struct_ops programs are allowed")
    by_number = {number: name for name, number in FORBIDDEN_HELPERS.items()}
    for number in sorted(_helper_calls(obj) & by_number.keys()):
        found.add(f"object calls forbidden helper {by_number[number]} (#{number})")
    if ".struct_ops.link" not in {name for name, _ in _sections(obj)}:
        found.add("object has no .struct_ops.link section")
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
