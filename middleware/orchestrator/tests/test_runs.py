"""Runs across jobs: what failed last night, without walking every job."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import update

from dispatcher.lib import store

JOB = {"schedule": {"cron": "0 3 * * *"}, "action": {"type": "url", "url": "http://127.0.0.1:9/x"}}


def iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


@pytest.fixture
def history(app, client, admin, new_account):
    """Alice's two jobs and Bob's one, with runs at known times and statuses."""
    _, alice = new_account()
    _, bob = new_account()
    first = client.post("/api/v1/jobs", json=JOB, headers=alice).json["id"]
    second = client.post("/api/v1/jobs", json=JOB, headers=alice).json["id"]
    bobs = client.post("/api/v1/jobs", json=JOB, headers=bob).json["id"]
    plan = [(first, 1000.0, "Completed"), (second, 2000.0, "Failed"), (first, 3000.0, "Failed"), (bobs, 2500.0, "Failed")]
    runs = []
    for job_id, at, status in plan:
        run_id = client.post(f"/api/v1/jobs/{job_id}/run", headers=admin).json["run_id"]
        with app.extensions["orchestrator.engine"].begin() as conn:
            conn.execute(update(store.runs).where(store.runs.c.id == run_id).values(
                scheduled_for=at, submitted_at=at, status=status, finished_at=at + 1))
        runs.append(run_id)
    return {"alice": alice, "bob": bob, "first": first, "runs": runs}


def ids(answer):
    assert answer.status_code == 200, answer.get_json()
    return [r["id"] for r in answer.get_json()["items"]]


def test_runs_are_the_callers_own_newest_first(client, admin, history):
    runs = history["runs"]
    assert ids(client.get("/api/v1/runs", headers=history["alice"])) == [runs[2], runs[1], runs[0]]
    assert ids(client.get("/api/v1/runs", headers=history["bob"])) == [runs[3]]
    assert ids(client.get("/api/v1/runs", headers=admin)) == [runs[2], runs[3], runs[1], runs[0]]


def test_runs_are_filtered_by_status_job_and_time(client, history):
    alice, runs = history["alice"], history["runs"]
    assert ids(client.get("/api/v1/runs?status=Failed", headers=alice)) == [runs[2], runs[1]]
    assert ids(client.get(f"/api/v1/runs?job_id={history['first']}", headers=alice)) == [runs[2], runs[0]]
    window = f"since={iso(1500)}&until={iso(3000)}"
    assert ids(client.get(f"/api/v1/runs?{window}", headers=alice)) == [runs[1]]
    assert ids(client.get(f"/api/v1/runs?status=Failed&since={iso(2500)}", headers=alice)) == [runs[2]]
    page = client.get("/api/v1/runs?limit=1&offset=1", headers=alice).get_json()
    assert (page["total"], [r["id"] for r in page["items"]]) == (3, [runs[1]])


def test_another_accounts_job_filter_finds_nothing(client, history):
    assert client.get(f"/api/v1/runs?job_id={history['first']}", headers=history["bob"]).get_json()["total"] == 0


def test_an_empty_window_finds_nothing(client, history):
    assert client.get(f"/api/v1/runs?since={iso(3000)}&until={iso(1000)}", headers=history["alice"]).get_json()[
        "total"] == 0


@pytest.mark.parametrize("query", ["status=failed", "since=yesterday", "until=2027-13-01T00:00:00Z", "limit=0"])
def test_bad_filters_are_422(client, admin, query):
    answer = client.get(f"/api/v1/runs?{query}", headers=admin)
    assert answer.status_code == 422 and answer.get_json()["error"]["code"] == "validation_failed"
