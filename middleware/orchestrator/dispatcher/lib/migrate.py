"""Bring a store's schema up to date through the Alembic migrations in :mod:`dispatcher.migrations`.

Run at every start (and by ``orchestrator db upgrade``), by every worker and host at once, so
it takes a lock first: an advisory lock on PostgreSQL, a file lock beside a SQLite file. Then:

- a new, empty store gets the current tables and is stamped with the newest revision (what
  Alembic's documentation recommends rather than replaying every step);
- a store made before migrations owned the schema (tables, no ``alembic_version``) is stamped
  with the baseline revision, ``0001``, and upgraded like any other;
- a store at an older revision is upgraded; one at the newest is left alone.
"""
from contextlib import contextmanager
import fcntl
from functools import lru_cache
import os

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from dispatcher.lib import store

BASELINE = "0001"
_ADVISORY_KEY = 0x6F726368  # "orch": one lock for every Orchestrator process of a database


def alembic_config(connection=None):
    config = Config()
    config.set_main_option("script_location", "dispatcher:migrations")
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def head():
    """The newest revision."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(engine):
    """The store's revision (None for a store that has none)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _file_lock(engine):
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(os.path.abspath(database) + ".migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine, revision="head"):
    """Bring the store to ``revision`` (the newest by default); safe to run from many processes."""
    if revision == "head" and current(engine) == head():
        return  # the usual start: nothing to do, and no lock to wait for
    with _file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_KEY})
        config = alembic_config(conn)
        found = MigrationContext.configure(conn).get_current_revision()
        if found is None:
            tables = set(inspect(conn).get_table_names())
            if not tables & set(store.metadata.tables) and revision == "head":
                store.metadata.create_all(conn)
                command.stamp(config, "head")
                return
            if "jobs" in tables:
                command.stamp(config, BASELINE)
        command.upgrade(config, revision)
