"""The node's sched_ext interface: sysfs for what runs, bpftool for loading and maps.

A scheduler is loaded with `bpftool struct_ops register OBJ DIR`, which pins its link
in DIR on the bpffs. The pinned link, not a process, keeps the scheduler attached, so
it survives an agent restart; removing the pin detaches it. The directory's name is
the revision's name, so the bpffs itself records which revision is loaded and a
restarted agent re-adopts it without trusting any file of its own.

A preflight loads an object without attaching it: `bpftool prog loadall` has libbpf
create the maps (the struct_ops map too, whose value is only written at attach time)
and load every program, so the kernel verifier judges each one on this kernel, and
nothing registers with sched_ext. Its pins, under a directory of their own, go at once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schedcp.api.v1alpha1.nodestate import SchedExtState
from schedcp_node_agent.host import HostPaths, read_value

ENABLE_TIMEOUT_SECONDS = 5.0
# Beside the revisions' pin root, not in it: whatever is there is a loaded revision.
PREFLIGHT_DIR = "schedcp-preflight"


class SchedExtError(Exception):
    """A bpftool call failed; `log` is what it printed (the verifier's log on a load)."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


class Observation(BaseModel):
    state: SchedExtState
    ops: str | None = None
    enable_seq: int | None = None

    @property
    def enabled(self) -> bool:
        return self.state == SchedExtState.ENABLED


class SchedExt:
    def __init__(self, host: HostPaths, bpftool: list[str] | None = None) -> None:
        self.host = host
        self.bpftool = bpftool or ["bpftool"]

    def observe(self) -> Observation:
        root = self.host.sched_ext
        if not root.is_dir():
            return Observation(state=SchedExtState.UNSUPPORTED)
        state = SchedExtState(read_value(root / "state") or SchedExtState.DISABLED)
        seq = read_value(root / "enable_seq")
        ops = read_value(root / "root" / "ops") if state == SchedExtState.ENABLED else None
        return Observation(state=state, ops=ops or None, enable_seq=int(seq) if seq else None)

    def pinned(self) -> list[Path]:
        """Pin directories of the schedulers this agent loaded (normally zero or one)."""
        root = self.host.pin_root
        return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []

    def register(self, obj: Path, pin_dir: Path, *, pin_maps: frozenset[str] = frozenset()) -> Observation:
        """Attach `obj`'s scheduler with its link pinned in `pin_dir`, and pin its maps named in
        `pin_maps` beside it so that a restarted agent finds them."""
        pin_dir.mkdir(parents=True, exist_ok=True)
        newest = self._newest_prog_id()
        result = self._run("struct_ops", "register", str(obj), str(pin_dir), check=False)
        if result.returncode != 0:
            shutil.rmtree(pin_dir, ignore_errors=True)
            raise SchedExtError(f"bpftool could not load {obj.name}", result.stdout + result.stderr)
        try:
            self._pin_new_maps(pin_dir, pin_maps, newer_than=newest)
        except SchedExtError:
            self.unregister(pin_dir)  # a scheduler without its pins is one a restarted agent cannot claim
            raise
        return self._wait_settled()

    def preflight(self, obj: Path) -> None:
        """Load `obj` on this kernel without attaching it; SchedExtError with the verifier's log if refused."""
        pin_dir = self.host.bpffs / PREFLIGHT_DIR / (self.host.node or "node")
        shutil.rmtree(pin_dir, ignore_errors=True)
        pin_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = self._run("prog", "loadall", str(obj), str(pin_dir), check=False)
        finally:
            shutil.rmtree(pin_dir, ignore_errors=True)
        if result.returncode != 0:
            raise SchedExtError(f"the kernel refused to load {obj.name}", result.stdout + result.stderr)

    def unregister(self, pin_dir: Path) -> None:
        """Remove the pins (link and maps); the kernel detaches the scheduler with the last one."""
        shutil.rmtree(pin_dir, ignore_errors=True)
        deadline = time.monotonic() + ENABLE_TIMEOUT_SECONDS
        while self.observe().state == SchedExtState.DISABLING and time.monotonic() < deadline:
            time.sleep(0.05)

    def detach_foreign(self) -> None:
        """Detach the struct_ops link of a scheduler some other loader attached."""
        for link in self._json("link", "show"):
            if link.get("type") == "struct_ops":
                self._run("link", "detach", "id", str(link["id"]))
        self._wait_settled()

    def _newest_prog_id(self) -> int:
        return max((prog["id"] for prog in self._json("prog", "show")), default=0)

    def _pin_new_maps(self, pin_dir: Path, names: frozenset[str], *, newer_than: int) -> None:
        """Only programs loaded after `newer_than` are the new scheduler's: the kernel frees the
        programs and maps of a scheduler just unloaded, or of a preflight, after an RCU grace
        period, so they can still be listed, under the same names, and vanish before a pin."""
        if not names:
            return
        map_ids = {mid for prog in self._json("prog", "show")
                   if prog.get("type") == "struct_ops" and prog["id"] > newer_than
                   for mid in prog.get("map_ids", [])}
        for info in self._json("map", "show"):
            pinned = pin_dir / info.get("name", "")
            if info["id"] in map_ids and info.get("name") in names and not pinned.exists():
                self._run("map", "pin", "id", str(info["id"]), str(pinned))

    def map_entries(self, pinned: Path) -> dict[bytes, bytes]:
        return {_bytes(e["key"]): _bytes(e["value"]) for e in self._json("map", "dump", "pinned", str(pinned))}

    def map_update(self, pinned: Path, key: bytes, value: bytes) -> None:
        self._run("map", "update", "pinned", str(pinned), "key", *_hex(key), "value", *_hex(value))

    def map_delete(self, pinned: Path, key: bytes) -> None:
        self._run("map", "delete", "pinned", str(pinned), "key", *_hex(key))

    def _wait_settled(self) -> Observation:
        deadline = time.monotonic() + ENABLE_TIMEOUT_SECONDS
        while True:
            seen = self.observe()
            if seen.state not in (SchedExtState.ENABLING, SchedExtState.DISABLING) or time.monotonic() > deadline:
                return seen
            time.sleep(0.05)

    def _json(self, *args: str) -> list[dict[str, Any]]:
        out = self._run("--json", *args).stdout.strip()
        return json.loads(out) if out else []

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.bpftool, *args], capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            output = (result.stderr or result.stdout).strip()
            raise SchedExtError(f"bpftool {' '.join(args[:4])} failed: {output[-300:]}", output)
        return result


def _hex(data: bytes) -> list[str]:
    return ["hex", *(f"{b:02x}" for b in data)]


def _bytes(field: list[str] | str) -> bytes:
    # bpftool --json prints raw keys and values as lists of "0x.." strings.
    items = field if isinstance(field, list) else field.split()
    return bytes(int(item, 16) for item in items)
