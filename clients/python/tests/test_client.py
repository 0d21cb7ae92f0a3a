"""The client against a live service: every kind of route, pages, errors and retries."""
import socket

import pytest

from orchestrator_client import (Client, Conflict, ConnectionFailed, Forbidden, NotFound, OrchestratorError,
                                 QuotaExceeded, RateLimited, Unauthorized, ValidationFailed)

from conftest import ADMIN_KEY, Service, wait_for

FAR = {"cron": "0 3 1 1 *"}


def url_action(target, path="/hit"):
    return {"type": "url", "url": target.url + path}


def test_lists_follow_pages_until_total(make_user, target):
    _, client = make_user("standard")
    made = {client.create_job(FAR, url_action(target), name=f"job {i}", group="paged")["id"] for i in range(7)}
    gets = []
    client._http.event_hooks["request"].append(lambda request: gets.append(request.url.params.get("offset")))
    listed = [job["id"] for job in client.jobs(group="paged", page_size=3)]
    assert sorted(listed) == sorted(made)
    assert gets == ["0", "3", "6"]  # three pages of at most three


def test_not_found_carries_code_message_and_status(admin):
    with pytest.raises(NotFound) as caught:
        admin.job("no-such-job")
    error = caught.value
    assert (error.status, error.code) == (404, "not_found")
    assert error.message and isinstance(error, LookupError) and isinstance(error, OrchestratorError)


def test_validation_failed_carries_details(admin, target):
    with pytest.raises(ValidationFailed) as caught:
        admin.create_job({"at": "not a date at all"}, url_action(target))
    assert caught.value.status == 422 and caught.value.code == "validation_failed"
    assert any(key.startswith("schedule") for key in caught.value.details)


def test_quota_exceeded_is_forbidden(make_user, target):
    account, client = make_user("free")
    for i in range(client.me()["jobs_allowed"]):
        client.create_job(FAR, url_action(target), name=f"quota {i}")
    with pytest.raises(QuotaExceeded) as caught:
        client.create_job(FAR, url_action(target))
    assert isinstance(caught.value, Forbidden)
    assert (caught.value.status, caught.value.code) == (403, "quota_exceeded")


def test_forbidden_unauthorized_and_conflict(service, make_user, admin):
    account, client = make_user()
    with pytest.raises(Forbidden) as caught:
        list(client.accounts())
    assert (caught.value.status, caught.value.code) == (403, "forbidden")
    with Client(service.url, "not-a-key-0123456789abcdef0123456789") as stranger:
        with pytest.raises(Unauthorized) as caught:
            stranger.me()
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    with pytest.raises(Conflict):
        admin.create_account(account["name"], "free")


def test_unreachable_server_raises_connection_failed():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits = []
    with Client(f"http://127.0.0.1:{port}", ADMIN_KEY, retries=2) as client:
        client.sleep = waits.append
        with pytest.raises(ConnectionFailed):
            client.me()
    assert len(waits) == 2  # tried three times in all


def test_clouds_and_nodes(admin):
    assert sorted(c["name"] for c in admin.clouds()) == ["booting", "default", "stuck"]
    assert "capabilities" in admin.cloud("default")
    image, size = next(admin.images()), next(admin.sizes())
    list(admin.locations())
    created = admin.create_nodes("client-{n}", image["id"], size["id"], count=2, wait=True)["nodes"]
    assert len(created) == 2 and {n["state"] for n in created} == {"running"}
    ids = {n["id"] for n in created}
    assert ids <= {n["id"] for n in admin.nodes(page_size=1)}
    first = created[0]["id"]
    assert admin.node(first)["id"] == first
    assert admin.reboot_node(first)["id"] == first
    assert "reachable" in admin.ping_node(first, port=22, timeout=0.5)
    for node_id in ids:
        admin.destroy_node(node_id)
    with pytest.raises(NotFound):
        admin.node("no-such-node")


def test_async_node_creation_gives_a_run(admin):
    started = admin.create_nodes("async-{n}", "1", "1", count=1, async_=True)
    assert started["run_id"]
    done = wait_for(lambda: admin.last_event(started["run_id"])["status"] in ("Completed", "Failed")
                    and admin.run(started["run_id"]))
    assert done["status"] == "Completed", done


def test_jobs_runs_and_groups(admin, target):
    job = admin.create_job({"frequency": "daily"}, url_action(target, "/jobs"), name="client job")
    assert admin.pause_job(job["id"])["paused"] is True
    assert admin.resume_job(job["id"])["paused"] is False
    assert admin.update_job(job["id"], name="renamed")["name"] == "renamed"
    run_id = admin.run_job(job["id"])
    wait_for(lambda: admin.last_event(run_id)["status"] == "Completed")
    assert admin.run(run_id)["events"]
    assert run_id in [r["id"] for r in admin.job_runs(job["id"])]
    assert run_id in [r["id"] for r in admin.runs(job_id=job["id"], status="Completed")]
    assert run_id not in [r["id"] for r in admin.runs(job_id=job["id"], until="2000-01-01T00:00:00Z")]
    admin.delete_job(job["id"])
    with pytest.raises(NotFound):
        admin.job(job["id"])

    replaced = admin.replace_group("nightly", [{"schedule": FAR, "action": url_action(target)}] * 2)
    assert replaced["group"] == "nightly" and len(replaced["jobs"]) == 2
    assert {"group": "nightly", "jobs": 2} in list(admin.groups())
    admin.delete_group("nightly")
    assert admin.preview_schedule({"cron": "*/5 * * * *"}, count=3)["fire_times"].__len__() == 3


def test_accounts_and_keys(service, admin):
    account = admin.create_account("keyed-account", "free")
    assert admin.account(account["id"])["plan"] == "free"
    assert account["id"] in [a["id"] for a in admin.accounts(page_size=1)]
    assert admin.update_account(account["id"], plan="standard")["plan"] == "standard"
    key = admin.create_key(account["id"])
    assert key["key_id"] in [k["id"] for k in admin.keys(account["id"])]
    with Client(service.url, key["api_key"]) as client:
        assert client.me()["name"] == "keyed-account"
        admin.revoke_key(key["key_id"])
        wait_for(lambda: _refused(client), timeout=10)
    admin.delete_account(account["id"])
    with pytest.raises(NotFound):
        admin.account(account["id"])


def _refused(client):
    try:
        client.me()
    except Unauthorized:
        return True
    return False


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A service that lets one key make two requests a second."""
    running = Service(tmp_path_factory.mktemp("limited"), ADMIN_KEY, workers=1,
                      settings='RATE_LIMIT = "2 per second"\n').start()
    yield running
    running.stop()


def test_rate_limited_calls_wait_for_retry_after_and_succeed(limited):
    waits = []
    with Client(limited.url, ADMIN_KEY, retries=5) as client:
        sleep = client.sleep
        client.sleep = lambda seconds: (waits.append(seconds), sleep(seconds))
        answers = [client.me() for _ in range(6)]
    assert all(a["is_admin"] for a in answers)
    assert waits and all(0 < w <= 30 for w in waits)


def test_rate_limited_after_the_retries_raises(limited):
    with Client(limited.url, ADMIN_KEY, retries=0) as client:
        with pytest.raises(RateLimited) as caught:
            for _ in range(10):
                client.me()
    assert caught.value.status == 429 and caught.value.code == "rate_limited"
    assert caught.value.retry_after is not None and 0 <= caught.value.retry_after <= 1  # a one-second window


def test_notifications_of_a_job_and_account_defaults(make_user, target):
    account, client = make_user()
    defaults = client.set_account_defaults(account["id"], disable_after=3)["defaults"]
    assert defaults["disable_after"] == 3 and client.me()["defaults"]["disable_after"] == 3
    failing = {"type": "url", "url": target.url + "/notified", "expect_status": [201]}
    job = client.create_job(FAR, failing, notify={"on": ["failure"], "webhook": {"url": target.url + "/hook"}})
    run_id = client.run_job(job["id"])
    wait_for(lambda: client.last_event(run_id)["status"] == "Failed")
    [delivery] = wait_for(lambda: list(client.notifications(job["id"], page_size=1)))
    assert (delivery["run_id"], delivery["event"], delivery["channel"]) == (run_id, "failure", "webhook")
    assert delivery["target"] == target.url + "/hook"
    assert target.hits.get("/hook", 0) >= 1
    with pytest.raises(NotFound):
        list(client.notifications("no-such-job"))


def test_health_and_the_openapi_document(admin):
    assert admin.health() == {"status": "ok"}
    assert "/api/v1/jobs" in admin.openapi()["paths"]
