"""Every route x every kind of caller: the status each cell must answer."""
import pytest

JOB = {"name": "probe", "schedule": {"cron": "0 3 * * *"}, "action": {"type": "url", "url": "http://127.0.0.1:9/"}}
NODE = {"name": "web", "image": "1", "size": "1"}

# (method, path template, body, status for the owner, status for the administrator,
#  status for another account)
ROUTES = [
    ("GET", "/api/v1/clouds", None, 200, 200, 200),
    ("GET", "/api/v1/clouds/default", None, 200, 200, 200),
    ("GET", "/api/v1/clouds/default/images", None, 200, 200, 200),
    ("GET", "/api/v1/clouds/default/sizes", None, 200, 200, 200),
    ("GET", "/api/v1/clouds/default/locations", None, 200, 200, 200),
    ("GET", "/api/v1/clouds/default/nodes", None, 200, 200, 200),
    ("POST", "/api/v1/clouds/default/nodes", NODE, 201, 201, 201),
    ("GET", "/api/v1/clouds/default/nodes/{node}", None, 200, 200, 404),
    ("POST", "/api/v1/clouds/default/nodes/{node}/reboot", None, 202, 202, 404),
    ("POST", "/api/v1/clouds/default/nodes/{node}/ping", {"port": 9, "timeout": 0.2}, 200, 200, 404),
    ("DELETE", "/api/v1/clouds/default/nodes/{node}", None, 204, 204, 404),
    ("POST", "/api/v1/jobs", JOB, 201, 201, 201),
    ("GET", "/api/v1/jobs", None, 200, 200, 200),
    ("GET", "/api/v1/jobs/{job}", None, 200, 200, 404),
    ("PATCH", "/api/v1/jobs/{job}", {"paused": True}, 200, 200, 404),
    ("POST", "/api/v1/jobs/{job}/run", None, 202, 202, 404),
    ("GET", "/api/v1/jobs/{job}/runs", None, 200, 200, 404),
    ("GET", "/api/v1/jobs/{job}/notifications", None, 200, 200, 404),
    ("DELETE", "/api/v1/jobs/{job}", None, 204, 204, 404),
    ("GET", "/api/v1/runs", None, 200, 200, 200),
    ("GET", "/api/v1/runs/{run}", None, 200, 200, 404),
    ("GET", "/api/v1/last-events/{run}", None, 200, 200, 404),
    ("GET", "/api/v1/groups", None, 200, 200, 200),
    ("POST", "/api/v1/schedules/preview", {"schedule": {"cron": "*/5 * * * *"}}, 200, 200, 200),
    # Groups are per account: another account replacing "nightly" makes its own group.
    ("PUT", "/api/v1/groups/nightly", {"jobs": [JOB]}, 200, 200, 200),
    ("DELETE", "/api/v1/groups/nightly", None, 204, 204, 404),
    ("POST", "/api/v1/accounts", {"name": "newcomer", "plan": "free"}, 403, 201, 403),
    ("GET", "/api/v1/accounts", None, 403, 200, 403),
    ("GET", "/api/v1/accounts/me", None, 200, 200, 200),
    # Administration is refused to every other account whether the id exists or not (403); what
    # an account may read of its own is hidden from the others (404).
    ("GET", "/api/v1/accounts/{account}", None, 200, 200, 404),
    ("PATCH", "/api/v1/accounts/{account}", {"plan": "standard"}, 403, 200, 403),
    # An account sets its own defaults; the administrator any account's.
    ("PUT", "/api/v1/accounts/{account}/defaults", {"disable_after": 5}, 200, 200, 404),
    ("GET", "/api/v1/accounts/{account}/keys", None, 200, 200, 404),
    ("POST", "/api/v1/accounts/{account}/keys", None, 201, 201, 404),
    ("DELETE", "/api/v1/keys/{key}", None, 204, 204, 404),
    ("DELETE", "/api/v1/accounts/{account}", None, 403, 204, 403),
]
CALLERS = ["no key", "bad key", "revoked key", "other account", "owner", "administrator"]


@pytest.fixture
def world(app, client, admin, new_account):
    """An owner with a node, a job in group 'nightly', a run and a spare key; another account;
    a revoked key."""
    owner_id, owner = new_account("free", "owner")
    _, other = new_account("free", "other")
    node = client.post("/api/v1/clouds/default/nodes", json=NODE, headers=owner).json["nodes"][0]["id"]
    job = client.post("/api/v1/jobs", json={**JOB, "group": "nightly"}, headers=owner).json["id"]
    run = client.post(f"/api/v1/jobs/{job}/run", headers=owner).json["run_id"]
    key = client.post(f"/api/v1/accounts/{owner_id}/keys", headers=owner).json["key_id"]
    spare = client.post(f"/api/v1/accounts/{owner_id}/keys", headers=owner).json
    assert client.delete(f"/api/v1/keys/{spare['key_id']}", headers=owner).status_code == 204
    headers = {"no key": {}, "bad key": {"Authorization": "Bearer orc_" + "x" * 43},
               "revoked key": {"Authorization": f"Bearer {spare['api_key']}"},
               "other account": other, "owner": owner, "administrator": admin}
    ids = {"node": node, "job": job, "run": run, "account": owner_id, "key": key}
    return headers, ids


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method, path, body, for_owner, for_admin, for_other", ROUTES,
                         ids=[f"{r[0]} {r[1]}" for r in ROUTES])
def test_matrix(client, world, caller, method, path, body, for_owner, for_admin, for_other):
    headers, ids = world
    expected = {"no key": 401, "bad key": 401, "revoked key": 401, "other account": for_other,
                "owner": for_owner, "administrator": for_admin}[caller]
    response = client.open(path.format(**ids), method=method, json=body, headers=headers[caller])
    assert response.status_code == expected, response.get_data(as_text=True)
    if expected >= 400:
        error = response.json["error"]
        assert set(error) == {"code", "message", "details"}


def test_malformed_authorization_header(client):
    for value in ("Basic abc", "Bearer", "Bearer short", "Bearer " + "é" * 20, "orc_" + "x" * 43):
        response = client.get("/api/v1/clouds", headers={"Authorization": value})
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"


def test_healthz_and_openapi_need_no_key(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200
