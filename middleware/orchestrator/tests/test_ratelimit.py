"""Rate limits count callers, not spellings of their keys; in the store or in Redis."""
import pytest
from sqlalchemy import func, select

from conftest import REDIS
from dispatcher.lib import store

ADMIN_KEY = "test-admin-key-0123456789abcdef0123"


@pytest.fixture
def make_app(make_app, counts_in):
    def factory(**settings):
        return make_app(RATELIMIT_STORAGE_URI=counts_in, **settings)
    return factory


def rows(app):
    """How many counts are kept."""
    if app.config["RATELIMIT_STORAGE_URI"] == REDIS:
        import redis

        return len(redis.Redis.from_url(REDIS).keys("*"))
    with app.extensions["orchestrator.engine"].connect() as conn:
        return conn.execute(select(func.count()).select_from(store.rate_limits)).scalar()


def test_every_spelling_of_a_key_counts_against_its_account(make_app):
    app = make_app(RATE_LIMIT="5 per minute")
    client = app.test_client()
    spellings = [f"Bearer {ADMIN_KEY}", f"bearer {ADMIN_KEY}", f"BEARER    {ADMIN_KEY}", f"Bearer {ADMIN_KEY}  ",
                 f"bEaReR {ADMIN_KEY}", f"Bearer   {ADMIN_KEY}", f"BeArEr {ADMIN_KEY}"]
    statuses = [client.get("/api/v1/clouds", headers={"Authorization": s}).status_code for s in spellings]
    assert statuses == [200] * 5 + [429] * 2


def test_two_keys_of_one_account_count_together(make_app):
    app = make_app(RATE_LIMIT="4 per minute")
    accounts = app.extensions["orchestrator.accounts"]
    account, _, first = accounts.create_account("two-keys", "free")
    _, second = accounts.create_key(account["id"])
    client = app.test_client()
    statuses = [client.get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {key}"}).status_code
                for key in (first, second, first, second, first)]
    assert statuses == [200, 200, 200, 200, 429]
    # Another account keeps its own allowance.
    _, _, other = accounts.create_account("neighbour", "free")
    assert client.get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_bogus_keys_count_per_address_and_add_no_rows(make_app):
    app = make_app(RATE_LIMIT="3 per minute")
    client = app.test_client()
    before = rows(app)
    statuses = [client.get("/api/v1/clouds", headers={"Authorization": f"Bearer bogus-key-{n:04d}-0123456789"}).status_code
                for n in range(6)]
    assert statuses == [401, 401, 401, 429, 429, 429]
    assert rows(app) - before == 1  # one count: this address
    # A client sending rubbish does not lock out the valid callers behind other addresses.
    valid = client.get("/api/v1/clouds", headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                       environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert valid.status_code == 200


def test_no_key_is_counted_per_address(make_app):
    app = make_app(RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert [client.get("/api/v1/clouds").status_code for _ in range(3)] == [401, 401, 429]
    assert client.get("/api/v1/clouds", environ_base={"REMOTE_ADDR": "127.0.0.9"}).status_code == 401


def test_two_workers_count_together(make_app, counts_in):
    """Two applications over one store and one Redis (two gunicorn workers) share the counts,
    exactly when the store takes every count at once."""
    first, second = (make_app(RATE_LIMIT="3 per minute", RATELIMIT_SYNC_SECONDS=0),
                     make_app(RATE_LIMIT="3 per minute", RATELIMIT_SYNC_SECONDS=0))
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    statuses = [app.test_client().get("/api/v1/clouds", headers=headers).status_code
                for app in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]

