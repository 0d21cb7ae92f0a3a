"""Rate-limit counters in our own store, so every gunicorn worker and host counts together.

A storage backend for the ``limits`` library (which Flask-Limiter uses), registered under the
scheme ``orchestrator+sql://``: fixed windows, one upsert per counted request. Set
``RATELIMIT_STORAGE_URI`` to a ``redis://`` or ``memcached://`` URL to count elsewhere.
"""
import random
import time

from limits.storage import Storage
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from dispatcher.lib import store

SCHEME = "orchestrator+sql"


class SQLStorage(Storage):
    """Fixed-window counters in the ``rate_limits`` table of the store."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri=None, wrap_exceptions=False, engine=None, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        if engine is None:
            raise ValueError(f"{SCHEME}:// needs the store's engine in the limiter's storage options")
        self.engine = engine
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._insert = insert

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def incr(self, key, expiry, amount=1):
        now = time.time()
        table = store.rate_limits
        stmt = self._insert(table).values(key=key, count=amount, expires_at=now + expiry)
        lapsed = table.c.expires_at <= now
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={
            # A lapsed window starts again at this request; a live one counts it.
            "count": case((lapsed, amount), else_=table.c.count + amount),
            "expires_at": case((lapsed, now + expiry), else_=table.c.expires_at),
        }).returning(table.c.count)
        with self.engine.begin() as conn:
            count = conn.execute(stmt).scalar()
            if random.random() < 0.001:  # now and then, forget windows long gone
                conn.execute(delete(table).where(table.c.expires_at < now - 3600))
        return count

    def get(self, key):
        table = store.rate_limits
        with self.engine.connect() as conn:
            count = conn.execute(select(table.c.count).where(table.c.key == key,
                                                             table.c.expires_at > time.time())).scalar()
        return count or 0

    def get_expiry(self, key):
        table = store.rate_limits
        with self.engine.connect() as conn:
            expires = conn.execute(select(table.c.expires_at).where(table.c.key == key)).scalar()
        return expires or time.time()

    def check(self):
        with self.engine.connect() as conn:
            conn.execute(select(1))
        return True

    def reset(self):
        with self.engine.begin() as conn:
            return conn.execute(delete(store.rate_limits)).rowcount

    def clear(self, key):
        with self.engine.begin() as conn:
            conn.execute(delete(store.rate_limits).where(store.rate_limits.c.key == key))
