"""Which account created which node: non-administrators see only their own nodes."""
from sqlalchemy import delete, insert, select

from dispatcher.lib import store


class NodeOwners:
    def __init__(self, engine):
        self.engine = engine

    def record(self, cloud, node_ids, account_id):
        if not node_ids:
            return
        with self.engine.begin() as conn:
            conn.execute(insert(store.node_owners), [
                {"cloud": cloud, "node_id": node_id, "account_id": account_id, "created_at": store.now()}
                for node_id in node_ids])

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
