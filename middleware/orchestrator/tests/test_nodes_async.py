"""Asynchronous node creation, and a cloud's ALLOW checked again when a cloud action runs."""
import pytest

from dispatcher.lib import Provider
from service import wait_for

DUMMY = {"ENGINE": Provider.DUMMY, "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {}}
FARM = {"default": DUMMY, "vip": {**DUMMY, "ALLOW": ["standard"]}}


@pytest.fixture
def live(make_app):
    app = make_app(farm=FARM, SCHEDULER_ENABLED=True, SCHEDULER_LEASE_SECONDS=2)
    wait_for(lambda: app.extensions["orchestrator.scheduler"].is_leader)
    return app


def finished(client, headers, run_id):
    return wait_for(lambda: (lambda run: run if run["status"] in ("Completed", "Failed", "Missed") else None)(
        client.get(f"/api/v1/runs/{run_id}", headers=headers).json))


def test_async_creation_answers_a_run_that_makes_the_nodes(live, new_account):
    client = live.test_client()
    _, alice = new_account()
    _, bob = new_account()
    answer = client.post("/api/v1/clouds/default/nodes", headers=alice,
                         json={"name": "bg-{n}", "image": "1", "size": "1", "count": 2, "async": True})
    assert answer.status_code == 202, answer.json
    run_id = answer.json["run_id"]
    assert answer.headers["Location"] == f"/api/v1/runs/{run_id}" and answer.json["status"] == "Submitted"
    run = finished(client, alice, run_id)
    assert run["status"] == "Completed" and run["job_id"] is None
    made = sorted(n["name"] for n in run["result"]["created"])
    assert made == ["bg-1", "bg-2"]
    assert [e["status"] for e in run["events"]] == ["Submitted", "Running", "Completed"]
    assert client.get(f"/api/v1/last-events/{run_id}", headers=alice).json["state"]["status"] == "Completed"
    mine = client.get("/api/v1/clouds/default/nodes", headers=alice).json["items"]
    assert sorted(n["name"] for n in mine) == made
    assert client.get("/api/v1/clouds/default/nodes", headers=bob).json["items"] == []
    assert client.get(f"/api/v1/runs/{run_id}", headers=bob).status_code == 404
    listed = client.get("/api/v1/runs", headers=alice).json["items"]
    assert [r["id"] for r in listed] == [run_id]


def test_async_creation_that_fails_is_a_failed_run(live, admin):
    client = live.test_client()
    answer = client.post("/api/v1/clouds/default/nodes", headers=admin,
                         json={"name": "ghost", "image": "no-such-image", "size": "1", "async": True})
    assert answer.status_code == 202
    run = finished(client, admin, answer.json["run_id"])
    assert run["status"] == "Failed" and "no-such-image" in run["error"]


def test_async_creation_checks_the_request_first(client, admin):
    answer = client.post("/api/v1/clouds/default/nodes", headers=admin,
                         json={"name": "bad name!", "image": "1", "size": "1", "async": True})
    assert answer.status_code == 422
    assert client.get("/api/v1/runs", headers=admin).json["total"] == 0


def test_a_cloud_action_checks_the_plan_again_when_it_runs(live, admin, new_account):
    client = live.test_client()
    account_id, user = new_account(plan="standard")
    job = client.post("/api/v1/jobs", headers=user, json={
        "schedule": {"cron": "0 0 1 1 *"},
        "action": {"type": "provision", "cloud": "vip", "image": "1", "size": "1", "name": "vip-node"}}).json
    assert job["action"]["cloud"] == "vip"
    first = client.post(f"/api/v1/jobs/{job['id']}/run", headers=user).json["run_id"]
    assert finished(client, user, first)["status"] == "Completed"
    # The account moves to a plan the cloud does not allow: its job is refused when it runs.
    assert client.patch(f"/api/v1/accounts/{account_id}", json={"plan": "free"}, headers=admin).status_code == 200
    second = client.post(f"/api/v1/jobs/{job['id']}/run", headers=user).json["run_id"]
    run = finished(client, user, second)
    assert run["status"] == "Failed" and run["error"] == "the free plan may not use cloud 'vip'"
    assert len(client.get("/api/v1/clouds/vip/nodes", headers=admin).json["items"]) == 1
