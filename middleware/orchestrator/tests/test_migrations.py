"""Migrations own the schema: a store made before them is upgraded with every job, run and
key kept, a new store gets the same schema the migrations build, and workers starting together
on one store are safe."""
import pathlib
import sqlite3
import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
import pytest
from sqlalchemy import create_engine, func, inspect, select, text

from dispatcher.lib import migrate, store

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "store_before_migrations.sql"
# The keys of the store in FIXTURE, made by the release before migrations: its administrator's
# and the "legacy" account's (a second key of that account was revoked).
OLD_ADMIN_KEY = "orc_upgrade-admin-key-0123456789abcdef"
LEGACY_KEY = "orc_V1GOIkJ80salUIuO2hrLy79Iu6yPLuk-AovVO38IdYU"


@pytest.fixture
def bare_url(store_url, tmp_path):
    """A store with no table at all: a new SQLite file, or the session's PostgreSQL database emptied
    of its tables (the next app's start creates them again)."""
    if store_url is None:
        return f"sqlite:///{tmp_path / 'bare.sqlite3'}"
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return store_url


def differences(engine):
    """What the store's schema lacks or has beyond the tables of :mod:`dispatcher.lib.store`."""
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), store.metadata)


def counts(engine):
    with engine.connect() as conn:
        return {t: conn.execute(select(func.count()).select_from(store.metadata.tables[t])).scalar()
                for t in ("accounts", "api_keys", "jobs", "runs", "run_events", "node_owners", "meta")}


@pytest.mark.parametrize("store_backend", ["sqlite"])
def test_a_store_made_before_migrations_is_upgraded_with_everything_kept(tmp_path, make_app):
    instance = tmp_path / "instance"
    instance.mkdir()
    with sqlite3.connect(instance / "orchestrator.sqlite3") as conn:
        conn.executescript(FIXTURE.read_text())
    engine = create_engine(f"sqlite:///{instance / 'orchestrator.sqlite3'}")
    before = counts(engine)
    assert before["jobs"] == 2 and before["runs"] == 1 and before["api_keys"] == 3

    app = make_app(ORCHESTRATOR_ADMIN_KEY=OLD_ADMIN_KEY)
    assert migrate.current(engine) == migrate.head()
    assert counts(engine) == before
    assert differences(engine) == []
    client = app.test_client()
    old_admin, legacy = ({"Authorization": f"Bearer {key}"} for key in (OLD_ADMIN_KEY, LEGACY_KEY))
    assert client.get("/api/v1/accounts/me", headers=old_admin).get_json()["is_admin"] is True
    me = client.get("/api/v1/accounts/me", headers=legacy).get_json()
    assert (me["name"], me["jobs_scheduled"]) == ("legacy", 1)
    [job] = client.get("/api/v1/jobs", headers=legacy).get_json()["items"]
    assert (job["name"], job["group"], job["schedule"]["cron"]) == ("nightly", "ops", "0 3 * * *")
    [run] = client.get(f"/api/v1/jobs/{job['id']}/runs", headers=legacy).get_json()["items"]
    assert run["status"] == "Failed" and client.get(f"/api/v1/runs/{run['id']}", headers=legacy).status_code == 200
    engine.dispose()


def test_every_revision_in_turn_builds_the_schema_a_new_store_gets(bare_url):
    engine = store.make_engine(bare_url)
    try:
        migrate.upgrade(engine, migrate.BASELINE)
        assert migrate.current(engine) == migrate.BASELINE
        assert "dummy_nodes" not in inspect(engine).get_table_names()
        migrate.upgrade(engine)
        assert migrate.current(engine) == migrate.head()
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_a_new_store_is_stamped_at_the_newest_revision(bare_url):
    engine = store.make_engine(bare_url)
    try:
        migrate.upgrade(engine)
        assert migrate.current(engine) == migrate.head()
        assert differences(engine) == []
        migrate.upgrade(engine)  # again: nothing to do
    finally:
        engine.dispose()


def test_workers_starting_together_on_a_new_store_are_safe(bare_url):
    engines = [store.make_engine(bare_url) for _ in range(6)]
    start, errors = threading.Barrier(len(engines)), []

    def boot(engine):
        try:
            start.wait()
            migrate.upgrade(engine)
        except Exception as exc:  # reported below with the others
            errors.append(exc)

    threads = [threading.Thread(target=boot, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert errors == []
        assert migrate.current(engines[0]) == migrate.head()
    finally:
        for engine in engines:
            engine.dispose()


def test_the_cli_upgrades_and_reports_the_revision(app):
    from dispatcher.cli import main

    runner = app.test_cli_runner()
    out = runner.invoke(main, ["db", "upgrade"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["db", "current"])
    assert out.exit_code == 0 and migrate.head() in out.output
