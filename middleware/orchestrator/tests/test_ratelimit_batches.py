"""Counts in the store (and in Redis) travel in batches: exact for each process, within a slack
across them."""
import threading
import time

import pytest
from sqlalchemy import func, select

from conftest import REDIS
from dispatcher.errors import SettingsError
from dispatcher.lib import store
from service import wait_for

ADMIN_KEY = "test-admin-key-0123456789abcdef0123"


def storage_of(app):
    return app.extensions["orchestrator.limiter"].storage


def stored_count(app, key_part="LIMITER"):
    with app.extensions["orchestrator.engine"].connect() as conn:
        return conn.execute(select(func.sum(store.rate_limits.c.count))
                            .where(store.rate_limits.c.key.like(f"{key_part}%"))).scalar() or 0


def test_far_from_the_limit_counts_reach_the_store_in_batches(make_app):
    app = make_app(RATE_LIMIT="10000 per minute")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    answers = [client.get("/api/v1/clouds", headers=headers) for _ in range(40)]
    assert [a.status_code for a in answers] == [200] * 40
    # The process's own view is exact: every request is counted at once in its answer...
    assert [int(a.headers["X-RateLimit-Remaining"]) for a in answers] == list(range(9999, 9959, -1))
    # ...and the store gets them all, in fewer writes than requests.
    wait_for(lambda: stored_count(app) == 40)
    assert storage_of(app).sync() is False  # nothing left held


def test_near_a_small_limit_two_workers_pass_it_by_one_slack_at_most(make_app):
    """Near the limit each process sends its counts: the other's slack (1 here) is the margin."""
    first, second = make_app(RATE_LIMIT="10 per minute"), make_app(RATE_LIMIT="10 per minute")
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    statuses = [app.test_client().get("/api/v1/clouds", headers=headers).status_code
                for app in (first, second) * 8]
    accepted = statuses.count(200)
    assert 10 <= accepted <= 11 and statuses == [200] * accepted + [429] * (16 - accepted)


def test_two_busy_workers_pass_a_limit_by_at_most_their_slack(make_app):
    limit = 400  # a slack of 4 per process
    first, second = make_app(RATE_LIMIT=f"{limit} per minute"), make_app(RATE_LIMIT=f"{limit} per minute")
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    clients = [first.test_client(), second.test_client()]
    accepted = sum(clients[n % 2].get("/api/v1/clouds", headers=headers).status_code == 200
                   for n in range(2 * limit))
    assert limit <= accepted <= limit + 2 * 4


def test_counts_the_store_refuses_are_kept_for_the_next_batch(make_app):
    app = make_app(RATE_LIMIT="10000 per minute")
    storage = storage_of(app)
    storage.sync_seconds = 3600  # no sender batches during the test: this test sends
    client = app.test_client()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for _ in range(5):
        assert client.get("/api/v1/clouds", headers=headers).status_code == 200
    datastore, storage.datastore = storage.datastore, BrokenStore()
    with pytest.raises(RuntimeError):
        storage.sync()
    storage.datastore = datastore
    assert storage.sync() is True
    assert stored_count(app) == 5


class BrokenStore:
    def incr_limits(self, counts, now):
        raise RuntimeError("the store is away")


@pytest.mark.parametrize("value", [-1, 61, "0.05", True, None])
def test_a_bad_sync_period_stops_the_start(make_app, value):
    with pytest.raises(SettingsError, match="RATELIMIT_SYNC_SECONDS"):
        make_app(RATE_LIMIT="10 per minute", RATELIMIT_SYNC_SECONDS=value)


def test_sync_period_zero_sends_every_count(make_app):
    app = make_app(RATE_LIMIT="10000 per minute", RATELIMIT_SYNC_SECONDS=0)
    client = app.test_client()
    for n in range(1, 6):
        assert client.get("/api/v1/clouds", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).status_code == 200
        assert stored_count(app) == n


# -- the limiter's own settings and failures -------------------------------------------------


@pytest.mark.parametrize("value", ["often", "12 per fortnight", 5])
def test_a_bad_rate_limit_stops_the_start(make_app, value):
    with pytest.raises(SettingsError, match="RATE_LIMIT"):
        make_app(RATE_LIMIT=value)


def test_a_bad_storage_url_stops_the_start_without_its_password(make_app):
    with pytest.raises(SettingsError, match="RATELIMIT_STORAGE_URI") as caught:
        make_app(RATE_LIMIT="10 per minute", RATELIMIT_STORAGE_URI="nosuch://user:hunter2-secret@127.0.0.1:1/0")
    assert "hunter2-secret" not in str(caught.value)


def test_counts_that_cannot_be_reached_answer_503_and_change_nothing(make_app, caplog):
    app = make_app(RATE_LIMIT="10 per minute", RATELIMIT_STORAGE_URI="redis://:hunter2-secret@127.0.0.1:1/0")
    client = app.test_client()
    answer = client.post("/api/v1/jobs", json={"name": "never"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert answer.status_code == 503 and answer.json["error"]["code"] == "store_unavailable"
    assert client.get("/healthz").status_code == 200  # not counted, so not refused
    assert "hunter2-secret" not in caplog.text and "hunter2-secret" not in answer.get_data(as_text=True)
    admin_account = app.extensions["orchestrator.accounts"].authenticate(f"Bearer {ADMIN_KEY}").account_id
    assert app.extensions["orchestrator.datastore"].count_jobs(admin_account) == 0


def test_uncounted_routes_and_the_headers_of_counted_ones(make_app):
    app = make_app(RATE_LIMIT="2 per minute")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for _ in range(4):
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200
    first = client.get("/api/v1/clouds", headers=headers)
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("2", "1")
    assert int(first.headers["X-RateLimit-Reset"]) > 0
    client.get("/api/v1/clouds", headers=headers)
    refused = client.get("/api/v1/clouds", headers=headers)
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.json["error"] == {"code": "rate_limited", "message": "rate limit of 2 per 1 minute exceeded",
                                     "details": {}}


def redis_total(client):
    return sum(int(client.get(key)) for key in client.keys("*LIMITER*"))


def test_counts_for_redis_travel_in_batches_too(make_app, redis_db):
    app = make_app(RATE_LIMIT="10000 per minute", RATELIMIT_STORAGE_URI=REDIS)
    assert type(storage_of(app)).__name__ == "BatchedStorage"
    client = app.test_client()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    answers = [client.get("/api/v1/clouds", headers=headers) for _ in range(40)]
    assert [int(a.headers["X-RateLimit-Remaining"]) for a in answers] == list(range(9999, 9959, -1))
    wait_for(lambda: redis_total(redis_db) == 40)
    assert storage_of(app).sync() is False
    # The window's end is Redis's, to the second, and the same in every answer.
    resets = {int(a.headers["X-RateLimit-Reset"]) for a in answers}
    ends = time.time() + redis_db.ttl(redis_db.keys("*LIMITER*")[0])
    assert len(resets) == 1 and abs(resets.pop() - ends) <= 2


def test_two_busy_workers_counting_in_redis_pass_a_limit_by_at_most_their_slack(make_app, redis_db):
    limit = 400  # a slack of 4 per process
    apps = [make_app(RATE_LIMIT=f"{limit} per minute", RATELIMIT_STORAGE_URI=REDIS) for _ in range(2)]
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    clients = [app.test_client() for app in apps]
    accepted = sum(clients[n % 2].get("/api/v1/clouds", headers=headers).status_code == 200
                   for n in range(2 * limit))
    assert limit <= accepted <= limit + 2 * 4
    wait_for(lambda: redis_total(redis_db) == 2 * limit)


def test_redis_counts_exactly_with_no_sync_period(make_app, redis_db):
    app = make_app(RATE_LIMIT="10000 per minute", RATELIMIT_STORAGE_URI=REDIS, RATELIMIT_SYNC_SECONDS=0)
    assert type(storage_of(app)).__name__ != "BatchedStorage"
    client = app.test_client()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for n in range(1, 4):
        assert client.get("/api/v1/clouds", headers=headers).status_code == 200
        assert redis_total(redis_db) == n  # at once, before any period


def test_clear_and_reset_forget_held_and_shared_counts(make_app, counts_in):
    app = make_app(RATE_LIMIT="10000 per minute", RATELIMIT_STORAGE_URI=counts_in)
    storage, client = storage_of(app), app.test_client()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for _ in range(3):
        client.get("/api/v1/clouds", headers=headers)
    key = next(iter(storage.windows))
    assert storage.get(key) == 3
    wait_for(lambda: storage.stored_count(key, time.time()) == 3)  # no batch left on its way
    storage.clear(key)
    assert storage.get(key) == 0 and key not in storage.windows
    client.get("/api/v1/clouds", headers=headers)
    assert storage.get(key) == 1
    wait_for(lambda: storage.stored_count(key, time.time()) == 1)
    storage.reset()
    assert storage.get(key) == 0 and not storage.windows


def test_a_batch_on_its_way_stays_in_the_process_view(make_app, store_backend):
    """While a batch waits for the store, the process's answers still count it: the remaining
    allowance never goes back up."""
    app = make_app(RATE_LIMIT="10000 per minute")
    storage, client = storage_of(app), app.test_client()
    storage.sync_seconds = 3600  # no batches but the one this test sends, and views stay fresh
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def remaining():
        return int(client.get("/api/v1/clouds", headers=headers).headers["X-RateLimit-Remaining"])

    assert [remaining() for _ in range(6)] == list(range(9999, 9993, -1))
    key = next(iter(storage.windows))
    engine = app.extensions["orchestrator.engine"]
    blocker = engine.connect()  # another writer holds the counts' table: the batch waits for it
    blocker.exec_driver_sql("BEGIN IMMEDIATE" if store_backend == "sqlite" else "BEGIN")
    if store_backend == "postgresql":
        blocker.exec_driver_sql("LOCK TABLE rate_limits IN SHARE ROW EXCLUSIVE MODE")
    batch = threading.Thread(target=storage.sync)
    try:
        batch.start()
        wait_for(lambda: storage.windows[key].sending == 5)
        assert remaining() == 9993  # 1 stored, 5 on their way, this one
    finally:
        blocker.rollback()
        blocker.close()
    batch.join(timeout=30)
    assert remaining() == 9992
    storage.sync()
    assert stored_count(app) == 8
