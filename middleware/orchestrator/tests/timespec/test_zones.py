"""Time zones and DST: wall-clock for daily and coarser, absolute for hourly and finer."""
from datetime import datetime, timedelta

from dateutil.rrule import DAILY, HOURLY, MINUTELY, rrule
from hypothesis import given, settings, strategies as st
import pytest

from dispatcher.lib.timespec import parse_schedule, schedule_from_stored
from schedules import NOW, NY, UTC, fires, utc


SPRING = utc(2027, 3, 13, 12)       # New York springs forward 2027-03-14 02:00 EST -> 03:00 EDT
FALL = utc(2027, 11, 6, 12)         # and falls back 2027-11-07 02:00 EDT -> 01:00 EST


@pytest.mark.parametrize("data", [
    {"frequency": "daily", "byhour": [2], "byminute": [30]},
    {"frequency": "daily", "start": "2027-03-01T02:30:00"},
    {"rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=30"},
    {"cron": "30 2 * * *"},
])
def test_daily_0230_new_york(data):
    schedule = parse_schedule({"timezone": "America/New_York", **data}, NOW)
    # Spring forward: 02:30 does not exist; it fires once, at 03:30 EDT (the offset before the gap).
    assert fires(schedule, SPRING, 3) == [utc(2027, 3, 14, 7, 30), utc(2027, 3, 15, 6, 30), utc(2027, 3, 16, 6, 30)]
    # Fall back: 02:30 happens once (EST).
    assert fires(schedule, FALL, 3) == [utc(2027, 11, 7, 7, 30), utc(2027, 11, 8, 7, 30), utc(2027, 11, 9, 7, 30)]


@pytest.mark.parametrize("data", [
    {"frequency": "daily", "byhour": [1], "byminute": [30]},
    {"cron": "30 1 * * *"},
])
def test_daily_0130_fires_once_on_fall_back_day(data):
    schedule = parse_schedule({"timezone": "America/New_York", **data}, NOW)
    # 01:30 happens twice (EDT, then EST): it fires at the first only.
    assert fires(schedule, FALL, 3) == [utc(2027, 11, 7, 5, 30), utc(2027, 11, 8, 6, 30), utc(2027, 11, 9, 6, 30)]
    assert schedule.next_after(utc(2027, 11, 7, 5, 30)) == utc(2027, 11, 8, 6, 30)
    assert schedule.next_after(utc(2027, 11, 7, 6, 0)) == utc(2027, 11, 8, 6, 30)   # asked between the two


@pytest.mark.parametrize("data", [
    {"frequency": "hourly", "start": "2027-03-01T00:00:00"},
    {"rrule": "FREQ=HOURLY", "start": "2027-03-01T00:00:00"},
    {"cron": "0 * * * *"},
])
def test_hourly_is_every_3600_seconds_across_both_transitions(data):
    schedule = parse_schedule({"timezone": "America/New_York", **data}, NOW)
    assert fires(schedule, utc(2027, 3, 14, 5, 30), 4) == [utc(2027, 3, 14, h) for h in (6, 7, 8, 9)]
    assert fires(schedule, utc(2027, 11, 7, 3, 30), 5) == [utc(2027, 11, 7, h) for h in (4, 5, 6, 7, 8)]


def test_wall_clock_hours_across_the_gap_are_in_order_and_once():
    schedule = parse_schedule({"frequency": "hourly", "byhour": [1, 2, 3], "byminute": [0, 30],
                               "timezone": "America/New_York"}, NOW)
    # Readings 01:00 01:30 02:00* 02:30* 03:00 03:30 (*: in the gap, i.e. 03:00 and 03:30 EDT).
    assert fires(schedule, utc(2027, 3, 14, 5), 5) == [
        utc(2027, 3, 14, 6), utc(2027, 3, 14, 6, 30), utc(2027, 3, 14, 7), utc(2027, 3, 14, 7, 30),
        utc(2027, 3, 15, 5)]


def test_weekly_keeps_local_time_across_dst():
    schedule = parse_schedule({"frequency": "weekly", "byday": ["mo"], "byhour": [9], "byminute": [0],
                               "timezone": "Europe/Paris", "start": "2027-03-01T00:00:00"}, NOW)
    assert fires(schedule, utc(2027, 3, 20), 2) == [utc(2027, 3, 22, 8), utc(2027, 3, 29, 7)]


@settings(max_examples=80, deadline=None, derandomize=True)
@given(frequency=st.sampled_from(["hourly", "daily", "minutely"]),
       byhour=st.lists(st.integers(0, 5), min_size=1, max_size=3),
       byminute=st.lists(st.sampled_from([0, 15, 30, 59]), min_size=1, max_size=2),
       transition=st.sampled_from([utc(2027, 3, 14, 7), utc(2027, 11, 7, 6)]),
       seconds=st.integers(-6 * 3600, 6 * 3600))
def test_wall_clock_answer_is_the_least_instant_after(frequency, byhour, byminute, transition, seconds):
    """Brute force: every reading dateutil yields from DTSTART, mapped to instants, least one after."""
    start = datetime(2027, 3, 1) if transition.month == 3 else datetime(2027, 10, 25)
    schedule = parse_schedule({"frequency": frequency, "byhour": byhour, "byminute": byminute,
                               "timezone": "America/New_York", "start": start.isoformat()}, utc(2027, 1, 1))
    freq = {"hourly": HOURLY, "daily": DAILY, "minutely": MINUTELY}[frequency]
    after = transition + timedelta(seconds=seconds)
    instants = [reading.replace(tzinfo=NY).astimezone(UTC)
                for reading in rrule(freq, dtstart=start, byhour=byhour, byminute=byminute, bysecond=0,
                                     until=datetime(2027, 12, 1))]
    assert schedule.next_after(after) == min(t for t in instants if t > after)


def test_start_in_the_spring_gap_keeps_its_reading():
    schedule = parse_schedule({"frequency": "daily", "start": "2027-03-14T02:30:00",
                               "timezone": "America/New_York"}, NOW)
    assert schedule.spec["start"] == "2027-03-14T02:30:00-05:00"
    assert fires(schedule_from_stored(schedule.spec), NOW, 2) == [utc(2027, 3, 14, 7, 30), utc(2027, 3, 15, 6, 30)]


@pytest.mark.parametrize("data, after, expected", [
    ({"frequency": "daily", "byhour": [9], "byminute": [0], "end": "2027-01-04T09:00:00"},
     utc(2027, 1, 3, 15), [utc(2027, 1, 4, 14)]),
    ({"frequency": "hourly", "start": "2027-01-04T06:00:00", "end": "2027-01-04T09:00:00"},
     utc(2027, 1, 4, 12, 30), [utc(2027, 1, 4, 13), utc(2027, 1, 4, 14)]),
    ({"rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0;UNTIL=20270104T140000Z"}, utc(2027, 1, 3, 15), [utc(2027, 1, 4, 14)]),
])
def test_the_end_is_an_instant_in_a_zone_behind_utc(data, after, expected):
    """An end 09:00 in New York is 14:00 UTC: the occurrences up to it fire, the last one included."""
    schedule = parse_schedule({"timezone": "America/New_York", **data}, NOW)
    assert fires(schedule, after, 5) == expected


@pytest.mark.parametrize("data, until, stored, after, expected", [
    # 01:30 happens twice on fall-back day: a reading without an offset is the first (EDT).
    ({"cron": "0 * * * *"}, "2027-11-07T01:30:00", "2027-11-07T01:30:00-04:00",
     utc(2027, 11, 7, 3, 30), [utc(2027, 11, 7, 4), utc(2027, 11, 7, 5)]),
    # With its offset, the second (EST): the hour between them fires too.
    ({"cron": "0 * * * *"}, "2027-11-07T01:30:00-05:00", "2027-11-07T01:30:00-05:00",
     utc(2027, 11, 7, 3, 30), [utc(2027, 11, 7, 4), utc(2027, 11, 7, 5), utc(2027, 11, 7, 6)]),
    # 02:30 does not exist on spring-forward day: like the fire time, it is 03:30 EDT, so that one fires.
    ({"frequency": "daily", "byhour": [2], "byminute": [30]}, "2027-03-14T02:30:00", "2027-03-14T02:30:00-05:00",
     SPRING, [utc(2027, 3, 14, 7, 30)]),
    # Wall-clock 9:00 across the change (EST, then EDT): the until is 9:00 EDT, the last fire time too.
    ({"rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"}, "15-mar-2027 9:00", "2027-03-15T09:00:00-04:00",
     SPRING, [utc(2027, 3, 13, 14), utc(2027, 3, 14, 13), utc(2027, 3, 15, 13)]),
    # Every 3600 s in absolute time, up to an until given in the zone's summer time.
    ({"frequency": "hourly", "start": "2027-03-14T00:00:00"}, "2027-03-14T04:00:00", "2027-03-14T04:00:00-04:00",
     utc(2027, 3, 14, 5, 30), [utc(2027, 3, 14, 6), utc(2027, 3, 14, 7), utc(2027, 3, 14, 8)]),
])
def test_until_across_dst_in_a_zone(data, until, stored, after, expected):
    schedule = parse_schedule({"timezone": "America/New_York", "until": until, **data}, NOW)
    assert schedule.spec["until"] == stored
    assert fires(schedule, after, 5) == expected
    assert fires(schedule_from_stored(schedule.spec), after, 5) == expected
