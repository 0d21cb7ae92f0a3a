"""The Dummy cloud does what libcloud's own DummyNodeDriver does not.

It keeps the requested names, never reuses an id, finishes reboots, destroys by id (any Node
object with that id) and stays consistent under concurrent requests. Driven directly, as the
API drives it: through :class:`DummyDriver` and its ``connect()``. Timing is only ever checked
from below (a call takes *at least* its latency) or by waiting for a state with a generous
deadline, never against a wall-clock budget.
"""
import threading
import time

from libcloud.compute.base import Node
from libcloud.compute.types import NodeState
import pytest

from dispatcher.lib.cloud_factory.drivers.dummy import DummyDriver, DummyNodeDriver


def dummy(**extra):
    """A connected Dummy cloud with these EXTRA_PARAMS."""
    return DummyDriver({"ENGINE": "dummy", "USER": "", "PASSWORD": "", "EXTRA_PARAMS": extra}).connect(timeout=5)


def create(driver, name):
    return driver.create_node(name=name, size=driver.list_sizes()[0], image=driver.list_images()[0])


def state_of(driver, node_id):
    return driver.ex_get_node(node_id).state


def wait_for_state(driver, node_id, state, deadline=10.0):
    """Poll until the node reaches ``state``; fails only if it never does within ``deadline`` s."""
    give_up = time.monotonic() + deadline
    while state_of(driver, node_id) != state:
        assert time.monotonic() < give_up, f"node {node_id} never became {state}"
        time.sleep(0.01)


def test_connect_builds_our_driver():
    driver = dummy()
    assert type(driver) is DummyNodeDriver
    assert driver.list_nodes() == []


def test_initial_nodes_are_running_and_numbered():
    nodes = dummy(nodes=3).list_nodes()
    assert [(n.id, n.name, n.state) for n in nodes] == [
        ("1", "dummy-1", NodeState.RUNNING), ("2", "dummy-2", NodeState.RUNNING), ("3", "dummy-3", NodeState.RUNNING)]


def test_keeps_names_sizes_and_images():
    driver = dummy()
    size, image = driver.list_sizes()[1], driver.list_images()[2]
    node = driver.create_node(name="web-a", size=size, image=image)
    create(driver, "web-b")
    assert (node.name, node.size, node.image) == ("web-a", size, image)
    assert [n.name for n in driver.list_nodes()] == ["web-a", "web-b"]
    assert driver.ex_get_node(node.id).name == "web-a"


def test_never_reuses_ids_after_destroy():
    driver = dummy()
    issued = [create(driver, f"n{i}").id for i in range(3)]
    assert driver.destroy_node(driver.ex_get_node(issued[-1]))  # libcloud's dummy would hand "3" out again
    assert driver.destroy_node(driver.ex_get_node(issued[0]))
    issued += [create(driver, f"m{i}").id for i in range(3)]
    assert len(set(issued)) == len(issued) == 6
    assert {n.id for n in driver.list_nodes()} == set(issued) - {issued[0], issued[2]}


def test_destroys_by_id_given_an_equal_but_distinct_node():
    driver = dummy()
    node = create(driver, "victim")
    twin = Node(id=node.id, name="not-the-same-name", state=NodeState.UNKNOWN, public_ips=[], private_ips=[],
                driver=driver)
    assert twin is not node
    assert driver.destroy_node(twin) is True
    assert driver.ex_get_node(node.id) is None
    assert driver.list_nodes() == []
    assert driver.destroy_node(twin) is False  # already gone


def test_unknown_nodes_are_refused():
    driver = dummy()
    ghost = Node(id="404", name="ghost", state=NodeState.RUNNING, public_ips=[], private_ips=[], driver=driver)
    assert driver.ex_get_node("404") is None
    assert driver.reboot_node(ghost) is False
    assert driver.destroy_node(ghost) is False


def test_reboot_with_no_reboot_seconds_is_finished_at_once():
    driver = dummy(reboot_seconds=0)
    node = create(driver, "r0")
    assert driver.reboot_node(node) is True
    assert state_of(driver, node.id) == NodeState.RUNNING


def test_reboot_lasts_reboot_seconds():
    driver = dummy(reboot_seconds=3600)
    node = create(driver, "r-long")
    assert driver.reboot_node(node) is True
    assert state_of(driver, node.id) == NodeState.REBOOTING
    assert [n.state for n in driver.list_nodes()] == [NodeState.REBOOTING]


def test_reboot_finishes():
    driver = dummy(reboot_seconds=0.05)
    node = create(driver, "r-short")
    assert driver.reboot_node(node) is True
    wait_for_state(driver, node.id, NodeState.RUNNING)


def test_boot_seconds_keep_a_new_node_pending():
    driver = dummy(boot_seconds=3600)
    node = create(driver, "b-long")
    assert node.state == NodeState.PENDING
    assert state_of(driver, node.id) == NodeState.PENDING


def test_boot_seconds_then_running():
    driver = dummy(boot_seconds=0.05)
    node = create(driver, "b-short")
    wait_for_state(driver, node.id, NodeState.RUNNING)
    assert driver.list_nodes()[0].state == NodeState.RUNNING


def test_no_boot_seconds_runs_at_once():
    node = create(dummy(), "b0")
    assert node.state == NodeState.RUNNING


@pytest.mark.parametrize("operation", ["list_nodes", "ex_get_node", "create_node", "reboot_node", "destroy_node"])
def test_latency_delays_every_provider_call(operation):
    latency = 0.05
    driver = dummy(latency=latency, nodes=1)
    [node] = driver.list_nodes()
    size, image = driver.list_sizes()[0], driver.list_images()[0]
    calls = {"list_nodes": lambda: driver.list_nodes(), "ex_get_node": lambda: driver.ex_get_node(node.id),
             "create_node": lambda: driver.create_node(name="slow", size=size, image=image),
             "reboot_node": lambda: driver.reboot_node(node), "destroy_node": lambda: driver.destroy_node(node)}
    started = time.monotonic()
    calls[operation]()
    assert time.monotonic() - started >= latency  # a lower bound only: sleep never returns early


def test_concurrent_creates_give_unique_ids():
    driver = dummy()
    threads, per_thread = 8, 25
    start = threading.Barrier(threads)
    created = [[] for _ in range(threads)]
    errors = []

    def work(t):
        try:
            start.wait()
            for i in range(per_thread):
                created[t].append(create(driver, f"t{t}-{i}"))
        except Exception as exc:  # surfaced below, with the thread that raised it
            errors.append((t, exc))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert not errors
    nodes = [n for batch in created for n in batch]
    assert len(nodes) == threads * per_thread == 200
    assert len({n.id for n in nodes}) == 200
    listed = driver.list_nodes()
    assert {n.id for n in listed} == {n.id for n in nodes}
    assert {n.name for n in listed} == {f"t{t}-{i}" for t in range(threads) for i in range(per_thread)}


def test_concurrent_destroys_remove_each_node_once():
    driver = dummy(nodes=200)
    ids = [n.id for n in driver.list_nodes()]
    results = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work(t):
        start.wait()
        for node_id in ids:  # every thread tries every node: exactly one destroy each succeeds
            ok = driver.destroy_node(Node(id=node_id, name="", state=NodeState.UNKNOWN, public_ips=[],
                                          private_ips=[], driver=driver))
            with lock:
                results.append((node_id, ok))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert len(results) == 8 * 200
    assert sorted(node_id for node_id, ok in results if ok) == sorted(ids)
    assert driver.list_nodes() == []
