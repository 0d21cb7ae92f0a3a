"""Shared fixtures: an app factory over a throwaway store, clients, accounts and their keys.

Every app the suite builds records its responses, and the session records every log line; at
the end of the session no configured secret may appear in any of them (an API key may appear
once: in the response that created it).
"""
import json
import logging
import os
from urllib.parse import urlsplit
import uuid

from flask import request
import pytest
from sqlalchemy import create_engine, select, text

from dispatcher.lib import store

from dispatcher.application import create_app
from dispatcher.lib import Provider

pytest_plugins = ["cluster"]

ADMIN_KEY = "test-admin-key-0123456789abcdef0123"
DUMMY_FARM = {"default": {"ENGINE": Provider.DUMMY, "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {}}}


class _Captured(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


CAPTURED_LOGS = _Captured()
RESPONSES = []            # (method, path, body text) of every response of every app
SECRETS = set()           # cloud credentials, server secrets, key digests, the admin key
ISSUED_KEYS = set()       # API keys handed out by the API (each may appear once)


def pytest_configure(config):
    logging.getLogger().addHandler(CAPTURED_LOGS)
    logging.getLogger().setLevel(logging.DEBUG)


def pytest_sessionfinish(session, exitstatus):
    leaks = []
    bodies = [body for _, _, body in RESPONSES]
    logs = "\n".join(CAPTURED_LOGS.lines)
    for secret in SECRETS:
        hits = [f"{m} {p}" for m, p, body in RESPONSES if secret in body]
        if hits or secret in logs:
            leaks.append(f"secret {secret[:3]}... in {hits[:3] or 'the logs'}")
    for key in ISSUED_KEYS:
        if sum(body.count(key) for body in bodies) > 1 or key in logs:
            leaks.append(f"API key {key[:8]}... shown more than once")
    if leaks:
        print("\nSECRET LEAKS:\n" + "\n".join(leaks))
        session.exitstatus = 1


def _record_response(response):
    body = response.get_data(as_text=True) if not response.direct_passthrough else ""
    RESPONSES.append((request.method, request.path, body))
    if response.is_json and isinstance(response.json, dict) and "api_key" in response.json:
        ISSUED_KEYS.add(response.json["api_key"])
    return response


def _secrets_of(app):
    found = {app.config.get("ORCHESTRATOR_ADMIN_KEY"), app.config.get("METRICS_TOKEN")}
    for entry in app.config["CLOUD_FARM"].values():
        if str(entry.get("ENGINE")) not in ("dummy", "example"):
            found |= {entry.get("USER"), entry.get("PASSWORD")}
    found.add(urlsplit(app.config.get("EVENTS_URL") or "").password)
    found.add(urlsplit(app.config.get("SMTP_URL") or "").password)
    with app.extensions["orchestrator.engine"].connect() as conn:
        found |= set(conn.execute(select(store.api_keys.c.digest)).scalars())
        found |= set(conn.execute(select(store.meta.c.value).where(store.meta.c.key == "key_secret")).scalars())
        # Webhook secrets of jobs and of accounts' defaults.
        for options in [*conn.execute(select(store.jobs.c.options)).scalars(),
                        *conn.execute(select(store.accounts.c.defaults)).scalars()]:
            webhook = (json.loads(options or "{}").get("notify") or {}).get("webhook") or {}
            found.add(webhook.get("secret"))
    return {s for s in found if s and len(s) >= 6}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ("ORCHESTRATOR_SETTINGS", "ORCHESTRATOR_ADMIN_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield
    # Flask's CLI, run through click's runner, leaves this set; app.run() (make_mw_docs.sh's
    # server, started by a later test) would then refuse to serve.
    os.environ.pop("FLASK_RUN_FROM_CLI", None)


POSTGRES_SERVER = os.environ.get("ORCHESTRATOR_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


def server_missing(what, error):
    """Skip, or under CI (where every server must be there) fail, a test whose server is down."""
    message = f"{what} is not reachable: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI runs every backend: start it, see .ci/run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_database():
    """A database of its own on the local PostgreSQL server for this session, dropped at the end."""
    name = f"orchestrator_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    server = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # psycopg missing or the server down: said once per test
        server.dispose()
        yield exc
        return
    url = f"{POSTGRES_SERVER}/{name}"
    yield url
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


def empty_postgres(url):
    """Empty every table of the session's database (faster than a database per test)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                       "AND tablename <> 'alembic_version'")).scalars().all()
            if tables:
                conn.execute(text(f"TRUNCATE {', '.join(f'{chr(34)}{t}{chr(34)}' for t in tables)} "
                                  "RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


REDIS = "redis://127.0.0.1:6379/15"  # a database of the local server kept for the tests


@pytest.fixture
def redis_db():
    """The tests' database on the real Redis, emptied first."""
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        server_missing("Redis", exc)
    return client


@pytest.fixture(params=["orchestrator+sql://", REDIS])
def counts_in(request):
    """Where the rate limiter counts: the store (the default), then the real Redis, emptied first."""
    if request.param == REDIS:
        request.getfixturevalue("redis_db")
    return request.param


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request):
    """The store every app of a test uses; tests that read the SQLite file narrow it to sqlite."""
    return request.param


@pytest.fixture
def store_url(store_backend, request):
    """The DATABASE_URL of this test's store: None for the default SQLite file."""
    if store_backend == "sqlite":
        return None
    database = request.getfixturevalue("postgres_database")
    if isinstance(database, Exception):
        server_missing("PostgreSQL", database)
    empty_postgres(database)
    return database


@pytest.fixture
def make_app(tmp_path, store_url):
    """Build an app over a fresh store (SQLite, then PostgreSQL); keyword arguments override settings."""
    apps = []

    def factory(farm=None, **settings):
        config = {"INSTANCE_PATH": str(tmp_path / "instance"), "ORCHESTRATOR_ADMIN_KEY": ADMIN_KEY,
                  "CLOUD_FARM": farm or DUMMY_FARM, "RATE_LIMIT": "", "TESTING": True,
                  "SCHEDULER_ENABLED": False}
        if store_url:
            config["DATABASE_URL"] = store_url
        config.update(settings)
        built = create_app(config)
        built.after_request(_record_response)
        apps.append(built)
        return built
    yield factory
    for built in apps:
        SECRETS.update(_secrets_of(built))
        scheduler = built.extensions["orchestrator.scheduler"]
        if scheduler._thread is not None:
            scheduler.stop(wait=False)
        publisher = built.extensions["orchestrator.events"]
        if publisher is not None:
            publisher.stop(timeout=0)
        built.extensions["orchestrator.notifier"].stop(timeout=0)
        built.extensions["orchestrator.engine"].dispose()


@pytest.fixture(scope="module")
def mimic():
    """mimic (OpenStack and Rackspace APIs) on 127.0.0.1, one per test module."""
    from fakes.mimic import start_mimic

    server = start_mimic()
    yield server
    server.stop()


@pytest.fixture
def live(make_app):
    """An app whose scheduler runs (and holds the lease)."""
    from service import wait_for

    app = make_app(SCHEDULER_ENABLED=True, SCHEDULER_LEASE_SECONDS=2)
    wait_for(lambda: app.extensions["orchestrator.scheduler"].is_leader)
    return app


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin():
    """Headers of the administrator."""
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def new_account(app):
    """Create an account; returns (account id, headers carrying its key)."""
    counter = iter(range(1, 10_000))

    def factory(plan="free", name=None):
        account, _, token = app.extensions["orchestrator.accounts"].create_account(
            name or f"user-{next(counter)}", plan)
        return account["id"], {"Authorization": f"Bearer {token}"}
    return factory
