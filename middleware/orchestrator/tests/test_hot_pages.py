"""A repeated node list is answered before Flask dispatches it, with the view's own answer:
same status, body and headers, counted by the rate limiter and the metrics; everything else,
and every change, goes through the views."""
import re

from flask import request_started
import pytest
from sqlalchemy import text

from conftest import ADMIN_KEY

NODES = "/api/v1/clouds/default/nodes"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
FARM = {"default": {"ENGINE": "dummy", "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {"nodes": 3}}}


class Dispatches:
    """Counts the requests Flask dispatched (its ``request_started`` signal)."""

    def __init__(self, app):
        self.paths = []
        request_started.connect(self.record, app)

    def record(self, sender, **_):
        from flask import request

        self.paths.append(request.full_path.rstrip("?"))

    def __len__(self):
        return len(self.paths)


def test_a_repeated_list_gets_the_views_answer_without_a_dispatch(make_app, counts_in):
    app = make_app(FARM, RATE_LIMIT="100 per minute", RATELIMIT_STORAGE_URI=counts_in)
    dispatched = Dispatches(app)
    client = app.test_client()
    first = client.get(NODES, headers=ADMIN)
    second = client.get(NODES, headers=ADMIN)
    third = client.get(NODES, headers={**ADMIN, "X-Request-Id": "trace-42"})
    assert dispatched.paths == [NODES]  # the first only
    for answer in (first, second, third):
        assert answer.status_code == 200
        assert answer.get_data() == first.get_data()
        assert answer.json["total"] == len(answer.json["items"]) > 0
    assert sorted(second.headers.keys()) == sorted(first.headers.keys())
    for name in ("Content-Type", "Content-Length", "X-RateLimit-Limit", "X-RateLimit-Reset"):
        assert second.headers[name] == first.headers[name], name
    assert [a.headers["X-RateLimit-Remaining"] for a in (first, second, third)] == ["99", "98", "97"]
    assert re.fullmatch(r"[0-9a-f]{32}", second.headers["X-Request-Id"])
    assert second.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert third.headers["X-Request-Id"] == "trace-42"


def test_hot_answers_count_against_the_limit_once_and_flask_refuses_past_it(make_app, counts_in):
    app = make_app(FARM, RATE_LIMIT="3 per minute", RATELIMIT_STORAGE_URI=counts_in)
    dispatched = Dispatches(app)
    client = app.test_client()
    answers = [client.get(NODES, headers=ADMIN) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0", "0"]
    # The refusals are Flask's: the JSON error and Retry-After, from the count made before.
    assert len(dispatched) == 3
    assert answers[3].json["error"]["code"] == "rate_limited"
    assert int(answers[3].headers["Retry-After"]) >= 1
    limiter = app.extensions["orchestrator.limiter"]
    admin_id = app.extensions["orchestrator.accounts"].authenticate(ADMIN["Authorization"]).account_id
    assert limiter.storage.get(limiter.item.key_for(f"account:{admin_id}")) == 5


def test_other_callers_queries_and_methods_go_through_the_views(make_app):
    app = make_app(FARM)
    dispatched = Dispatches(app)
    client = app.test_client()
    assert client.get(NODES, headers=ADMIN).status_code == 200
    _, _, token = app.extensions["orchestrator.accounts"].create_account("someone", "free")
    user = {"Authorization": f"Bearer {token}"}
    # Another account sees its own nodes (none), however often it asks.
    for _ in range(2):
        answer = client.get(NODES, headers=user)
        assert answer.status_code == 200 and answer.json["total"] == 0
    # Another page, a HEAD, an unknown key: the views answer each.
    assert client.get(NODES + "?limit=1", headers=ADMIN).json["limit"] == 1
    assert client.head(NODES, headers=ADMIN).status_code == 200
    assert client.get(NODES, headers={"Authorization": "Bearer orc_not-a-key-0123456789"}).status_code == 401
    assert client.get(NODES).status_code == 401
    assert dispatched.paths == [NODES, NODES, NODES, NODES + "?limit=1", NODES, NODES, NODES]
    # The page asked before with limit=1 is answered hot now, and stays that page.
    again = client.get(NODES + "?limit=1", headers=ADMIN)
    assert again.json["limit"] == 1 and len(dispatched) == 7


def test_a_change_to_the_nodes_is_listed_at_once(make_app):
    app = make_app(FARM)
    dispatched = Dispatches(app)
    client = app.test_client()
    before = client.get(NODES, headers=ADMIN).json
    client.get(NODES, headers=ADMIN)
    assert len(dispatched) == 1
    made = client.post(NODES, headers=ADMIN, json={"name": "hot-1", "image": "1", "size": "1"})
    assert made.status_code == 201
    after = client.get(NODES, headers=ADMIN).json
    assert dispatched.paths[-1] == NODES and len(dispatched) == 3  # the list, the creation, the list anew
    assert after["total"] == before["total"] + 1
    assert "hot-1" in [node["name"] for node in after["items"]]
    node_id = made.json["nodes"][0]["id"]
    assert client.delete(f"{NODES}/{node_id}", headers=ADMIN).status_code in (200, 202, 204)
    assert client.get(NODES, headers=ADMIN).json["total"] == before["total"]


def test_a_revoked_key_is_refused_at_once(make_app):
    app = make_app(FARM)
    accounts = app.extensions["orchestrator.accounts"]
    admin_id = accounts.authenticate(ADMIN["Authorization"]).account_id
    key_id, token = accounts.create_key(admin_id)
    second = {"Authorization": f"Bearer {token}"}
    dispatched = Dispatches(app)
    client = app.test_client()
    assert [client.get(NODES, headers=second).status_code for _ in range(2)] == [200, 200]
    assert len(dispatched) == 1
    assert client.delete(f"/api/v1/keys/{key_id}", headers=ADMIN).status_code in (200, 204)
    answer = client.get(NODES, headers=second)
    assert answer.status_code == 401 and "revoked" in answer.json["error"]["message"]


def test_counts_that_cannot_be_reached_are_flasks_503(make_app):
    app = make_app(FARM, RATE_LIMIT="100 per minute", RATELIMIT_SYNC_SECONDS=0)
    dispatched = Dispatches(app)
    client = app.test_client()
    assert [client.get(NODES, headers=ADMIN).status_code for _ in range(2)] == [200, 200]
    assert len(dispatched) == 1
    engine = app.extensions["orchestrator.engine"]
    with engine.begin() as conn:  # the counts' table away (the store is shared by later tests: put back)
        conn.execute(text("ALTER TABLE rate_limits RENAME TO rate_limits_away"))
    try:
        answer = client.get(NODES, headers=ADMIN)
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE rate_limits_away RENAME TO rate_limits"))
    assert answer.status_code == 503 and answer.json["error"]["code"] == "store_unavailable"
    assert len(dispatched) == 2


def test_hot_answers_are_in_the_metrics_under_the_route(make_app):
    app = make_app(FARM)
    client = app.test_client()

    def answered():
        body = client.get("/metrics").get_data(as_text=True)
        found = re.search(r'orchestrator_http_requests_total\{method="GET",route="/api/v1/clouds/<cloud>/nodes",'
                          r'status="200"\} ([0-9.e+]+)', body)
        return float(found.group(1)) if found else 0.0

    before = answered()
    dispatched = Dispatches(app)
    for _ in range(4):
        assert client.get(NODES, headers=ADMIN).status_code == 200
    assert dispatched.paths == [NODES]
    assert answered() == before + 4
