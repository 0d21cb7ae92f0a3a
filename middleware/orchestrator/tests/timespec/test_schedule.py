"""The schedule value: its common keys, its errors, the normalised spec that is stored."""
from datetime import datetime, timedelta
import json

import pytest

from dispatcher.errors import ValidationFailed
from dispatcher.lib.timespec import Schedule, parse_schedule, schedule_from_stored
from schedules import NOW, invalid, utc


# -- validation: every 422 names its field -------------------------------------------------

@pytest.mark.parametrize("data, field", [
    ({"at": "2027-06-01T00:00:00Z", "interval": 2}, "schedule.interval"),
    ({"cron": "* * * * *", "start": "2027-06-01T00:00:00Z"}, "schedule.start"),
    ({"at": "2027-06-01T00:00:00Z", "timezone": "Mars/Olympus"}, "schedule.timezone"),
    ({"at": "2027-06-01T00:00:00Z", "timezone": "localtime"}, "schedule.timezone"),
    ({"at": "2027-06-01T00:00:00Z", "timezone": "../../etc/passwd"}, "schedule.timezone"),
    ({"at": "2027-06-01T00:00:00Z", "timezone": 5}, "schedule.timezone"),
    ({"at": "2027-06-01T00:00:00Z", "tolerance": -1}, "schedule.tolerance"),
    ({"at": "2027-06-01T00:00:00Z", "tolerance": 86401}, "schedule.tolerance"),
    ({"at": "2027-06-01T00:00:00Z", "tolerance": "10"}, "schedule.tolerance"),
    ({"at": "2027-06-01T00:00:00Z", "tolerance": float("nan")}, "schedule.tolerance"),
    ({"at": "2027-06-01T00:00:00Z", "cron": "* * * * *"}, "schedule"),
    ({"timezone": "UTC"}, "schedule"),
    ({}, "schedule"),
    (["at", "2027-06-01T00:00:00Z"], "schedule"),
    (None, "schedule"),
])
def test_refusals_name_the_field(data, field):
    assert field in invalid(data)


def test_all_field_errors_are_reported_together():
    details = invalid({"frequency": "daily", "byhour": [25], "color": "red", "timezone": "Nope/Zone",
                       "tolerance": -5})
    assert set(details) == {"schedule.byhour", "schedule.color", "schedule.timezone", "schedule.tolerance"}
    assert "allowed:" in details["schedule.color"][0]


def test_tolerance_and_timezone_defaults():
    for data in ({"at": "2027-06-01T00:00:00Z"}, {"frequency": "daily"}, {"rrule": "FREQ=DAILY"},
                 {"cron": "0 * * * *"}):
        schedule = parse_schedule(data, NOW)
        assert (schedule.spec["tolerance"], schedule.tolerance, schedule.timezone) == (10, 10.0, "UTC")
    assert parse_schedule({"cron": "0 * * * *", "tolerance": 1.5}, NOW).tolerance == 1.5


@pytest.mark.parametrize("tolerance", [0, 0.5, 0.999])
def test_a_tolerance_every_run_would_miss_is_refused(tolerance):
    """A run starts some milliseconds after its time at best: under a second, most runs or all
    of them (with 0, every one) would be recorded Missed."""
    details = invalid({"cron": "0 * * * *", "tolerance": tolerance})
    assert details == {"schedule.tolerance": [
        "must be a number of seconds from 1 to 86400 (a run starts some milliseconds after its time, later when "
        "the service is busy: with less than a second, some runs or all would be missed)"]}
    assert parse_schedule({"cron": "0 * * * *", "tolerance": 1}, NOW).tolerance == 1.0


def test_a_tolerance_stored_before_the_minimum_reads_as_the_minimum():
    stored = schedule_from_stored({"cron": "0 * * * *", "timezone": "UTC", "tolerance": 0})
    assert stored.spec["tolerance"] == 0 and stored.tolerance == 1.0


def test_times_must_be_aware():
    with pytest.raises(ValueError):
        parse_schedule({"frequency": "daily"}, datetime(2027, 1, 1))
    with pytest.raises(ValueError):
        parse_schedule({"frequency": "daily"}, NOW).next_after(datetime(2027, 1, 1))


# -- the normalised spec is what we store ----------------------------------------------------

ROUND_TRIP = [
    {"at": "1-feb-2027 9:00", "timezone": "Asia/Kolkata", "tolerance": 30},
    {"frequency": "weekly", "interval": 2, "byday": ["WE", "mo"], "byhour": 9, "timezone": "Europe/Paris"},
    {"frequency": "monthly", "byday": ["+1mo", "-1fr"], "start": "1-jan-2027 8:00", "end": "2029-01-01"},
    {"frequency": "daily", "start": "2027-03-14T02:30:00", "timezone": "America/New_York"},   # in the gap
    {"frequency": "minutely", "interval": 15, "start": "2027-11-07T01:30:00-05:00", "timezone": "America/New_York"},
    {"rrule": "DTSTART:20270101T000000Z\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1;UNTIL=20300101T000000Z"},
    {"rrule": "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO;COUNT=5;WKST=SU", "timezone": "Australia/Lord_Howe"},
    {"cron": "15 3 1-7 * mon", "timezone": "America/Sao_Paulo", "tolerance": 120},
]


@pytest.mark.parametrize("data", ROUND_TRIP)
def test_stored_spec_round_trips(data):
    schedule = parse_schedule(data, NOW)
    stored = json.loads(json.dumps(schedule.spec))
    again = schedule_from_stored(stored)
    assert again == schedule and again.spec == schedule.spec and hash(again) == hash(schedule)
    assert isinstance(again, Schedule)
    assert (again.kind, again.timezone, again.tolerance) == (schedule.kind, schedule.timezone, schedule.tolerance)
    probes = [NOW + timedelta(days=days, hours=hours) for days in (0, 40, 73, 310, 600) for hours in (0, 7, 13)]
    assert [again.next_after(p) for p in probes] == [schedule.next_after(p) for p in probes]


def test_stored_specs_skip_the_past_checks_but_not_validation():
    past = schedule_from_stored({"at": "2020-01-01T00:00:00Z", "timezone": "UTC", "tolerance": 10})
    assert past.one_off and past.next_after(NOW) is None
    ended = schedule_from_stored({"frequency": "daily", "interval": 1, "start": "2020-01-01T00:00:00Z",
                                  "end": "2020-01-03T00:00:00Z", "timezone": "UTC", "tolerance": 10})
    assert ended.next_after(NOW) is None and ended.next_after(utc(2020, 1, 1, 1)) == utc(2020, 1, 2)
    with pytest.raises(ValidationFailed) as caught:
        schedule_from_stored({"frequency": "daily", "timezone": "UTC", "tolerance": 10})
    assert "schedule.start" in caught.value.details
    with pytest.raises(ValidationFailed):
        schedule_from_stored({"at": "1-jan-2027 9:00", "timezone": "UTC", "tolerance": 10})   # stored is ISO


def test_schedules_are_frozen_values():
    schedule = parse_schedule({"cron": "0 * * * *"}, NOW)
    with pytest.raises(AttributeError):
        schedule.spec = {}
    assert schedule == parse_schedule({"cron": "0  *  * * *"}, NOW)
    assert schedule != parse_schedule({"cron": "0 * * * *", "tolerance": 11}, NOW)
