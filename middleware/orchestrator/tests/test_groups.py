"""Groups: renaming onto an existing group, and the group's name in the URL."""
import pytest

JOB = {"schedule": {"cron": "0 3 * * *"}, "action": {"type": "url", "url": "http://127.0.0.1:9/x"}}


def names(client, headers, group):
    return sorted(j["name"] for j in client.get(f"/api/v1/jobs?group={group}", headers=headers).get_json()["items"])


def test_renaming_onto_an_existing_group_is_a_conflict_unless_asked(client, admin):
    client.put("/api/v1/groups/a", json={"jobs": [{**JOB, "name": "a1"}]}, headers=admin)
    client.put("/api/v1/groups/b", json={"jobs": [{**JOB, "name": "b1"}, {**JOB, "name": "b2"}]}, headers=admin)
    answer = client.put("/api/v1/groups/a", json={"jobs": [{**JOB, "name": "new"}], "rename_to": "b"}, headers=admin)
    assert answer.status_code == 409 and answer.get_json()["error"]["details"] == {"group": "b", "jobs": 2}
    assert names(client, admin, "a") == ["a1"] and names(client, admin, "b") == ["b1", "b2"]  # nothing changed

    answer = client.put("/api/v1/groups/a", json={"jobs": [{**JOB, "name": "new"}], "rename_to": "b", "replace": True},
                        headers=admin)
    assert answer.status_code == 200 and answer.get_json()["group"] == "b"
    assert names(client, admin, "a") == [] and names(client, admin, "b") == ["new"]


def test_renaming_onto_another_accounts_group_is_no_conflict(client, admin, new_account):
    _, alice = new_account()
    client.put("/api/v1/groups/shared", json={"jobs": [{**JOB, "name": "admins"}]}, headers=admin)
    client.put("/api/v1/groups/mine", json={"jobs": [{**JOB, "name": "x"}]}, headers=alice)
    answer = client.put("/api/v1/groups/mine", json={"jobs": [{**JOB, "name": "y"}], "rename_to": "shared"},
                        headers=alice)
    assert answer.status_code == 200
    assert names(client, admin, "shared") == ["admins", "y"]  # the administrator sees both accounts' groups


def test_renaming_to_its_own_name_needs_no_replace(client, admin):
    client.put("/api/v1/groups/same", json={"jobs": [{**JOB, "name": "one"}]}, headers=admin)
    answer = client.put("/api/v1/groups/same", json={"jobs": [{**JOB, "name": "two"}], "rename_to": "same"},
                        headers=admin)
    assert answer.status_code == 200 and names(client, admin, "same") == ["two"]


@pytest.mark.parametrize("group", ["grüppe", "-lead", "a b", "x" * 201])
def test_a_group_name_in_the_url_follows_the_body_rule(client, admin, group):
    answer = client.put(f"/api/v1/groups/{group}", json={"jobs": [JOB]}, headers=admin)
    assert answer.status_code == 422 and "group" in answer.get_json()["error"]["details"]
    in_body = client.post("/api/v1/jobs", json={**JOB, "group": group}, headers=admin)
    assert in_body.status_code == 422
    assert client.get("/api/v1/groups", headers=admin).get_json()["total"] == 0


def test_a_trailing_newline_is_not_part_of_a_name(client, admin):
    assert client.post("/api/v1/jobs", json={**JOB, "group": "nightly\n"}, headers=admin).status_code == 422
    assert client.put("/api/v1/groups/nightly%0A", json={"jobs": [JOB]}, headers=admin).status_code == 422
