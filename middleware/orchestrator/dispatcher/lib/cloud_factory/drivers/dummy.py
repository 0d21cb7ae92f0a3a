"""The Dummy cloud: a cloud for demos, tests and benchmarks, with its state in the store.

libcloud's own DummyNodeDriver keeps its nodes in the memory of one process, ignores the
requested name, reuses ids after a destroy, leaves rebooted nodes REBOOTING forever and destroys
only the very object it handed out. :class:`DummyNodeDriver` keeps its nodes in the store
(``dummy_nodes``), so every gunicorn worker, host and restart sees one cloud: names are kept,
ids are never reused (the store's autoincrement), reboots finish, nodes are destroyed by id and
concurrent requests are safe. Its ``EXTRA_PARAMS``:

``nodes``           nodes present when the cloud is first used on a store (default 0),
                    named ``dummy-1``...
``latency``         seconds every provider call takes (default 0)
``boot_seconds``    seconds a new node stays ``pending`` before it runs (default 0)
``reboot_seconds``  seconds a rebooted node stays ``rebooting`` (default 0)

Driven outside the application (no store attached), a driver keeps its state in a private
in-memory store of its own.
"""
from contextlib import nullcontext
import threading
import time

from libcloud.compute.base import Node, NodeImage, NodeSize
from libcloud.compute.drivers.dummy import DummyNodeDriver as LibcloudDummy
from libcloud.compute.types import NodeState
from sqlalchemy import create_engine, delete, insert, select, update
from sqlalchemy.pool import StaticPool

from dispatcher.lib import store

from . import GenericDriver

RUNNING, PENDING, REBOOTING = "running", "pending", "rebooting"
_STATES = {RUNNING: NodeState.RUNNING, PENDING: NodeState.PENDING, REBOOTING: NodeState.REBOOTING}


def private_store():
    """An in-memory store for a driver used on its own (one connection, shared by its threads)."""
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    store.metadata.create_all(engine, tables=[store.dummy_nodes, store.dummy_clouds])
    return engine


class DummyNodeDriver(LibcloudDummy):
    """A well-behaved cloud whose nodes live in the store (images, sizes, locations as libcloud's)."""

    name = "Orchestrator Dummy Provider"

    def __init__(self, creds="", nodes=0, latency=0.0, boot_seconds=0.0, reboot_seconds=0.0,
                 engine=None, cloud="default"):
        super().__init__(0)
        self.creds = creds
        self.latency = float(latency)
        self.boot_seconds = float(boot_seconds)
        self.reboot_seconds = float(reboot_seconds)
        self.cloud = cloud
        self.engine = engine if engine is not None else private_store()
        # SQLite has one writer at a time: threads of this process queue here rather than in
        # SQLite's busy handler. The private store's single connection is shared by every
        # thread, so there reads take the lock too.
        self._lock = threading.Lock()
        self._reading = self._lock if engine is None else nullcontext()
        self.nl = []  # libcloud's attribute; kept empty so nothing reads stale state
        self._sizes = {str(s.id): s for s in super().list_sizes()}
        self._images = {str(i.id): i for i in super().list_images()}
        self._seed(int(nodes))

    def _pause(self):
        if self.latency:
            time.sleep(self.latency)

    def _seed(self, count):
        """Make the initial nodes once per store, however many processes start together."""
        t = store.dummy_nodes
        with self._lock, self.engine.begin() as conn:
            claimed = conn.execute(store.insert_for(self.engine)(store.dummy_clouds)
                                   .values(cloud=self.cloud, created_at=time.time())
                                   .on_conflict_do_nothing(index_elements=["cloud"])).rowcount
            if claimed and count:
                conn.execute(insert(t), [{"cloud": self.cloud, "name": f"dummy-{n + 1}", "state": RUNNING,
                                          "ready_at": None, "size": None, "image": None,
                                          "created_at": time.time()} for n in range(count)])

    # -- rows to libcloud nodes -------------------------------------------------------
    def list_sizes(self, location=None):
        return list(self._sizes.values())

    def list_images(self, location=None):
        return list(self._images.values())

    def _node(self, row, now):
        number = row["id"]
        state = RUNNING if row["ready_at"] is None or now >= row["ready_at"] else row["state"]
        return Node(id=str(number), name=row["name"], state=_STATES[state],
                    public_ips=["127.0.0.1"], private_ips=[f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"],
                    driver=self, size=self._sizes.get(row["size"]), image=self._images.get(row["image"]),
                    extra={"owner": "dummy"})

    def _select(self, *where):
        t = store.dummy_nodes
        return select(t).where(t.c.cloud == self.cloud, *where).order_by(t.c.id)

    @staticmethod
    def _number(node_id):
        try:
            return int(str(node_id))
        except ValueError:
            return None

    # -- the provider calls -----------------------------------------------------------
    def list_nodes(self):
        self._pause()
        with self._reading, self.engine.connect() as conn:
            rows = conn.execute(self._select()).mappings().all()
        now = time.time()
        return [self._node(row, now) for row in rows]

    def ex_get_node(self, node_id):
        """The node with this id, or None."""
        self._pause()
        number = self._number(node_id)
        if number is None:
            return None
        with self._reading, self.engine.connect() as conn:
            row = conn.execute(self._select(store.dummy_nodes.c.id == number)).mappings().first()
        return None if row is None else self._node(row, time.time())

    def create_node(self, name, size, image, location=None, **kwargs):
        self._pause()
        now = time.time()
        row = {"cloud": self.cloud, "name": name, "state": PENDING,
               "ready_at": now + self.boot_seconds if self.boot_seconds > 0 else None,
               "size": str(size.id) if isinstance(size, NodeSize) else None,
               "image": str(image.id) if isinstance(image, NodeImage) else None, "created_at": now}
        with self._lock, self.engine.begin() as conn:
            row["id"] = conn.execute(insert(store.dummy_nodes).values(**row)).inserted_primary_key[0]
        return self._node(row, now)

    def reboot_node(self, node):
        self._pause()
        number = self._number(node.id)
        t = store.dummy_nodes
        with self._lock, self.engine.begin() as conn:
            changed = conn.execute(update(t).where(t.c.cloud == self.cloud, t.c.id == number).values(
                state=REBOOTING, ready_at=time.time() + self.reboot_seconds if self.reboot_seconds > 0 else None
            )).rowcount
        return bool(changed)

    def destroy_node(self, node):
        self._pause()
        number = self._number(node.id)
        t = store.dummy_nodes
        with self._lock, self.engine.begin() as conn:
            removed = conn.execute(delete(t).where(t.c.cloud == self.cloud, t.c.id == number)).rowcount
        if removed:
            node.state = NodeState.TERMINATED
        return bool(removed)


class DummyDriver(GenericDriver):
    """The Dummy cloud; needs no credentials."""

    required_credentials = ()
    shared = True  # thread-safe: one instance serves every request of the process

    def libcloud_class(self):
        return DummyNodeDriver

    def connect(self, **kwargs):
        kwargs.pop("timeout", None)  # nothing travels over a network
        store_args = {"engine": self.store, "cloud": self.cloud_name} if self.store is not None else {}
        return DummyNodeDriver(self.user, **{**self.extra, **store_args, **kwargs})
