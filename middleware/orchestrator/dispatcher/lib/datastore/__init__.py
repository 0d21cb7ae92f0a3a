"""The data store: one home for every query of jobs, runs, events, leases and limits."""
from dispatcher.lib.datastore.base import DataStore, RunFilter, Transaction, event


def create_datastore(engine):
    """The data store for ``engine`` (SQLite or PostgreSQL)."""
    from dispatcher.lib.datastore.sqlalchemy import SQLAlchemyDataStore

    return SQLAlchemyDataStore(engine)


__all__ = ["DataStore", "RunFilter", "Transaction", "create_datastore", "event"]
