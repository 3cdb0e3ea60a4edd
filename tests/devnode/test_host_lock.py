"""One dev node per host, one `up` or `down` at a time: refused with a message that says
what to do, before anything on the host is changed. No node is started here."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedcp_cli.devcluster.cluster import ClusterInfo
from schedcp_cli.devnode import hostlock
from schedcp_cli.devnode.node import INFO_FILE, DevNode, down, node_state_dir, nodes_dir

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    return tmp_path


def dev_node(name: str) -> DevNode:
    info = ClusterInfo(state_dir=Path("/nonexistent"), server="https://10.0.0.1:6443", kubeconfig=Path("k"),
                       ca_file=Path("ca"), kubectl=Path("kubectl"), pids={}, kubernetes_version="v0",
                       host_address="10.0.0.1")
    return DevNode(info, name)


def test_a_second_holder_is_refused_while_the_first_holds_the_host() -> None:
    with (hostlock.held(nodes_dir()), pytest.raises(hostlock.HostBusy, match="another `schedcp dev node up`"),
          hostlock.held(nodes_dir())):
        pass
    with hostlock.held(nodes_dir()):  # released with the first
        pass


def test_up_is_refused_while_another_node_is_up_and_says_how_to_take_it_down() -> None:
    other = node_state_dir("dev-node-2")
    other.mkdir(parents=True)
    (other / INFO_FILE).write_text("{}")
    with pytest.raises(hostlock.HostBusy, match="`schedcp dev node down dev-node-2` first"):
        dev_node("dev-node-1").start([], None)  # type: ignore[arg-type]
    assert not node_state_dir("dev-node-1").exists(), "the refused up changed the host"


def test_up_and_down_wait_for_no_one_but_refuse_during_another_s_up() -> None:
    with hostlock.held(nodes_dir()):
        with pytest.raises(hostlock.HostBusy):
            down("dev-node-1")
        with pytest.raises(hostlock.HostBusy):
            dev_node("dev-node-1").start([], None)  # type: ignore[arg-type]
    down("dev-node-1")  # nothing was up: nothing to undo, and no error
