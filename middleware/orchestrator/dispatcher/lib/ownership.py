"""Which account created which node: non-administrators see only their own nodes."""
import logging

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from dispatcher.errors import DispatcherError, StoreUnavailable
from dispatcher.lib import store

log = logging.getLogger(__name__)


class NodeOwners:
    def __init__(self, engine):
        self.engine = engine
        t = store.node_owners
        insert = store.insert_for(engine)(t)
        # A cloud may hand out the id of a node destroyed behind our back again: the new node
        # belongs to whoever created it, so the stale row is replaced, never a reason to fail.
        self._upsert = insert.on_conflict_do_update(
            index_elements=["cloud", "node_id"],
            set_={"account_id": insert.excluded.account_id, "created_at": insert.excluded.created_at})

    def record(self, cloud, node_ids, account_id):
        if not node_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(self._upsert, [
                {"cloud": cloud, "node_id": node_id, "account_id": account_id, "created_at": store.now()}
                for node_id in node_ids])

    def record_created(self, cloud, nodes, account_id):
        """Record ``account_id`` as the owner of ``nodes`` just created on ``cloud``.

        A node nobody owns is visible to no one but the administrator, so if the store cannot
        record the owner the nodes are destroyed again, and :class:`StoreUnavailable` says which
        were created, which were removed and which (if the cloud refused) are left."""
        try:
            self.record(cloud.name, [n.id for n in nodes], account_id)
            return
        except SQLAlchemyError as exc:
            log.error("cloud %s: recording the owner of %d new nodes failed: %s", cloud.name, len(nodes),
                      type(exc).__name__)
        removed, left = [], []
        for node in nodes:
            try:
                cloud.destroy(node.id)
                removed.append(node.id)
            except DispatcherError:
                left.append(node.id)
        message = (f"the store could not record the owner of {len(nodes)} new nodes of cloud {cloud.name!r}; "
                   + ("they were destroyed again" if not left else
                      f"{len(left)} could not be destroyed and are left to the administrator"))
        raise StoreUnavailable(message, {"cloud": cloud.name, "created": [n.id for n in nodes],
                                         "destroyed": removed, "left": left})

    def owned(self, cloud, account_id):
        """Ids of the nodes ``account_id`` created on ``cloud``."""
        t = store.node_owners
        with self.engine.connect() as conn:
            return set(conn.execute(select(t.c.node_id).where(t.c.cloud == cloud, t.c.account_id == account_id)).scalars())

    def owner(self, cloud, node_id):
        t = store.node_owners
        with self.engine.connect() as conn:
            return conn.execute(select(t.c.account_id).where(t.c.cloud == cloud, t.c.node_id == node_id)).scalar()

    def forget(self, cloud, node_id):
        t = store.node_owners
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.cloud == cloud, t.c.node_id == node_id))
