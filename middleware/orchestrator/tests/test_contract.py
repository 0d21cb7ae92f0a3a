"""The request boundary: what a body must be, and that whatever is accepted can be answered.

A job is stored as JSON and answered in every list of its owner and of the administrator: a
body that could be stored but not encoded again would make those lists fail for good.
"""
import json

import pytest

JOB = {"schedule": {"cron": "0 3 * * *"}, "action": {"type": "url", "url": "http://127.0.0.1:9/x"}}


def post(client, headers, body):
    """POST a job as JSON text written by the standard encoder, which escapes lone surrogates
    as a client in another language would send them."""
    return client.post("/api/v1/jobs", data=json.dumps(body), headers=headers, content_type="application/json")


def nested(depth):
    body = "leaf"
    for _ in range(depth):
        body = [body]
    return body


@pytest.mark.parametrize("body, where", [
    (nested(254), "action.body"),
    (nested(40), "action.body"),
    ({"k": "\udc00"}, "action.body.k"),
    ("\ud800 text", "action.body"),
])
def test_a_body_that_could_not_be_answered_is_refused_and_nothing_is_stored(client, admin, body, where):
    job = {**JOB, "action": {**JOB["action"], "body": body}}
    answer = post(client, admin, job)
    assert answer.status_code == 422, answer.get_data(as_text=True)[:300]
    error = answer.get_json()["error"]
    assert error["code"] == "validation_failed" and len(error["details"]) == 1
    assert next(iter(error["details"])).startswith(where)
    listed = client.get("/api/v1/jobs", headers=admin)
    assert listed.status_code == 200 and listed.get_json()["total"] == 0


def test_a_name_holding_a_lone_surrogate_is_refused(client, admin):
    answer = post(client, admin, {**JOB, "name": "nightly \udc00"})
    assert answer.status_code == 422 and list(answer.get_json()["error"]["details"]) == ["name"]
    key = post(client, admin, {**JOB, "action": {**JOB["action"], "body": {"\udc00": 1}}})
    assert key.status_code == 422 and list(key.get_json()["error"]["details"]) == ["action.body.\\udc00"]


def test_a_deep_body_within_the_limit_is_stored_listed_returned_and_deleted(client, admin):
    job = {**JOB, "action": {**JOB["action"], "body": nested(25)}}
    made = client.post("/api/v1/jobs", json=job, headers=admin)
    assert made.status_code == 201, made.get_json()
    job_id = made.get_json()["id"]
    assert client.get("/api/v1/jobs", headers=admin).get_json()["items"][0]["action"]["body"] == nested(25)
    assert client.get(f"/api/v1/jobs/{job_id}", headers=admin).get_json()["action"]["body"] == nested(25)
    assert client.delete(f"/api/v1/jobs/{job_id}", headers=admin).status_code == 204


def test_unclosed_brackets_are_a_bad_request(client, admin):
    answer = client.post("/api/v1/jobs", data="[" * 1000, headers=admin, content_type="application/json")
    assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "bad_request"
    deep = client.post("/api/v1/jobs", data="[" * 100_000 + "]" * 100_000, headers=admin,
                       content_type="application/json")
    assert deep.status_code == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_not_sent_as_json_is_415(client, admin, content_type):
    headers = {**admin, **({"Content-Type": content_type} if content_type else {})}
    answer = client.post("/api/v1/jobs", data=json.dumps(JOB), headers=headers)
    assert answer.status_code == 415, answer.get_json()
    assert answer.get_json()["error"]["code"] == "unsupported_media_type"
    assert client.get("/api/v1/jobs", headers=admin).get_json()["total"] == 0


def test_json_with_a_charset_or_a_json_suffix_is_json(client, admin):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        answer = client.post("/api/v1/jobs", data=json.dumps(JOB), headers={**admin, "Content-Type": content_type})
        assert answer.status_code == 201, answer.get_json()


@pytest.mark.parametrize("body, kind", [("[1]", "an array"), ('"job"', "a string"), ("3", "a number"),
                                        ("null", "null")])
def test_a_body_that_is_not_an_object_says_what_was_expected(client, admin, body, kind):
    answer = client.post("/api/v1/jobs", data=body, headers=admin, content_type="application/json")
    assert answer.status_code == 422
    assert answer.get_json()["error"]["message"] == f"invalid body: expected a JSON object, got {kind}"


def test_limits_come_from_the_settings(make_app, admin):
    client = make_app(NODES_PER_REQUEST_MAX=3, NODE_WAIT_TIMEOUT_MAX=5, PAGE_SIZE_MAX=2).test_client()
    create = {"name": "n-{n}", "image": "1", "size": "1"}
    too_many = client.post("/api/v1/clouds/default/nodes", json={**create, "count": 4}, headers=admin)
    assert too_many.status_code == 422 and "count" in too_many.get_json()["error"]["details"]
    assert client.post("/api/v1/clouds/default/nodes", json={**create, "count": 3}, headers=admin).status_code == 201
    too_long = client.post("/api/v1/clouds/default/nodes", json={**create, "wait": True, "timeout": 6}, headers=admin)
    assert too_long.status_code == 422 and "timeout" in too_long.get_json()["error"]["details"]
    assert client.get("/api/v1/clouds/default/nodes?limit=3", headers=admin).status_code == 422
    assert client.get("/api/v1/clouds/default/nodes?limit=2", headers=admin).get_json()["limit"] == 2
    provision = {**JOB, "action": {"type": "provision", "image": "1", "size": "1", "name": "p", "count": 4}}
    assert client.post("/api/v1/jobs", json=provision, headers=admin).status_code == 422
    document = client.get("/api/v1/openapi.json").get_json()
    count = document["components"]["schemas"]["NodeCreate"]["properties"]["count"]
    assert (count["minimum"], count["maximum"]) == (1, 3)


def test_booleans_are_booleans(client, admin):
    answer = client.post("/api/v1/jobs", json={**JOB, "paused": 1}, headers=admin)
    assert answer.status_code == 422 and "paused" in answer.get_json()["error"]["details"]


def test_a_job_stored_before_these_checks_is_still_listed_and_deletable(client, admin, app):
    """Stores written by earlier versions may hold such a job: its lists answer, and it can go."""
    import uuid

    from dispatcher.lib import store

    job_id = uuid.uuid4().hex
    with app.extensions["orchestrator.engine"].begin() as conn:
        owner = conn.execute(store.accounts.select().where(store.accounts.c.is_admin)).mappings().first()["id"]
        conn.execute(store.jobs.insert().values(
            id=job_id, account_id=owner, name="old", group=None, schedule=json.dumps({"cron": "0 3 * * *"}),
            action=json.dumps({"type": "url", "url": "http://127.0.0.1:9/x", "body": [nested(300), "\udc00"]}),
            overlap="skip", paused=True, next_run_at=None, created_at=0.0, updated_at=0.0))
    listed = client.get("/api/v1/jobs", headers=admin)
    assert listed.status_code == 200
    item = listed.get_json()["items"][0]  # strict UTF-8 JSON: the lone surrogate became U+FFFD
    assert item["id"] == job_id and item["action"]["body"][1] == "\ufffd"
    assert client.get(f"/api/v1/jobs/{job_id}", headers=admin).status_code == 200
    assert client.delete(f"/api/v1/jobs/{job_id}", headers=admin).status_code == 204


def test_whole_numbers_are_whole(client, admin):
    """An integer field takes no fraction, which it would otherwise drop (2.5 attempts as 2)."""
    for body in ({**JOB, "retry": {"attempts": 2.5}}, {**JOB, "disable_after": 3.5}):
        answer = client.post("/api/v1/jobs", json=body, headers=admin)
        assert answer.status_code == 422, answer.get_json()
    assert client.get("/api/v1/jobs", headers=admin).get_json()["total"] == 0
