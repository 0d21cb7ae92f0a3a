"""The broker's records: which account each service instance is, which key each binding issued.

Only these two tables; the accounts and keys themselves are the accounts service's
(:class:`dispatcher.lib.accounts.Accounts`), and the jobs the data store's.
"""
import json

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from dispatcher.lib import store

_JSON_COLUMNS = ("parameters", "context", "origin_identity", "request")


def _dumps(value):
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _row(row):
    if row is None:
        return None
    found = dict(row)
    for column in _JSON_COLUMNS:
        if column in found and found[column] is not None:
            found[column] = json.loads(found[column])
    return found


class BrokerStore:
    """Instances and bindings over the store's engine."""

    def __init__(self, engine):
        self.engine = engine

    # -- instances ---------------------------------------------------------------------
    def instance(self, instance_id):
        """The instance record (JSON columns decoded), or None."""
        t = store.broker_instances
        with self.engine.connect() as conn:
            return _row(conn.execute(select(t).where(t.c.id == instance_id)).mappings().first())

    def add_instance(self, instance_id, account_id, service_id, plan_id, parameters, context, origin):
        """Record a new instance; False when one of that id exists already (a concurrent request)."""
        now = store.now()
        platform, identity = origin or (None, None)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(store.broker_instances).values(
                    id=instance_id, account_id=account_id, service_id=service_id, plan_id=plan_id,
                    parameters=_dumps(parameters), context=_dumps(context), origin_platform=platform,
                    origin_identity=_dumps(identity), created_at=now, updated_at=now))
        except IntegrityError:
            return False
        return True

    def update_instance(self, instance_id, plan_id, parameters):
        t = store.broker_instances
        with self.engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == instance_id)
                         .values(plan_id=plan_id, parameters=_dumps(parameters), updated_at=store.now()))

    def delete_instance(self, instance_id):
        """Forget the instance and its bindings (deleting its account does that already)."""
        with self.engine.begin() as conn:
            conn.execute(delete(store.broker_bindings).where(store.broker_bindings.c.instance_id == instance_id))
            conn.execute(delete(store.broker_instances).where(store.broker_instances.c.id == instance_id))

    # -- bindings ----------------------------------------------------------------------
    def binding(self, binding_id):
        """The binding record (JSON columns decoded), or None."""
        t = store.broker_bindings
        with self.engine.connect() as conn:
            return _row(conn.execute(select(t).where(t.c.id == binding_id)).mappings().first())

    def add_binding(self, binding_id, instance_id, key_id, request, origin):
        """Record a new binding; False when one of that id exists already (a concurrent request)."""
        platform, identity = origin or (None, None)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(store.broker_bindings).values(
                    id=binding_id, instance_id=instance_id, key_id=key_id, request=_dumps(request),
                    origin_platform=platform, origin_identity=_dumps(identity), created_at=store.now()))
        except IntegrityError:
            return False
        return True

    def replace_key(self, binding_id, old_key_id, new_key_id):
        """Point the binding at a new key if it still holds ``old_key_id``; whether it did."""
        t = store.broker_bindings
        with self.engine.begin() as conn:
            return conn.execute(update(t).where(t.c.id == binding_id, t.c.key_id == old_key_id)
                                .values(key_id=new_key_id)).rowcount == 1

    def delete_binding(self, binding_id):
        """Forget the binding; whether there was one to forget."""
        with self.engine.begin() as conn:
            return conn.execute(delete(store.broker_bindings)
                                .where(store.broker_bindings.c.id == binding_id)).rowcount == 1
