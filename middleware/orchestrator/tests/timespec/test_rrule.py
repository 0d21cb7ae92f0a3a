"""RFC 5545 strings: the ``rrule`` form."""
from datetime import datetime

from dateutil.rrule import rrulestr
import pytest

from dispatcher.lib.timespec import parse_schedule
from schedules import NOW, UTC, fires, invalid, utc


@pytest.mark.parametrize("text", ["FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
                                  "RRULE:FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0",
                                  "rrule:freq=weekly;byday=mo;byhour=9;byminute=0"])
def test_rrule_strings(text):
    schedule = parse_schedule({"rrule": text, "start": "2027-01-01T00:00:00Z"}, NOW)
    expected = rrulestr("FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0;BYSECOND=0", dtstart=datetime(2027, 1, 1))
    assert fires(schedule, NOW, 10) == [m.replace(tzinfo=UTC) for m in expected.xafter(datetime(2027, 1, 1, 12), 10)]
    assert schedule.spec["rrule"] == "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"
    assert schedule.kind == "rrule"


def test_rrule_with_dtstart_tzid_and_until():
    schedule = parse_schedule(
        {"rrule": "DTSTART;TZID=Europe/Paris:20270104T090000\nRRULE:FREQ=DAILY;BYDAY=MO,FR;UNTIL=20270115T235959Z"},
        NOW)
    assert schedule.spec == {"rrule": "FREQ=DAILY;BYDAY=MO,FR", "start": "2027-01-04T09:00:00+01:00",
                             "end": "2027-01-16T00:59:59+01:00", "timezone": "Europe/Paris", "tolerance": 10}
    assert fires(schedule, NOW, 9) == [utc(2027, 1, 4, 8), utc(2027, 1, 8, 8), utc(2027, 1, 11, 8),
                                       utc(2027, 1, 15, 8)]


def test_rrule_dtstart_without_zone_is_local_and_start_defaults_to_now():
    assert parse_schedule({"rrule": "DTSTART:20270105T090000 RRULE:FREQ=MONTHLY", "timezone": "America/New_York"},
                          NOW).next_after(NOW) == utc(2027, 1, 5, 14)
    schedule = parse_schedule({"rrule": "FREQ=HOURLY"}, NOW)
    assert schedule.spec["start"] == "2027-01-01T12:00:00Z"
    assert schedule.next_after(NOW) == utc(2027, 1, 1, 13)


def test_rrule_count():
    schedule = parse_schedule({"rrule": "FREQ=DAILY;COUNT=3", "start": "2026-12-31T10:00:00Z"}, NOW)
    assert fires(schedule, utc(2026, 1, 1), 5) == [utc(2026, 12, 31, 10), utc(2027, 1, 1, 10), utc(2027, 1, 2, 10)]
    assert invalid({"rrule": "FREQ=DAILY;COUNT=3", "start": "2026-11-30T10:00:00Z"}) == {
        "schedule.rrule": ["all of its COUNT occurrences are before now"]}


@pytest.mark.parametrize("data, field", [
    ({"rrule": "FREQ=DAILY;COUNT=3;UNTIL=20280101T000000Z"}, "schedule.rrule"),
    ({"rrule": "FREQ=DAILY;COUNT=3", "end": "2028-01-01T00:00:00Z"}, "schedule.end"),
    ({"rrule": "FREQ=DAILY;UNTIL=20280101T000000Z", "end": "2028-01-01T00:00:00Z"}, "schedule.end"),
    ({"rrule": "DTSTART:20270101T000000Z\nRRULE:FREQ=DAILY", "start": "2027-01-02T00:00:00Z"}, "schedule.start"),
    ({"rrule": "DTSTART;TZID=Europe/Paris:20270101T000000\nRRULE:FREQ=DAILY", "timezone": "UTC"},
     "schedule.timezone"),
    ({"rrule": "FREQ=DAILY;UNTIL=20260101T000000Z", "start": "2027-01-02T00:00:00Z"}, "schedule.rrule"),
    ({"rrule": "FREQ=DAILY;UNTIL=20260101T000000Z", "start": "2025-01-02T00:00:00Z"}, "schedule.end"),
    ({"rrule": "FREQ=DAILY;UNTIL=tomorrow"}, "schedule.rrule"),
    ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "schedule.rrule"),     # never fires
    ({"rrule": "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6"}, "schedule.rrule"),        # never fires
    ({"rrule": "FREQ=DAILY;INTERVAL=7;BYDAY=TU", "start": "2027-01-04T00:00:00Z"}, "schedule.rrule"),  # Mondays only
    ({"rrule": "FREQ=DAILY;BYHOUR=24"}, "schedule.rrule"),
    ({"rrule": "FREQ=FORTNIGHTLY"}, "schedule.rrule"),
    ({"rrule": "FREQ=DAILY;BYEASTER=0"}, "schedule.rrule"),
    ({"rrule": "FREQ=DAILY;FREQ=WEEKLY"}, "schedule.rrule"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=1MO"}, "schedule.rrule"),
    ({"rrule": "FREQ=WEEKLY;BYMONTHDAY=1"}, "schedule.rrule"),
    ({"rrule": "FREQ=DAILY;COUNT=0"}, "schedule.rrule"),
    ({"rrule": "FREQ=DAILY\nEXDATE:20270105T000000Z"}, "schedule.rrule"),
    ({"rrule": "BYDAY=MO"}, "schedule.rrule"),
    ({"rrule": ""}, "schedule.rrule"),
    ({"rrule": "FREQ=DAILY", "byhour": [9]}, "schedule.byhour"),
])
def test_rrule_refusals_name_the_field(data, field):
    assert field in invalid(data)


def test_rrule_until_is_read_in_the_dtstart_zone_and_may_end_a_count_early():
    schedule = parse_schedule({"rrule": "DTSTART;TZID=Europe/Paris:20270104T090000\nRRULE:FREQ=DAILY;COUNT=10",
                               "until": "2027-01-06 09:00"}, NOW)
    assert schedule.spec["until"] == "2027-01-06T09:00:00+01:00"
    assert fires(schedule, NOW, 12) == [utc(2027, 1, 4, 8), utc(2027, 1, 5, 8), utc(2027, 1, 6, 8)]


def test_rrule_until_refusals():
    assert list(invalid({"rrule": "FREQ=DAILY;COUNT=3", "start": "2027-01-05T00:00:00Z", "until": "2027-01-02"})) \
        == ["schedule.until"]
    # Nothing left of the rule itself: its COUNT is blamed, not the until.
    assert invalid({"rrule": "FREQ=DAILY;COUNT=3", "start": "2026-11-30T10:00:00Z", "until": "2026-12-01"}) == {
        "schedule.rrule": ["all of its COUNT occurrences are before now"]}
