"""API keys, the administrator bootstrap, plans and quotas, abuse limits."""
from dispatcher.lib import store
from sqlalchemy import select

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


def test_cli_creates_accounts_and_keys(app):
    runner = app.test_cli_runner()
    from dispatcher.cli import accounts, keys
    out = runner.invoke(accounts, ["create", "--name", "cli-user", "--plan", "free"])
    assert out.exit_code == 0, out.output
    account_id = out.output.split()[1]
    token = out.output.splitlines()[1].split(": ")[1]
    client = app.test_client()
    assert client.get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {token}"}).json["name"] == "cli-user"
    out = runner.invoke(keys, ["create", "--account", account_id])
    assert out.exit_code == 0 and out.output.startswith("key ")


def test_rate_limit_is_counted_across_workers(make_app, admin):
    """Two applications over one store (two gunicorn workers) share the counts."""
    first, second = make_app(RATE_LIMIT="3 per minute"), make_app(RATE_LIMIT="3 per minute")
    assert first.config["INSTANCE_PATH"] == second.config["INSTANCE_PATH"]
    statuses = [app.test_client().get("/api/v1/clouds", headers=admin).status_code
                for app in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]
