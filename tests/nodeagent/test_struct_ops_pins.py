"""Which maps the agent pins after registering a scheduler, against a scripted bpftool.

The kernel frees a just-unloaded scheduler's (or a preflight's) programs and maps after an
RCU grace period, so for a moment bpftool still lists them, under the same map names as
the new scheduler's, and a pin by their id then fails. The scripted bpftool plays that
moment: the old maps are listed but cannot be pinned.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from schedcp_node_agent.host import HostPaths
from schedcp_node_agent.sched_ext import SchedExt, SchedExtError

pytestmark = pytest.mark.unit

FAKE_BPFTOOL = r'''
import json, pathlib, sys
world = json.loads(pathlib.Path(sys.argv[1]).read_text())
args = [a for a in sys.argv[2:] if a != "--json"]
log = pathlib.Path(sys.argv[1]).with_name("calls")
with log.open("a") as calls:
    calls.write(" ".join(args) + "\n")
if args[:2] == ["prog", "show"]:
    print(json.dumps(world["progs"] + (world["new_progs"] if log.read_text().count("struct_ops register") else [])))
elif args[:2] == ["map", "show"]:
    print(json.dumps(world["maps"]))
elif args[:2] == ["struct_ops", "register"]:
    pathlib.Path(args[3], "link").write_text("")
elif args[:2] == ["map", "pin"]:
    if int(args[3]) in world["vanishing"]:
        sys.exit("Error: get map by id " + args[3] + ": No such file or directory")
    pathlib.Path(args[4]).write_text("")
'''


def kernel_with(tmp_path: Path, *, vanishing: list[int], new_maps: list[int]) -> tuple[SchedExt, Path]:
    """A preflight's struct_ops programs (ids 7, 8) still listed, using map 20, which is gone."""
    world = {
        "progs": [{"id": 7, "type": "struct_ops", "map_ids": [20]}, {"id": 8, "type": "struct_ops", "map_ids": [20]}],
        "new_progs": [{"id": 11, "type": "struct_ops", "map_ids": new_maps}],
        "maps": [{"id": 20, "name": "class_map"}, {"id": 30, "name": "class_map"}, {"id": 31, "name": "stats"}],
        "vanishing": vanishing,
    }
    (tmp_path / "world.json").write_text(json.dumps(world))
    script = tmp_path / "bpftool.py"
    script.write_text(FAKE_BPFTOOL)
    host = HostPaths(root=tmp_path / "root", state_dir=tmp_path / "state")
    return SchedExt(host, [sys.executable, str(script), str(tmp_path / "world.json")]), tmp_path / "calls"


def test_only_the_new_scheduler_s_maps_are_pinned(tmp_path: Path) -> None:
    kernel, calls = kernel_with(tmp_path, vanishing=[20], new_maps=[30, 31])
    pin = tmp_path / "pins" / "latency-class"
    kernel.register(tmp_path / "latency.bpf.o", pin, pin_maps=frozenset({"class_map"}))
    assert sorted(p.name for p in pin.iterdir()) == ["class_map", "link"]
    assert [line for line in calls.read_text().splitlines() if line.startswith("map pin")] == \
        [f"map pin id 30 {pin / 'class_map'}"]


def test_a_failed_pin_leaves_nothing_attached(tmp_path: Path) -> None:
    kernel, _ = kernel_with(tmp_path, vanishing=[30], new_maps=[30])
    pin = tmp_path / "pins" / "latency-class"
    with pytest.raises(SchedExtError, match="map pin id 30"):
        kernel.register(tmp_path / "latency.bpf.o", pin, pin_maps=frozenset({"class_map"}))
    assert not pin.exists(), "a scheduler whose maps are not pinned must not stay registered"
