"""The Dummy cloud under the production server: one cloud for every worker and every restart.

Its state lives in the store, so gunicorn's workers agree on ids, names, owners and states, and
a restart continues where the last run stopped. And whatever happens when a new node's owner is
recorded, the node never ends up belonging to nobody.
"""
from concurrent.futures import ThreadPoolExecutor
import sqlite3
import time

import pytest
from sqlalchemy import insert, select

from dispatcher.lib import store
from service import Service

ADMIN = "dummy-shared-admin-key-0123456789abcdef"
SETTINGS = "CLOUD_FARM = {'default': {'ENGINE': 'dummy', 'EXTRA_PARAMS': {'nodes': 2, 'reboot_seconds': 0.5}}}\n"


def create(service, key, name):
    return service.call("POST", "/api/v1/clouds/default/nodes", {"name": name, "image": "1", "size": "1"}, key=key)


def test_three_workers_share_one_dummy_cloud_across_restarts(tmp_path):
    service = Service(tmp_path / "svc", ADMIN, workers=3, settings=SETTINGS).start()
    try:
        keys = {}
        for name in ("alice", "bob"):
            status, account = service.call("POST", "/api/v1/accounts", {"name": name, "plan": "free"})
            assert status == 201, account
            keys[name] = account["api_key"]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: (n % 2, create(service, keys[("alice", "bob")[n % 2]], f"n-{n}")),
                                    range(40)))
        assert [status for _, (status, _) in answers] == [201] * 40, [a for a in answers if a[1][0] != 201][:3]
        made = {0: set(), 1: set()}
        for who, (_, body) in answers:
            made[who].update(node["id"] for node in body["nodes"])
        assert len(made[0] | made[1]) == 40  # no id handed out twice, whichever worker answered

        for who, name in enumerate(("alice", "bob")):
            for _ in range(9):  # requests land on different workers: every one sees the same set
                status, page = service.call("GET", "/api/v1/clouds/default/nodes", key=keys[name])
                assert status == 200 and {n["id"] for n in page["items"]} == made[who]
        theirs = sorted(made[1])[0]
        for _ in range(6):
            status, body = service.call("GET", f"/api/v1/clouds/default/nodes/{theirs}", key=keys["alice"])
            assert status == 404, body
        status, page = service.call("GET", "/api/v1/clouds/default/nodes?limit=1000")
        assert page["total"] == 42  # the administrator sees the two initial nodes too

        status, node = service.call("POST", f"/api/v1/clouds/default/nodes/{theirs}/reboot", key=keys["bob"])
        assert status == 202 and node["state"] == "rebooting"
        deadline = time.monotonic() + 20
        while service.call("GET", f"/api/v1/clouds/default/nodes/{theirs}", key=keys["bob"])[1]["state"] != "running":
            assert time.monotonic() < deadline, "the reboot never finished"
            time.sleep(0.1)

        service.stop()
        service.start()
        status, body = create(service, keys["alice"], "after-restart")
        assert status == 201, body
        assert int(body["nodes"][0]["id"]) > max(int(i) for i in made[0] | made[1])
        status, page = service.call("GET", "/api/v1/clouds/default/nodes", key=keys["alice"])
        assert {n["id"] for n in page["items"]} == made[0] | {body["nodes"][0]["id"]}
        assert {n["name"] for n in page["items"] if n["id"] in made[0]} == {f"n-{n}" for n in range(0, 40, 2)}
        status, page = service.call("GET", "/api/v1/clouds/default/nodes?limit=1000")
        assert page["total"] == 43  # the initial nodes were made once, not again at the restart
    finally:
        service.stop()


def test_two_apps_over_one_store_see_one_dummy_cloud(make_app, admin):
    first, second = make_app().test_client(), make_app().test_client()
    made = first.post("/api/v1/clouds/default/nodes", headers=admin,
                      json={"name": "web-{n}", "image": "1", "size": "2", "count": 3}).get_json()["nodes"]
    other = second.post("/api/v1/clouds/default/nodes", headers=admin,
                        json={"name": "db", "image": "1", "size": "1"}).get_json()["nodes"]
    assert other[0]["id"] not in {n["id"] for n in made}
    seen = second.get(f"/api/v1/clouds/default/nodes/{made[1]['id']}", headers=admin).get_json()
    assert (seen["name"], seen["size"], seen["image"]) == ("web-2", "2", "1")
    assert second.delete(f"/api/v1/clouds/default/nodes/{made[0]['id']}", headers=admin).status_code == 204
    assert first.get(f"/api/v1/clouds/default/nodes/{made[0]['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize("store_backend", ["sqlite"])  # the failure is made with a SQLite trigger
def test_a_node_whose_owner_cannot_be_recorded_is_destroyed_again(make_app, admin, tmp_path):
    app = make_app()
    client = app.test_client()
    # The store refuses the owner's row, as a full disk or a lost database would.
    with sqlite3.connect(tmp_path / "instance" / "orchestrator.sqlite3") as conn:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON node_owners BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    answer = client.post("/api/v1/clouds/default/nodes", headers=admin,
                         json={"name": "orphan-{n}", "image": "1", "size": "1", "count": 2})
    assert answer.status_code == 503
    error = answer.get_json()["error"]
    assert error["code"] == "store_unavailable" and "destroyed again" in error["message"]
    assert sorted(error["details"]["destroyed"]) == sorted(error["details"]["created"]) and not error["details"]["left"]
    assert client.get("/api/v1/clouds/default/nodes", headers=admin).get_json()["items"] == []


def test_a_stale_owner_row_does_not_fail_a_create(make_app, admin, new_account):
    app = make_app()
    client = app.test_client()
    alice, alice_headers = new_account()
    # A node id the cloud hands out again (destroyed behind our back) belongs to its new creator.
    with app.extensions["orchestrator.engine"].begin() as conn:
        admin_id = conn.execute(select(store.accounts.c.id).where(store.accounts.c.is_admin)).scalar()
        conn.execute(insert(store.node_owners).values(cloud="default", node_id="1", account_id=admin_id, created_at=0))
    answer = client.post("/api/v1/clouds/default/nodes", headers=alice_headers,
                         json={"name": "fresh", "image": "1", "size": "1"})
    assert answer.status_code == 201 and answer.get_json()["nodes"][0]["id"] == "1"
    assert client.get("/api/v1/clouds/default/nodes/1", headers=alice_headers).status_code == 200
