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


def test_a_schedule_that_never_fires_has_its_own_code(client, admin):
    """Well-formed, but with no fire time ahead: ``never_fires``, the code the document names for
    what its schema cannot say; a malformed field in the same schedule makes it ``validation_failed``."""
    past = (datetime.now(timezone.utc) - timedelta(days=1)).replace(microsecond=0).isoformat()
    for schedule in ({"at": past}, {"frequency": "yearly", "bymonth": [2], "bymonthday": [30]},
                     {"frequency": "daily", "start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}):
        answer = client.post("/api/v1/schedules/preview", headers=admin, json={"schedule": schedule})
        assert answer.status_code == 422 and answer.json["error"]["code"] == "never_fires", answer.json
    group = client.put("/api/v1/groups/g", headers=admin,
                       json={"jobs": [{"schedule": {"at": past}, "action": JOB_ACTION}]})
    assert group.status_code == 422 and group.json["error"]["code"] == "never_fires"
    assert list(group.json["error"]["details"]) == ["jobs.0.schedule.at"]
    mixed = client.post("/api/v1/schedules/preview", headers=admin,
                        json={"schedule": {"at": past, "timezone": "Mars/Olympus"}})
    assert mixed.status_code == 422 and mixed.json["error"]["code"] == "validation_failed"


def test_a_weekday_numbered_past_its_month_in_a_yearly_rule_is_refused(client, admin):
    """With bymonth, a yearly rule counts weekdays within the month: 1..5, not 1..53."""
    for schedule in ({"frequency": "yearly", "bymonth": [1, 11], "byday": ["13we"]},
                     {"rrule": "FREQ=YEARLY;BYMONTH=1,11,12;BYDAY=53SU"}):
        answer = client.post("/api/v1/schedules/preview", headers=admin, json={"schedule": schedule})
        assert answer.status_code == 422 and answer.json["error"]["code"] == "validation_failed", answer.json
        assert "1..5 or -5..-1 in a month" in str(answer.json["error"]["details"])
    fine = client.post("/api/v1/schedules/preview", headers=admin,
                       json={"schedule": {"frequency": "yearly", "bymonth": [11], "byday": ["-1fr"]}, "count": 2})
    assert fine.status_code == 200 and len(fine.json["fire_times"]) == 2
    assert all(datetime.fromisoformat(f["local"]).month == 11 for f in fine.json["fire_times"])
