"""The Dummy cloud: an in-process cloud for demos, tests and benchmarks.

libcloud's own DummyNodeDriver ignores the requested name, reuses ids after a destroy, leaves
rebooted nodes REBOOTING forever, destroys only the very object it handed out, and has no
locking. :class:`DummyNodeDriver` keeps names, never reuses an id, finishes reboots, destroys
by id and is safe under concurrent requests. Its ``EXTRA_PARAMS``:

``nodes``           nodes present at start (default 0), named ``dummy-1``...
``latency``         seconds every provider call takes (default 0)
``boot_seconds``    seconds a new node stays ``pending`` before it runs (default 0)
``reboot_seconds``  seconds a rebooted node stays ``rebooting`` (default 0)
"""
import itertools
import threading
import time

from libcloud.compute.base import Node, NodeImage, NodeSize
from libcloud.compute.drivers.dummy import DummyNodeDriver as LibcloudDummy
from libcloud.compute.types import NodeState

from . import GenericDriver


class DummyNodeDriver(LibcloudDummy):
    """A thread-safe, well-behaved in-memory cloud (images, sizes, locations as libcloud's)."""

    name = "Orchestrator Dummy Provider"

    def __init__(self, creds="", nodes=0, latency=0.0, boot_seconds=0.0, reboot_seconds=0.0):
        super().__init__(0)
        self.creds = creds
        self.latency = float(latency)
        self.boot_seconds = float(boot_seconds)
        self.reboot_seconds = float(reboot_seconds)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._nodes = {}        # id -> Node, in creation order
        self._ready_at = {}     # id -> monotonic time at which a pending or rebooting node runs
        self.nl = []            # libcloud's attribute; kept empty so nothing reads stale state
        for n in range(int(nodes)):
            self._add(f"dummy-{n + 1}", None, None, ready_at=0.0)

    def _pause(self):
        if self.latency:
            time.sleep(self.latency)

    def _add(self, name, size, image, ready_at):
        with self._lock:
            number = next(self._ids)
            node_id = str(number)
            node = Node(id=node_id, name=name, state=NodeState.RUNNING,
                        public_ips=["127.0.0.1"], private_ips=[f"10.0.{number // 256 % 256}.{number % 256}"],
                        driver=self, size=size, image=image, extra={"owner": "dummy"})
            self._nodes[node_id] = node
            if ready_at > time.monotonic():
                node.state = NodeState.PENDING
                self._ready_at[node_id] = ready_at
            return node

    def _refresh(self, node_id, now):
        node = self._nodes[node_id]
        ready = self._ready_at.get(node_id)
        if ready is not None and now >= ready:
            node.state = NodeState.RUNNING
            del self._ready_at[node_id]
        return node

    def list_nodes(self):
        self._pause()
        now = time.monotonic()
        with self._lock:
            for node_id in [i for i, ready in self._ready_at.items() if now >= ready]:
                self._refresh(node_id, now)
            return list(self._nodes.values())

    def ex_get_node(self, node_id):
        """The node with this id, or None."""
        self._pause()
        with self._lock:
            if node_id not in self._nodes:
                return None
            return self._refresh(node_id, time.monotonic())

    def create_node(self, name, size, image, location=None, **kwargs):
        self._pause()
        size = size if isinstance(size, NodeSize) else None
        image = image if isinstance(image, NodeImage) else None
        return self._add(name, size, image, ready_at=time.monotonic() + self.boot_seconds)

    def reboot_node(self, node):
        self._pause()
        with self._lock:
            current = self._nodes.get(str(node.id))
            if current is None:
                return False
            current.state = NodeState.REBOOTING
            self._ready_at[current.id] = time.monotonic() + self.reboot_seconds
            self._refresh(current.id, time.monotonic())
            return True

    def destroy_node(self, node):
        self._pause()
        with self._lock:
            current = self._nodes.pop(str(node.id), None)
            self._ready_at.pop(str(node.id), None)
        if current is None:
            return False
        current.state = NodeState.TERMINATED
        return True


class DummyDriver(GenericDriver):
    """The Dummy cloud; needs no credentials."""

    required_credentials = ()
    shared = True  # in-process and locked: one instance holds the cloud's whole state

    def libcloud_class(self):
        return DummyNodeDriver

    def connect(self, **kwargs):
        kwargs.pop("timeout", None)  # nothing travels over a network
        return DummyNodeDriver(self.user, **{**self.extra, **kwargs})
