"""The schedule preview: the next fire times, or the 422 a job would get."""
from datetime import datetime, timedelta, timezone

JOB_ACTION = {"type": "url", "url": "http://127.0.0.1:9/x"}


def test_a_cron_line_previewed_in_its_timezone_and_in_utc(client, admin):
    answer = client.post("/api/v1/schedules/preview", headers=admin,
                         json={"schedule": {"cron": "30 9 * * mon-fri", "timezone": "Europe/Rome"}, "count": 3})
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["timezone"] == "Europe/Rome" and body["more"] is True and len(body["fire_times"]) == 3
    for fire in body["fire_times"]:
        local = datetime.fromisoformat(fire["local"])
        utc = datetime.fromisoformat(fire["utc"].replace("Z", "+00:00"))
        assert (local.hour, local.minute) == (9, 30) and local.weekday() < 5 and local == utc
        assert local.utcoffset() in (timedelta(hours=1), timedelta(hours=2))
    times = [f["utc"] for f in body["fire_times"]]
    assert times == sorted(times) and len(set(times)) == 3


def test_five_by_default_and_fewer_when_the_schedule_ends(client, admin):
    assert len(client.post("/api/v1/schedules/preview", headers=admin,
                           json={"schedule": {"frequency": "hourly"}}).json["fire_times"]) == 5
    soon = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=0).isoformat()
    once = client.post("/api/v1/schedules/preview", headers=admin, json={"schedule": {"at": soon}}).json
    assert len(once["fire_times"]) == 1 and once["more"] is False


def test_an_invalid_schedule_gets_the_answer_a_job_would(client, admin):
    for schedule in ({"cron": "61 * * * *"}, {"frequency": "fortnightly"}, {"cron": "* * * * *", "timezone": "Mars/Olympus"},
                     {"at": "2001-01-01T00:00:00Z"}):
        preview = client.post("/api/v1/schedules/preview", headers=admin, json={"schedule": schedule})
        job = client.post("/api/v1/jobs", headers=admin, json={"schedule": schedule, "action": JOB_ACTION})
        assert preview.status_code == job.status_code == 422
        assert preview.json["error"]["details"].keys() == job.json["error"]["details"].keys()
        assert preview.json["error"]["message"].split(" (")[0] == job.json["error"]["message"].split(" (")[0]
    assert client.get("/api/v1/jobs", headers=admin).json["total"] == 0


def test_count_is_bounded(client, admin):
    answer = client.post("/api/v1/schedules/preview", headers=admin, json={"schedule": {"cron": "* * * * *"}, "count": 101})
    assert answer.status_code == 422 and "count" in answer.json["error"]["details"]
