"""The allow-list read from compiled objects: what the instructions and the BTF say, not the source.

These objects are built with plain clang and minimal declarations, without a kernel, so the
reading and the policy are checked in milliseconds; the corpus (test_hostile_corpus.py)
checks real schedulers against a real kernel's names.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from schedcp.verifying.bpf_object import read_object
from schedcp.verifying.kernel_names import KernelNames
from schedcp.verifying.static import check_object

pytestmark = pytest.mark.unit

PRELUDE = """
typedef unsigned long long u64; typedef unsigned int u32;
#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __ksym __attribute__((section(".ksyms")))
struct task_struct; struct sched_ext_ops { void *enqueue; char name[128]; };
static long (* const bpf_map_lookup_elem)(void *map, const void *key) = (void *) 1;
static long (* const bpf_send_signal)(u32 sig) = (void *) 109;
static long (* const bpf_loop)(u32 n, void *fn, void *ctx, u64 f) = (void *) 181;
extern void scx_bpf_dsq_insert(struct task_struct *p, u64 dsq, u64 slice, u64 flags) __ksym __attribute__((weak));
extern void scx_bpf_kick_cpu(int cpu, u64 flags) __ksym;
char _license[] SEC("license") = "GPL";
"""
OPS = """
SEC("struct_ops/enqueue") int enqueue(u64 *ctx) { BODY; return 0; }
SEC(".struct_ops.link") struct sched_ext_ops ops = { .enqueue = (void *)enqueue, .name = "t" };
"""
NAMES = KernelNames(
    release="test",
    helpers={1: "bpf_map_lookup_elem", 109: "bpf_send_signal", 181: "bpf_loop", 113: "bpf_probe_read_kernel"},
    map_types={1: "BPF_MAP_TYPE_HASH", 2: "BPF_MAP_TYPE_ARRAY", 27: "BPF_MAP_TYPE_RINGBUF"},
    kfuncs=frozenset({"scx_bpf_dsq_insert", "bpf_rdonly_cast"}),
)


@pytest.fixture
def build(tmp_path):
    def compile_(body: str = "", extra: str = "") -> Path:
        source = tmp_path / "t.bpf.c"
        source.write_text(PRELUDE + extra + OPS.replace("BODY", body))
        subprocess.run(["clang", "-target", "bpf", "-O2", "-g", "-c", str(source), "-o", str(tmp_path / "t.o")], check=True)
        return tmp_path / "t.o"

    return compile_


def problems(path: Path) -> str:
    return "\n".join(check_object(path, NAMES).problems)


def test_a_scheduler_with_listed_helpers_and_kfuncs_passes(build) -> None:
    assert problems(build("scx_bpf_dsq_insert(0, 1, 2, 3); bpf_loop(1, 0, 0, 0)")) == ""


def test_helpers_are_found_by_number_even_in_inline_assembly(build) -> None:
    path = build('asm volatile("r1 = 9; call 109" ::: "r0", "r1")')
    assert read_object(path).helper_calls == {("struct_ops/enqueue", 109)}
    assert "helper bpf_send_signal (#109, called in struct_ops/enqueue) is refused: signals a task" in problems(path)


def test_an_unknown_helper_number_is_named_by_its_number(build) -> None:
    assert "helper #4242" in problems(build('asm volatile("call 4242" ::: "r0")'))


def test_a_hand_encoded_kfunc_call_and_btf_load_are_refused(build) -> None:
    found = problems(build('asm volatile(".byte 0x85, 0x20, 0, 0, 0x34, 0x12, 0, 0; .quad 0x0000123400003018; .quad 0" ::: "r0")'))
    assert "a call with src_reg 2" in found and "a 64-bit load of a kernel BTF id" in found
    assert "hand-encoded" in found


def test_kfuncs_outside_the_list_and_strong_ones_the_kernel_lacks_are_refused(build) -> None:
    extra = "extern void *bpf_rdonly_cast(void *p, u32 id) __ksym;\n"
    found = problems(build("bpf_rdonly_cast(0, 1); scx_bpf_kick_cpu(0, 0); scx_bpf_dsq_insert(0, 1, 2, 3)", extra))
    assert "kfunc bpf_rdonly_cast is refused: casts any address" in found
    assert "kfunc scx_bpf_kick_cpu is not a kfunc of kernel test" in found
    assert "scx_bpf_dsq_insert" not in found


def test_kernel_variables_are_refused(build) -> None:
    found = problems(build("return runqueues", "extern int runqueues __ksym;\n"))
    assert "kernel variable runqueues is refused" in found


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ("__uint(type, 27); __uint(max_entries, 4096);", "map m of type BPF_MAP_TYPE_RINGBUF is refused"),
        ("__uint(type, 1); __uint(max_entries, 100000); __type(key, u32); __type(value, u64);", "max_entries 100000"),
        ("__uint(type, 2); __uint(max_entries, 4096); __type(key, u32); __type(value, u64[1024]);", "map m takes 33570816 bytes"),
        ("__uint(type, 30); __uint(max_entries, 1);", "map type #30"),
    ],
)
def test_map_types_and_sizes_come_from_the_btf(build, definition, expected) -> None:
    found = problems(build("bpf_map_lookup_elem(&m, &k)", f"u32 k; struct {{ {definition} }} m SEC(\".maps\");\n"))
    assert expected in found


def test_global_data_is_bounded(build) -> None:
    assert "global variables take" in problems(build("big[k]++", "u32 k; u64 big[1 << 20];\n"))


def test_program_sections_and_the_struct_ops_type_are_checked(build) -> None:
    extra = ('SEC("kprobe/x") int spy(void *ctx) { return 0; }\n'
             'struct tcp_congestion_ops { void *ssthresh; char name[16]; };\n'
             'SEC(".struct_ops.link") struct tcp_congestion_ops cc = { .name = "cc" };\n')
    found = problems(build("", extra))
    assert "program in section kprobe/x" in found
    assert "struct_ops cc is a struct tcp_congestion_ops, not a sched_ext_ops" in found


def test_the_license_is_read_from_the_object(build) -> None:
    path = build()
    assert read_object(path).license == "GPL"

