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
from schedcp.verifying.execution import refusal, slow_callbacks
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


GAVE_UP_LOG = "libbpf: prog 'spin': -- BEGIN PROG LOAD LOG --\n0: R1=ctx()\nBPF program is too large. Processed 1000001 insn\n" \
              "processed 1000001 insns (limit 1000000)\n-- END PROG LOAD LOG --\nlibbpf: prog 'spin': failed to load: -7\n"
REJECTED_LOG = "libbpf: prog 'hold': -- BEGIN PROG LOAD LOG --\n0: R1=ctx()\n5: (85) call bpf_task_acquire#123\n" \
               "Unreleased reference id=2 alloc_insn=5\nprocessed 9 insns\n-- END PROG LOAD LOG --\n"


@pytest.mark.parametrize(
    ("rc", "log", "expected"),
    [
        (255, GAVE_UP_LOG, "the kernel verifier gave up after 1,000,001 instructions"),
        (124, "", "the kernel verifier had not decided after"),
        (143, "libbpf: loading object from obj/c0.bpf.o\n", "the kernel verifier had not decided after"),
        (255, REJECTED_LOG, "the kernel verifier rejected it: Unreleased reference id=2 alloc_insn=5"),
        (255, "libbpf: extern (func ksym) 'scx_bpf_nope': not found in kernel or module BTFs\n",
         "the loader refused it before the verifier: libbpf: extern (func ksym) 'scx_bpf_nope': not found"),
    ],
)
def test_a_kernel_refusal_says_what_happened(rc, log, expected) -> None:
    assert refusal(rc, log).startswith(expected)


def test_a_callback_that_runs_long_on_average_is_named_and_the_newest_program_of_a_name_counts() -> None:
    progs = [
        {"id": 3, "name": "slow_dispatch", "run_cnt": 50, "run_time_ns": 50 * 9_000_000},  # an earlier candidate's
        {"id": 9, "name": "slow_dispatch", "run_cnt": 40, "run_time_ns": 40 * 30_000_000},
        {"id": 10, "name": "slow_enqueue", "run_cnt": 400, "run_time_ns": 400 * 5_000},
        {"id": 11, "name": "slow_init", "run_cnt": 1, "run_time_ns": 90_000_000},  # once: not a hot path
    ]
    assert slow_callbacks(progs, ["slow_dispatch", "slow_enqueue", "slow_init"]) == [
        "callback slow_dispatch took 30.0 ms on average over 40 calls (limit 2 ms): while it runs, its CPU schedules nothing"
    ]
    assert slow_callbacks([{"id": 1, "name": "a_very_long_cal", "run_cnt": 3, "run_time_ns": 10**9}],
                          ["a_very_long_callback_name"])
