"""What a compiled BPF object contains, read from its bytes and its BTF, not its source.

The ELF part is read here (sections, symbols, relocations, instructions), so a call hidden
by a macro or written in inline assembly is seen as the instruction the kernel will get:
a helper call is `call N` with src_reg 0, a kfunc call or a subprogram call is `call`
with src_reg 1 and a relocation naming the extern or the code it calls (libbpf decides
which from the symbol). Any other encoding cannot come from C and is reported as
hand-encoded. The BTF part (maps, externs, the struct_ops variables) is `bpftool btf dump`.
"""

from __future__ import annotations

import json
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHF_EXECINSTR = 0x4
SHT_SYMTAB, SHT_NOBITS, SHT_REL = 2, 8, 9
SHN_UNDEF = 0
STB_WEAK = 2
STT_FUNC = 2
CALL, LD_IMM64 = 0x85, 0x18
# src_reg of an ld_imm64 that libbpf fills in itself (map fd, map value, BTF id, ...): in an
# object it is always 0 with a relocation, so a non-zero one was written by hand.
PSEUDO_LOADS = {1: "map fd", 2: "map value", 3: "kernel BTF id", 5: "map index", 6: "map index value"}


@dataclass(frozen=True)
class Section:
    name: str
    flags: int
    size: int
    data: bytes

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)


@dataclass(frozen=True)
class Symbol:
    name: str
    section: int
    weak: bool
    function: bool


@dataclass
class BpfObject:
    sections: list[Section]
    # The functions that are programs (not subprograms in .text)
    programs: list[str] = field(default_factory=list)
    # Calls and loads of undefined symbols: name -> weak
    externs: dict[str, bool] = field(default_factory=dict)
    # (program section, helper number) of every helper call
    helper_calls: set[tuple[str, int]] = field(default_factory=set)
    # (program section, what) of instructions no compiler emits for C
    hand_encoded: set[tuple[str, str]] = field(default_factory=set)
    btf: list[dict[str, Any]] = field(default_factory=list)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    @property
    def license(self) -> str:
        found = self.section("license")
        return found.data.split(b"\0", 1)[0].decode(errors="replace") if found else ""

    def type(self, type_id: int) -> dict[str, Any]:
        return self.btf[type_id - 1]

    def datasec(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """(variable name, its type) of each variable in BTF DATASEC `name`."""
        sec = next((t for t in self.btf if t["kind"] == "DATASEC" and t["name"] == name), None)
        if sec is None:
            return []
        variables = [self.type(v["type_id"]) for v in sec["vars"]]
        return [(v["name"], self.type(v["type_id"])) for v in variables]

    def extern_functions(self) -> set[str]:
        return {t["name"] for t in self.btf if t["kind"] == "FUNC" and t.get("linkage") == "extern"}

    def resolve(self, type_id: int) -> dict[str, Any]:
        """The type behind typedefs and qualifiers."""
        t = self.type(type_id)
        while t["kind"] in ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG"):
            t = self.type(t["type_id"])
        return t

    def size_of(self, type_id: int) -> int:
        t = self.resolve(type_id)
        if t["kind"] == "ARRAY":
            return int(t["nr_elems"]) * self.size_of(t["type_id"])
        if t["kind"] == "PTR":
            return 8
        return int(t.get("size", 0))


@dataclass(frozen=True)
class _Header:
    name: int
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int


def _headers(data: bytes) -> tuple[list[_Header], int]:
    """Every section header, and the index of the section-name table."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = []
    for i in range(shnum):
        name, sh_type, flags, _, offset, size, link, info, _, _ = struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
        headers.append(_Header(name, sh_type, flags, offset, size, link, info))
    return headers, shstrndx


def _string(data: bytes, table: _Header, offset: int) -> str:
    start = table.offset + offset
    return data[start:data.index(b"\0", start)].decode()


def _symbols(data: bytes, headers: list[_Header]) -> list[Symbol]:
    symtab = next(h for h in headers if h.type == SHT_SYMTAB)
    symbols = []
    for at in range(symtab.offset, symtab.offset + symtab.size, 24):
        st_name, st_info, _, st_shndx, _, _ = struct.unpack_from("<IBBHQQ", data, at)
        symbols.append(Symbol(_string(data, headers[symtab.link], st_name), st_shndx, st_info >> 4 == STB_WEAK,
                              st_info & 0xF == STT_FUNC))
    return symbols


def read_object(path: Path) -> BpfObject:
    data = path.read_bytes()
    if data[:4] != b"\x7fELF":
        raise ValueError(f"{path.name} is not an ELF object")
    headers, names = _headers(data)
    obj = BpfObject(sections=[
        Section(_string(data, headers[names], h.name), h.flags, h.size,
                b"" if h.type == SHT_NOBITS else data[h.offset:h.offset + h.size])
        for h in headers
    ])
    symbols = _symbols(data, headers)
    obj.programs = [s.name for s in symbols if s.function and 0 < s.section < len(obj.sections)
                    and obj.sections[s.section].executable and obj.sections[s.section].name != ".text"]
    relocated: dict[int, dict[int, Symbol]] = {}
    for h in headers:
        if h.type == SHT_REL:
            for at in range(h.offset, h.offset + h.size, 16):
                r_offset, r_info = struct.unpack_from("<QQ", data, at)
                relocated.setdefault(h.info, {})[r_offset] = symbols[r_info >> 32]
    for index, section in enumerate(obj.sections):
        if section.executable:
            _scan(obj, section, relocated.get(index, {}))
    obj.btf = _btf(path)
    return obj


def _scan(obj: BpfObject, section: Section, relocations: dict[int, Symbol]) -> None:
    at = 0
    while at + 8 <= len(section.data):
        code, regs, _, imm = struct.unpack_from("<BBhi", section.data, at)
        src, symbol = regs >> 4, relocations.get(at)
        if symbol is not None and symbol.section == SHN_UNDEF and symbol.name:
            obj.externs[symbol.name] = symbol.weak
        if code == CALL and src == 0 and symbol is None:
            obj.helper_calls.add((section.name, imm))
        elif code == CALL and src != 1:
            obj.hand_encoded.add((section.name, f"a call with src_reg {src} (imm {imm})"))
        elif code == LD_IMM64 and src in PSEUDO_LOADS and symbol is None:
            obj.hand_encoded.add((section.name, f"a 64-bit load of a {PSEUDO_LOADS[src]} (imm {imm})"))
        at += 16 if code == LD_IMM64 else 8


def _btf(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(["bpftool", "-j", "btf", "dump", "file", str(path)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return []
    types: list[dict[str, Any]] = json.loads(out.stdout)["types"]
    return types
