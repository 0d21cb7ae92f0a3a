"""API keys, the administrator bootstrap, plans and quotas, abuse limits."""
import time

import pytest
from sqlalchemy import select

from dispatcher.errors import SettingsError
from dispatcher.lib import store

JOB = {"schedule": {"cron": "0 3 * * *"}, "action": {"type": "url", "url": "http://127.0.0.1:9/"}}


def test_keys_are_stored_only_as_hashes(app, client, admin):
    created = client.post("/api/v1/accounts", json={"name": "alice", "plan": "free"}, headers=admin).json
    token = created["api_key"]
    assert len(token) >= 40  # 256 random bits, URL-safe, plus a prefix
    with app.extensions["orchestrator.engine"].connect() as conn:
        digests = conn.execute(select(store.api_keys.c.digest)).scalars().all()
    assert token not in digests and all(len(d) == 64 for d in digests)


def test_rotation_keeps_old_keys_until_revoked(client, admin):
    created = client.post("/api/v1/accounts", json={"name": "bob", "plan": "free"}, headers=admin).json
    old = {"Authorization": f"Bearer {created['api_key']}"}
    fresh = client.post(f"/api/v1/accounts/{created['id']}/keys", headers=old).json
    new = {"Authorization": f"Bearer {fresh['api_key']}"}
    assert client.get("/api/v1/accounts/me", headers=old).status_code == 200
    assert client.get("/api/v1/accounts/me", headers=new).status_code == 200
    assert client.delete(f"/api/v1/keys/{created['key_id']}", headers=new).status_code == 204
    assert client.get("/api/v1/accounts/me", headers=old).json["error"]["message"] == "this API key has been revoked"
    assert client.get("/api/v1/accounts/me", headers=new).status_code == 200


def test_unknown_plan_and_duplicate_account(client, admin):
    bad = client.post("/api/v1/accounts", json={"name": "carol", "plan": "gold"}, headers=admin)
    assert bad.status_code == 422 and "plan" in bad.json["error"]["details"]
    assert client.post("/api/v1/accounts", json={"name": "carol", "plan": "free"}, headers=admin).status_code == 201
    assert client.post("/api/v1/accounts", json={"name": "carol", "plan": "free"}, headers=admin).status_code == 409


def test_generated_admin_key_is_printed_once(make_app, capsys):
    app = make_app(ORCHESTRATOR_ADMIN_KEY=None)
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "administrator's API key is" in x)
    token = line.rsplit(" ", 1)[1]
    assert "Authorization: Bearer" in err
    client = app.test_client()
    me = client.get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {token}"}).json
    assert me["is_admin"] and me["plan"] == "unlimited"
    make_app(ORCHESTRATOR_ADMIN_KEY=None)  # same store: nothing new to print
    assert "administrator's API key" not in capsys.readouterr().err


def test_me_counts_jobs_against_the_plan(client, new_account):
    _, user = new_account("free")
    for _ in range(3):
        assert client.post("/api/v1/jobs", json=JOB, headers=user).status_code == 201
    me = client.get("/api/v1/accounts/me", headers=user).json
    assert (me["plan"], me["jobs_scheduled"], me["jobs_allowed"]) == ("free", 3, 10)


def test_quota_boundary(client, new_account):
    _, user = new_account("free")
    for n in range(10):
        assert client.post("/api/v1/jobs", json=JOB, headers=user).status_code == 201, n
    refused = client.post("/api/v1/jobs", json=JOB, headers=user)
    assert refused.status_code == 403
    error = refused.json["error"]
    assert error["code"] == "quota_exceeded"
    assert "at most 10 jobs" in error["message"] and "plan" in error["message"]
    assert client.get("/api/v1/jobs", headers=user).json["total"] == 10
    # A group replace that would pass the limit changes nothing either.
    group = client.put("/api/v1/groups/more", json={"jobs": [JOB]}, headers=user)
    assert group.status_code == 403 and client.get("/api/v1/jobs", headers=user).json["total"] == 10


def test_quota_is_checked_before_the_schedule_is_parsed(client, new_account):
    """A full account is refused for its quota even with a schedule that would answer 422:
    no schedule work is done for a job that cannot be stored."""
    _, user = new_account("free")
    for n in range(10):
        assert client.post("/api/v1/jobs", json=JOB, headers=user).status_code == 201, n
    invalid = {**JOB, "schedule": {"cron": "61 3 * * *"}}
    refused = client.post("/api/v1/jobs", json=invalid, headers=user)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "quota_exceeded"
    group = client.put("/api/v1/groups/more", json={"jobs": [invalid]}, headers=user)
    assert group.status_code == 403 and group.json["error"]["code"] == "quota_exceeded"
    # The early count leaves room for the jobs a group replaces: the schedule is looked at.
    jobs = client.get("/api/v1/jobs", headers=user).json["items"]
    client.delete(f"/api/v1/jobs/{jobs[0]['id']}", headers=user)
    assert client.put("/api/v1/groups/mine", json={"jobs": [JOB]}, headers=user).status_code == 200
    replaced = client.put("/api/v1/groups/mine", json={"jobs": [invalid]}, headers=user)
    assert replaced.status_code == 422 and "jobs.0.schedule.cron" in replaced.json["error"]["details"]


def test_unlimited_plan_has_no_limit(client, new_account):
    _, user = new_account("unlimited")
    for _ in range(12):
        assert client.post("/api/v1/jobs", json=JOB, headers=user).status_code == 201
    assert client.get("/api/v1/accounts/me", headers=user).json["jobs_allowed"] is None


def test_cloud_allow_list(make_app, new_account):
    farm = {"default": {"ENGINE": "dummy"}, "vip": {"ENGINE": "dummy", "ALLOW": ["unlimited"]}}
    app = make_app(farm=farm)
    client = app.test_client()
    account, _, token = app.extensions["orchestrator.accounts"].create_account("frugal", "free")
    user = {"Authorization": f"Bearer {token}"}
    assert [c["name"] for c in client.get("/api/v1/clouds", headers=user).json["items"]] == ["default"]
    refused = client.get("/api/v1/clouds/vip/nodes", headers=user)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    job = {**JOB, "action": {"type": "ping", "cloud": "vip", "nodes": ["1"]}}
    assert client.post("/api/v1/jobs", json=job, headers=user).status_code == 403


def test_rate_limit_answers_429_with_retry_after(make_app):
    app = make_app(RATE_LIMIT="3 per minute")
    client = app.test_client()
    headers = {"Authorization": "Bearer test-admin-key-0123456789abcdef0123"}
    statuses = [client.get("/api/v1/clouds", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/api/v1/clouds", headers=headers)
    assert limited.json["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    assert client.get("/healthz").status_code == 200  # liveness is never limited


def test_body_over_the_limit_is_413(make_app, admin):
    app = make_app(MAX_CONTENT_LENGTH=1000)
    response = app.test_client().post("/api/v1/jobs", data="{" + " " * 2000 + "}", headers=admin,
                                      content_type="application/json")
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"


# -- administration: list, show, change, delete --------------------------------------------------

def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_the_administrator_lists_accounts_in_pages(client, admin, new_account):
    alice, user = new_account("free", "alice")
    new_account("standard", "bob")
    assert client.post("/api/v1/jobs", json=JOB, headers=user).status_code == 201
    listed = client.get("/api/v1/accounts", headers=admin).json
    assert (listed["total"], listed["limit"], listed["offset"]) == (3, 100, 0)
    assert [a["name"] for a in listed["items"]] == ["admin", "alice", "bob"]  # oldest first
    first = listed["items"][1]
    assert first == {"id": alice, "name": "alice", "plan": "free", "is_admin": False,
                     "created_at": first["created_at"], "jobs_scheduled": 1, "jobs_allowed": 10,
                     "defaults": {"notify": None, "disable_after": None}}
    assert first["created_at"].endswith("Z")
    page = client.get("/api/v1/accounts?limit=1&offset=2", headers=admin).json
    assert [a["name"] for a in page["items"]] == ["bob"] and page["total"] == 3
    refused = client.get("/api/v1/accounts", headers=user)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"


def test_an_account_is_shown_to_itself_and_to_the_administrator(client, admin, new_account):
    alice, user = new_account("free", "alice")
    bob, _ = new_account("free", "bob")
    own = client.get(f"/api/v1/accounts/{alice}", headers=user)
    assert own.status_code == 200 and own.json == client.get("/api/v1/accounts/me", headers=user).json
    assert client.get(f"/api/v1/accounts/{alice}", headers=admin).json["name"] == "alice"
    assert client.get(f"/api/v1/accounts/{bob}", headers=user).status_code == 404
    assert client.get("/api/v1/accounts/nosuch", headers=admin).status_code == 404


def test_the_administrator_changes_plan_and_name(client, admin, new_account):
    alice, user = new_account("free", "alice")
    new_account("free", "bob")
    changed = client.patch(f"/api/v1/accounts/{alice}", json={"plan": "standard", "name": "alice2"}, headers=admin)
    assert changed.status_code == 200
    assert (changed.json["plan"], changed.json["name"], changed.json["jobs_allowed"]) == ("standard", "alice2", 1000)
    # The account's key sees the new plan at once, in this process.
    me = client.get("/api/v1/accounts/me", headers=user).json
    assert (me["plan"], me["name"]) == ("standard", "alice2")
    for _ in range(11):
        assert client.post("/api/v1/jobs", json=JOB, headers=user).status_code == 201

    unknown = client.patch(f"/api/v1/accounts/{alice}", json={"plan": "gold"}, headers=admin)
    assert unknown.status_code == 422 and "plan" in unknown.json["error"]["details"]
    taken = client.patch(f"/api/v1/accounts/{alice}", json={"name": "bob"}, headers=admin)
    assert taken.status_code == 409 and taken.json["error"]["message"] == "an account named 'bob' exists already"
    assert client.patch(f"/api/v1/accounts/{alice}", json={"plan": "free"}, headers=user).status_code == 403
    assert client.patch("/api/v1/accounts/nosuch", json={"plan": "free"}, headers=admin).status_code == 404


def test_a_downgrade_below_the_jobs_held_is_refused(client, admin, new_account):
    alice, user = new_account("standard", "alice")
    jobs = [client.post("/api/v1/jobs", json=JOB, headers=user).json["id"] for _ in range(11)]
    refused = client.patch(f"/api/v1/accounts/{alice}", json={"plan": "free"}, headers=admin)
    assert refused.status_code == 409
    error = refused.json["error"]
    assert error["code"] == "conflict"
    assert error["message"] == ("account 'alice' holds 11 jobs and the free plan holds at most 10; "
                                "delete 1 of its jobs first")
    assert error["details"] == {"plan": "free", "limit": 10, "scheduled": 11}
    assert client.get("/api/v1/accounts/me", headers=user).json["plan"] == "standard"
    assert client.delete(f"/api/v1/jobs/{jobs[0]}", headers=user).status_code == 204
    assert client.patch(f"/api/v1/accounts/{alice}", json={"plan": "free"}, headers=admin).json["plan"] == "free"


def test_the_administrator_account_stays_the_administrator(client, admin):
    me = client.get("/api/v1/accounts/me", headers=admin).json
    not_a_field = client.patch(f"/api/v1/accounts/{me['id']}", json={"is_admin": False}, headers=admin)
    assert not_a_field.status_code == 422 and "is_admin" in not_a_field.json["error"]["details"]
    plan = client.patch(f"/api/v1/accounts/{me['id']}", json={"plan": "free"}, headers=admin)
    assert plan.status_code == 409 and "ADMIN_PLAN" in plan.json["error"]["message"]
    renamed = client.patch(f"/api/v1/accounts/{me['id']}", json={"name": "root", "plan": "unlimited"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json["is_admin"] and renamed.json["name"] == "root"
    kept = client.delete(f"/api/v1/accounts/{me['id']}", headers=admin)
    assert kept.status_code == 409 and kept.json["error"]["message"] == "the administrator's account cannot be deleted"
    assert client.get("/api/v1/accounts/me", headers=admin).status_code == 200


def test_the_administrator_plan_follows_the_setting(make_app, admin):
    make_app()
    moved = make_app(ADMIN_PLAN="standard").test_client().get("/api/v1/accounts/me", headers=admin).json
    assert (moved["plan"], moved["is_admin"]) == ("standard", True)


def test_admin_plan_must_be_a_plan(make_app):
    with pytest.raises(SettingsError, match=r"ADMIN_PLAN 'gold' is not a plan of PLANS \(free, standard, unlimited\)"):
        make_app(ADMIN_PLAN="gold")


def test_keys_are_listed_without_their_digests(app, client, admin, new_account):
    alice, user = new_account("free", "alice")
    _, other = new_account("free", "bob")
    spare = client.post(f"/api/v1/accounts/{alice}/keys", headers=user).json
    assert client.delete(f"/api/v1/keys/{spare['key_id']}", headers=user).status_code == 204
    listed = client.get(f"/api/v1/accounts/{alice}/keys", headers=user)
    assert listed.status_code == 200 and listed.json["total"] == 2
    first, second = listed.json["items"]
    assert set(first) == {"id", "created_at", "revoked_at"}
    assert first["revoked_at"] is None and second["id"] == spare["key_id"] and second["revoked_at"].endswith("Z")
    with app.extensions["orchestrator.engine"].connect() as conn:
        digests = conn.execute(select(store.api_keys.c.digest)).scalars().all()
    assert not any(d in listed.get_data(as_text=True) for d in digests)
    assert client.get(f"/api/v1/accounts/{alice}/keys", headers=admin).json == listed.json
    assert client.get(f"/api/v1/accounts/{alice}/keys", headers=other).status_code == 404


def test_deleting_an_account_removes_its_jobs_and_keys_and_keeps_its_runs(app, client, admin, new_account):
    alice, user = new_account("free", "alice")
    node = client.post("/api/v1/clouds/default/nodes", json={"name": "web", "image": "1", "size": "1"},
                       headers=user).json["nodes"][0]["id"]
    job = client.post("/api/v1/jobs", json=JOB, headers=user).json["id"]
    run = client.post(f"/api/v1/jobs/{job}/run", headers=user).json["run_id"]
    client.post(f"/api/v1/accounts/{alice}/keys", headers=user)
    assert client.get("/api/v1/accounts/me", headers=user).status_code == 200  # its key is in the cache

    assert client.delete(f"/api/v1/accounts/{alice}", headers=admin).status_code == 204
    gone = client.get("/api/v1/accounts/me", headers=user)
    assert gone.status_code == 401 and gone.json["error"]["message"] == "unknown API key"
    assert client.get(f"/api/v1/accounts/{alice}", headers=admin).status_code == 404
    assert client.get(f"/api/v1/jobs/{job}", headers=admin).status_code == 404
    assert client.get(f"/api/v1/runs/{run}", headers=admin).json["job_id"] == job  # history stays
    assert node in [n["id"] for n in client.get("/api/v1/clouds/default/nodes", headers=admin).json["items"]]
    with app.extensions["orchestrator.engine"].connect() as conn:
        for table in (store.jobs, store.api_keys, store.node_owners):
            assert conn.execute(select(table).where(table.c.account_id == alice)).first() is None
    assert client.delete(f"/api/v1/accounts/{alice}", headers=admin).status_code == 404
    assert client.delete(f"/api/v1/accounts/{alice}", headers=user).status_code == 401


def test_a_deleted_account_is_refused_by_other_workers_within_the_cache_time(make_app, admin):
    """Two applications over one store (two gunicorn workers), each with its own key cache."""
    first, second = make_app(AUTH_CACHE_SECONDS=0.5), make_app(AUTH_CACHE_SECONDS=0.5)
    account, _, token = first.extensions["orchestrator.accounts"].create_account("alice", "free")
    assert second.test_client().get("/api/v1/accounts/me", headers=bearer(token)).status_code == 200
    assert first.test_client().delete(f"/api/v1/accounts/{account['id']}", headers=admin).status_code == 204
    assert first.test_client().get("/api/v1/accounts/me", headers=bearer(token)).status_code == 401
    time.sleep(0.6)
    assert second.test_client().get("/api/v1/accounts/me", headers=bearer(token)).status_code == 401


def test_an_admin_key_set_after_the_first_start_is_ignored_with_a_warning(make_app, admin, caplog):
    make_app()
    caplog.clear()
    other = "another-admin-key-0123456789abcdef"
    app = make_app(ORCHESTRATOR_ADMIN_KEY=other)
    warned = [r for r in caplog.records if "ORCHESTRATOR_ADMIN_KEY" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == "WARNING"
    message = warned[0].getMessage()
    assert "ignored" in message and "orchestrator keys create --admin" in message and other not in message
    assert app.test_client().get("/api/v1/accounts/me", headers=bearer(other)).status_code == 401
    caplog.clear()
    make_app()  # the administrator's own key: nothing to say
    assert not [r for r in caplog.records if "ORCHESTRATOR_ADMIN_KEY" in r.getMessage()]
