"""Rate-limit counters in our own store, so every gunicorn worker and host counts together.

A storage backend for the ``limits`` library (which Flask-Limiter uses), registered under the
scheme ``orchestrator+sql://``: fixed windows kept by the data store. Set
``RATELIMIT_STORAGE_URI`` to a ``redis://`` or ``memcached://`` URL to count elsewhere.
"""
import time

from limits.storage import Storage
from sqlalchemy.exc import SQLAlchemyError

SCHEME = "orchestrator+sql"


class SQLStorage(Storage):
    """Fixed-window counters in the data store's ``rate_limits`` table."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri=None, wrap_exceptions=False, datastore=None, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        if datastore is None:
            raise ValueError(f"{SCHEME}:// needs the data store in the limiter's storage options")
        self.datastore = datastore

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def incr(self, key, expiry, amount=1):
        return self.datastore.incr_limits({key: (amount, expiry)}, time.time())[key]

    def get(self, key):
        return self.datastore.get_limit(key, time.time())

    def get_expiry(self, key):
        return self.datastore.limit_expiry(key, time.time())

    def check(self):
        self.datastore.ping()
        return True

    def reset(self):
        return self.datastore.clear_limits()

    def clear(self, key):
        self.datastore.clear_limits(key)
