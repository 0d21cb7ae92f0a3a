"""The schedule value: its common keys, its errors, the normalised spec that is stored."""
from datetime import datetime, timedelta
import json
from pathlib import Path
import re

import pytest

from dispatcher.errors import ValidationFailed
from dispatcher.lib.timespec import Schedule, parse_schedule, schedule_from_stored
from schedules import NOW, fires, invalid, utc


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
    ({"cron": "0 * * * *", "until": "soon"}, "schedule.until"),
    ({"cron": "0 * * * *", "until": ""}, "schedule.until"),
    ({"cron": "0 * * * *", "until": 1798794000}, "schedule.until"),
    ({"cron": "0 * * * *", "until": None}, "schedule.until"),
    ({"cron": "0 * * * *", "until": "2027-06-01 09:00 EST"}, "schedule.until"),
    ({"cron": "0 * * * *", "until": "31-feb-2027"}, "schedule.until"),
    ({"cron": "0 * * * *", "max_runs": 0}, "schedule.max_runs"),
    ({"cron": "0 * * * *", "max_runs": -3}, "schedule.max_runs"),
    ({"cron": "0 * * * *", "max_runs": 1.5}, "schedule.max_runs"),
    ({"cron": "0 * * * *", "max_runs": 2.0}, "schedule.max_runs"),
    ({"cron": "0 * * * *", "max_runs": "3"}, "schedule.max_runs"),
    ({"cron": "0 * * * *", "max_runs": True}, "schedule.max_runs"),
    ({"cron": "0 * * * *", "max_runs": None}, "schedule.max_runs"),
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


# -- until and max_runs: the end of a schedule, on every form ------------------------------------

EVERY_FORM = [{"at": "2027-03-01T09:00:00"}, {"frequency": "daily"}, {"rrule": "FREQ=DAILY"}, {"cron": "0 9 * * *"}]


@pytest.mark.parametrize("data", EVERY_FORM)
def test_until_and_max_runs_are_accepted_on_every_form(data):
    schedule = parse_schedule({**data, "timezone": "Europe/Paris", "until": "1-jun-2027 18:00", "max_runs": 3}, NOW)
    assert schedule.spec["until"] == "2027-06-01T18:00:00+02:00"        # read in the schedule's zone
    assert (schedule.until, schedule.max_runs) == (utc(2027, 6, 1, 16), 3)
    assert schedule.next_after(utc(2027, 6, 1, 16)) is None


@pytest.mark.parametrize("data", EVERY_FORM)
def test_without_until_and_max_runs_nothing_is_added(data):
    schedule = parse_schedule(data, NOW)
    assert (schedule.until, schedule.max_runs) == (None, None)
    assert "until" not in schedule.spec and "max_runs" not in schedule.spec


def test_until_is_inclusive_and_kept_to_the_second():
    schedule = parse_schedule({"frequency": "daily", "start": "2027-01-02T09:00:00Z",
                               "until": "2027-01-04T09:00:00.900Z"}, NOW)
    assert schedule.spec["until"] == "2027-01-04T09:00:00Z"
    assert fires(schedule, NOW, 5) == [utc(2027, 1, 2, 9), utc(2027, 1, 3, 9), utc(2027, 1, 4, 9)]
    assert schedule.next_after(utc(2027, 1, 4, 9)) is None and schedule.next_after(utc(2030, 1, 1)) is None


def test_max_runs_is_carried_not_counted():
    """The scheduler counts the runs: the fire times go on past max_runs."""
    schedule = parse_schedule({"cron": "0 9 * * *", "max_runs": 2}, NOW)
    assert schedule.max_runs == 2 and schedule.spec["max_runs"] == 2
    assert len(fires(schedule, NOW, 5)) == 5


def test_stored_until_and_max_runs_are_validated_too():
    stored = {"cron": "0 9 * * *", "timezone": "UTC", "tolerance": 10}
    ended = schedule_from_stored({**stored, "until": "2020-01-01T00:00:00Z", "max_runs": 4})
    assert ended.next_after(NOW) is None and ended.max_runs == 4    # no "in the past" check when stored
    assert ended.next_after(utc(2019, 12, 31)) == utc(2019, 12, 31, 9)
    with pytest.raises(ValidationFailed) as caught:
        schedule_from_stored({**stored, "until": "1-jan-2027 9:00"})        # stored is ISO
    assert "schedule.until" in caught.value.details
    with pytest.raises(ValidationFailed) as caught:
        schedule_from_stored({**stored, "max_runs": 0})
    assert "schedule.max_runs" in caught.value.details


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
    {"at": "2027-02-01T09:00:00Z", "until": "2027-02-01T10:00:00Z", "max_runs": 1},
    {"frequency": "hourly", "timezone": "America/New_York", "until": "2027-11-07T01:30:00-05:00", "max_runs": 5000},
    {"rrule": "DTSTART;TZID=Europe/Paris:20270104T090000\nRRULE:FREQ=DAILY", "until": "2027-06-01 09:00"},
    {"cron": "*/30 * * * *", "timezone": "America/New_York", "until": "2027-03-14T02:30:00", "max_runs": 7},
]


@pytest.mark.parametrize("data", ROUND_TRIP)
def test_stored_spec_round_trips(data):
    schedule = parse_schedule(data, NOW)
    stored = json.loads(json.dumps(schedule.spec))
    again = schedule_from_stored(stored)
    assert again == schedule and again.spec == schedule.spec and hash(again) == hash(schedule)
    assert isinstance(again, Schedule)
    assert (again.kind, again.timezone, again.tolerance, again.until, again.max_runs) \
        == (schedule.kind, schedule.timezone, schedule.tolerance, schedule.until, schedule.max_runs)
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


# -- the reference's examples --------------------------------------------------------------------

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "schedules.rst"


def reference_examples():
    """Every JSON schedule in a ``code-block:: json`` of docs/schedules.rst."""
    found, decoder = [], json.JSONDecoder()
    for block in re.findall(r"\.\. code-block:: json\n\n((?: {3}.*\n|\n)+)", REFERENCE.read_text()):
        text = " ".join(block.split())
        while text:
            value, end = decoder.raw_decode(text)
            found.append(value)
            text = text[end:].strip()
    return found


def test_every_schedule_the_reference_shows_is_accepted():
    examples = reference_examples()
    assert len(examples) >= 10 and any("until" in example for example in examples)
    for example in examples:
        parse_schedule(example, utc(2026, 6, 1))
