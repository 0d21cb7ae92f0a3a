"""The store: SQLAlchemy tables and the engine, SQLite by default, PostgreSQL by URL."""
import os
import random
import sqlite3
import time

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text, UniqueConstraint, create_engine, event, make_url)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from dispatcher.errors import SettingsError
from dispatcher.lib.secrets import registry as secrets

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

accounts = Table(
    "accounts", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(120), nullable=False, unique=True),
    Column("plan", String(64), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    # JSON: notify and disable_after for the account's jobs that do not say their own
    Column("defaults", Text, nullable=False, server_default="{}"),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("digest", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)

node_owners = Table(
    "node_owners", metadata,
    Column("cloud", String(64), primary_key=True),
    Column("node_id", String(255), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
)

jobs = Table(
    "jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("group", String(200), nullable=True, index=True),
    Column("schedule", Text, nullable=False),       # JSON, as the client sent it (normalised)
    Column("action", Text, nullable=False),         # JSON
    Column("overlap", String(16), nullable=False, default="skip"),
    Column("paused", Boolean, nullable=False, default=False),
    Column("next_run_at", Float, nullable=True, index=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # JSON: retry, timeout, notify, disable_after, as the client sent them (normalised)
    Column("options", Text, nullable=False, server_default="{}"),
    Column("failures", Integer, nullable=False, server_default="0"),     # consecutive failed runs
    Column("paused_reason", String(200), nullable=True),                 # why it was paused, when not by hand
    Column("run_count", Integer, nullable=False, server_default="0"),    # occurrences claimed (max_runs)
)

runs = Table(
    "runs", metadata,
    Column("id", String(36), primary_key=True),
    # Runs outlive their job; a run of no job (an asynchronous node creation) has none.
    Column("job_id", String(32), nullable=True, index=True),
    Column("account_id", String(32), nullable=False, index=True),
    Column("scheduled_for", Float, nullable=False),
    Column("deadline", Float, nullable=False),      # the latest time the run may still start
    Column("action", Text, nullable=False),         # the job's action as it was when claimed
    Column("overlap", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("submitted_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("holder", String(64), nullable=True),    # the scheduler or worker running it
    Column("options", Text, nullable=True),         # the job's options as they were when claimed
    # The claim: one run per job per scheduled time, whoever tries to make a second.
    UniqueConstraint("job_id", "scheduled_for", name="uq_run_job_time"),
    Index("ix_runs_job_submitted", "job_id", "submitted_at"),
    Index("ix_runs_account_submitted", "account_id", "submitted_at"),
    Index("ix_runs_submitted", "submitted_at"),
)

run_events = Table(
    "run_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("at", Float, nullable=False),
    Column("message", Text, nullable=True),
)

# Every notification a job's runs gave, one row per target: what was sent where, and how it went.
notifications = Table(
    "notifications", metadata,
    Column("id", String(32), primary_key=True),
    Column("job_id", String(32), nullable=False),   # outlive their job, as runs do
    Column("account_id", String(32), nullable=False),
    Column("run_id", String(36), nullable=True),
    Column("event", String(16), nullable=False),    # failure, recovery, disabled, missed
    Column("channel", String(16), nullable=False),  # webhook, email
    Column("target", String(2048), nullable=False), # the URL (its password hidden) or the address
    Column("status", String(16), nullable=False),   # delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
    Index("ix_notifications_job_created", "job_id", "created_at"),
    Index("ix_notifications_created", "created_at"),
)

leases = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# The Dummy cloud's state: every worker and host sharing the store sees one Dummy cloud.
dummy_nodes = Table(
    "dummy_nodes", metadata,
    # AUTOINCREMENT (SQLite) and sequences (PostgreSQL) never hand an id out twice.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cloud", String(64), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    Column("state", String(16), nullable=False),       # running, or pending/rebooting until ready_at
    Column("ready_at", Float, nullable=True),
    Column("size", String(64), nullable=True),
    Column("image", String(64), nullable=True),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)

dummy_clouds = Table(
    "dummy_clouds", metadata,
    Column("cloud", String(64), primary_key=True),     # present once its initial nodes were made
    Column("created_at", Float, nullable=False),
)

# Schedulers and workers that run runs say they are alive; the reaper fails the runs of those
# that stopped saying so.
workers = Table(
    "workers", metadata,
    Column("holder", String(64), primary_key=True),
    Column("seen_at", Float, nullable=False),
)

rate_limits = Table(
    "rate_limits", metadata,
    Column("key", String(128), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# The Open Service Broker's instances (each an account) and bindings (each an API key of it).
# Deleting the account, through the broker or the API, takes them with it.
broker_instances = Table(
    "broker_instances", metadata,
    Column("id", String(255), primary_key=True),         # the platform's instance id
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("service_id", String(255), nullable=False),
    Column("plan_id", String(255), nullable=False),
    Column("parameters", Text, nullable=False),           # JSON, as provisioned and updated
    Column("context", Text, nullable=True),               # JSON, the platform's context at provisioning
    Column("origin_platform", String(64), nullable=True),  # X-Broker-API-Originating-Identity: who asked
    Column("origin_identity", Text, nullable=True),        # its decoded value, JSON
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

broker_bindings = Table(
    "broker_bindings", metadata,
    Column("id", String(255), primary_key=True),          # the platform's binding id
    Column("instance_id", String(255), ForeignKey("broker_instances.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("key_id", String(32), nullable=False),         # the API key it issued
    Column("request", Text, nullable=False),              # JSON: what a repeated request must match
    Column("origin_platform", String(64), nullable=True),
    Column("origin_identity", Text, nullable=True),
    Column("created_at", Float, nullable=False),
)


# Signed-in sessions of the web dashboard: the cookie holds a random id, the store its SHA-256
# digest. A session lives while its API key does: revoking the key refuses it, deleting the
# key (or its account) deletes it.
ui_sessions = Table(
    "ui_sessions", metadata,
    Column("digest", String(64), primary_key=True),
    Column("key_id", String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),     # the token every form of the session carries
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)


def insert_for(engine):
    """The dialect's INSERT, which has ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


def now():
    return time.time()


def _sqlite_pragmas(dbapi_connection, _record):
    # WAL lets readers work while the scheduler writes; busy_timeout queues writers
    # instead of failing them with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    # Switching a new file to WAL needs an exclusive lock, for which SQLite does not wait:
    # workers starting together on a new store take turns.
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.01 + random.random() * 0.02)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def default_url(instance_path):
    try:
        os.makedirs(instance_path, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"INSTANCE_PATH {instance_path!r}: cannot create the folder: {exc.strerror}") from None
    return "sqlite:///" + os.path.join(instance_path, "orchestrator.sqlite3")


def shown_url(url):
    """``url`` fit for a message: the password hidden, or nothing when it cannot be parsed and
    might hold one."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not shown: it may hold a password)" if "@" in url else repr(url)


def make_engine(url, setting="DATABASE_URL"):
    """An engine for ``url``; SQLite connections get WAL and a busy timeout.

    A URL that cannot be parsed, or names a dialect or driver that is not installed, raises
    :class:`SettingsError` naming ``setting``, with the password hidden.
    """
    where = f"{setting} {shown_url(url)}"
    try:
        password = make_url(url).password
    except ArgumentError:
        raise SettingsError(f"{where} is not a database URL: "
                            f"expected dialect+driver://user:password@host/database") from None
    secrets.add(password)  # whatever a driver's message repeats of it, the logs never show
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError:
        raise SettingsError(f"{where}: unknown database dialect or driver {make_url(url).drivername!r}") from None
    except ImportError as exc:
        raise SettingsError(f"{where}: its database driver is not installed ({exc})") from None
    except (ArgumentError, TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: {secrets.redact(exc)}") from None
    return engine


def cannot_open(engine, exc, setting="DATABASE_URL"):
    """The :class:`SettingsError` for a store that cannot be opened or reached (``exc`` is the
    driver's error, wrapped by SQLAlchemy)."""
    orig = getattr(exc, "orig", None)
    reason = str(orig).strip().splitlines()[0] if orig is not None and str(orig).strip() else type(exc).__name__
    return SettingsError(f"{setting} {engine.url.render_as_string(hide_password=True)}: "
                         f"cannot open the database: {secrets.redact(reason)}")
