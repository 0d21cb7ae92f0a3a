"""Node jobs end to end: scheduled through the API, run by the scheduler, against mimic's
OpenStack (real libcloud driver over HTTP) and the Dummy cloud."""
import uuid

import pytest

from fakes.mimic import SIZE_ID, openstack_settings
from test_scheduler import wait_for


@pytest.fixture(params=["openstack", "dummy"])
def cloud(request):
    if request.param == "dummy":
        return {"ENGINE": "dummy", "EXTRA_PARAMS": {}}, "1"
    # A fresh user: a tenant of its own, so no node of another test is in the way.
    settings = openstack_settings(request.getfixturevalue("mimic").port, user=f"u-{uuid.uuid4().hex[:8]}")
    return settings, None


def run_job(client, headers, action):
    """Schedule a paused job with ``action``, run it now, return the finished run."""
    job = client.post("/api/v1/jobs", json={"schedule": {"cron": "0 0 1 1 *"}, "action": action, "paused": True},
                      headers=headers)
    assert job.status_code == 201, job.json
    run_id = client.post(f"/api/v1/jobs/{job.json['id']}/run", headers=headers).json["run_id"]
    return wait_for(lambda: (lambda r: r if r["status"] in ("Completed", "Failed", "Missed") else None)(
        client.get(f"/api/v1/runs/{run_id}", headers=headers).json), timeout=60)


def test_provision_ping_reboot_destroy_jobs(make_app, new_account, cloud):
    settings, image = cloud
    app = make_app(farm={"default": settings}, SCHEDULER_ENABLED=True)
    client = app.test_client()
    _, user = new_account("unlimited")
    if image is None:
        image = client.get("/api/v1/clouds/default/images", headers=user).json["items"][0]["id"]
    size = "1" if settings["ENGINE"] == "dummy" else SIZE_ID

    provision = run_job(client, user, {"type": "provision", "image": image, "size": size, "name": "job-web-{n}",
                                       "count": 2, "wait": True, "timeout": 30})
    assert provision["status"] == "Completed", provision
    created = provision["result"]["created"]
    assert sorted(n["name"] for n in created) == ["job-web-1", "job-web-2"]
    listed = client.get("/api/v1/clouds/default/nodes", headers=user).json["items"]
    assert {n["id"] for n in listed} == {n["id"] for n in created}  # the account owns what its job made

    ping = run_job(client, user, {"type": "ping", "selector": {"name": "job-web-*"}, "port": 9, "timeout": 0.5})
    assert ping["status"] in ("Completed", "Failed")  # reachability depends on the addresses
    assert {r["node_id"] for r in ping["result"]["nodes"]} == {n["id"] for n in created}
    assert all(r["state"] for r in ping["result"]["nodes"])

    reboot = run_job(client, user, {"type": "reboot", "nodes": [created[0]["id"]]})
    assert reboot["status"] == "Completed", reboot

    destroy = run_job(client, user, {"type": "destroy", "selector": {"name": "job-web-*"}})
    assert destroy["status"] == "Completed", destroy
    assert client.get("/api/v1/clouds/default/nodes", headers=user).json["items"] == []
