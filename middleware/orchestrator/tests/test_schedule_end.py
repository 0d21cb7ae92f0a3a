"""The end of a schedule: a job that reaches its ``max_runs`` or its ``until`` leaves the
schedule like a one-off job, with its runs kept."""
from datetime import datetime, timedelta, timezone

from dispatcher.lib.actions.method import register_method
from service import wait_for


@register_method("tests.noop")
def noop(context):
    return None


def job(schedule):
    return {"schedule": {"frequency": "secondly", "tolerance": 5, **schedule},
            "action": {"type": "method", "name": "tests.noop"}}


def gone_with_runs(client, headers, job_id):
    wait_for(lambda: client.get(f"/api/v1/jobs/{job_id}", headers=headers).status_code == 404)
    return client.get(f"/api/v1/runs?job_id={job_id}&limit=100", headers=headers).json["items"]


def test_a_job_ends_after_max_runs_occurrences(live, admin):
    client = live.test_client()
    made = client.post("/api/v1/jobs", json=job({"max_runs": 3}), headers=admin).json
    assert made["schedule"]["max_runs"] == 3
    runs = gone_with_runs(client, admin, made["id"])
    assert len(runs) == 3 and len({r["scheduled_for"] for r in runs}) == 3


def test_a_job_ends_at_its_until(live, admin):
    client = live.test_client()
    until = (datetime.now(timezone.utc) + timedelta(seconds=2)).replace(microsecond=0)
    made = client.post("/api/v1/jobs", json=job({"until": until.isoformat()}), headers=admin).json
    runs = gone_with_runs(client, admin, made["id"])
    assert runs and all(datetime.fromisoformat(r["scheduled_for"].replace("Z", "+00:00")) <= until for r in runs)


def test_a_new_schedule_counts_its_max_runs_afresh(client, admin):
    made = client.post("/api/v1/jobs", json=job({"max_runs": 2}), headers=admin).json
    changed = client.patch(f"/api/v1/jobs/{made['id']}", json={"schedule": {"cron": "0 3 * * *", "max_runs": 5}},
                           headers=admin)
    assert changed.status_code == 200 and changed.json["schedule"]["max_runs"] == 5
