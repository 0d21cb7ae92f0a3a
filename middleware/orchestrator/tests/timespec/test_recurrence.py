"""Recurrences, the ``frequency`` form, checked against dateutil itself."""
from datetime import datetime, timedelta

from dateutil.rrule import DAILY, FR, HOURLY, MINUTELY, MO, MONTHLY, SECONDLY, WE, WEEKLY, rrule
from hypothesis import given, settings, strategies as st
import pytest

from dispatcher.lib.timespec import parse_schedule, schedule_from_stored
from schedules import NOW, UTC, fires, invalid, utc


@pytest.mark.parametrize("data, rule", [
    ({"frequency": "weekly", "byday": ["mo", "we"], "byhour": [9], "byminute": [0, 30]},
     rrule(WEEKLY, byweekday=(MO, WE), byhour=9, byminute=(0, 30), bysecond=0)),
    ({"frequency": "weekly", "interval": 2, "byday": ["fr"]},
     rrule(WEEKLY, interval=2, byweekday=FR, wkst=MO)),
    ({"frequency": "monthly", "byday": ["-1fr"], "byhour": [17], "byminute": [0]},
     rrule(MONTHLY, byweekday=FR(-1), byhour=17, byminute=0)),
    ({"frequency": "monthly", "start": "2027-01-31T08:00:00Z"},          # RFC: skips short months
     rrule(MONTHLY)),
    ({"frequency": "daily", "interval": 3, "bymonth": [2, 3]},
     rrule(DAILY, interval=3, bymonth=(2, 3))),
    ({"frequency": "minutely", "interval": 7, "bysecond": [0, 30]},
     rrule(MINUTELY, interval=7, bysecond=(0, 30))),
    ({"frequency": "hourly", "interval": 5, "byminute": [15, 45]},
     rrule(HOURLY, interval=5, byminute=(15, 45))),
])
def test_recurrence_matches_dateutil(data, rule):
    schedule = parse_schedule({"start": "2027-01-31T08:00:00Z", **data}, NOW)
    expected = [moment.replace(tzinfo=UTC) for moment in
                rule.replace(dtstart=datetime(2027, 1, 31, 8)).xafter(datetime(2027, 2, 1), count=40)]
    assert fires(schedule, utc(2027, 2, 1), 40) == expected


def test_recurrence_defaults_start_to_now_and_fills_the_spec():
    schedule = parse_schedule({"frequency": "daily"}, NOW.replace(microsecond=123))
    assert schedule.spec == {"frequency": "daily", "interval": 1, "start": "2027-01-01T12:00:00Z",
                             "timezone": "UTC", "tolerance": 10}
    assert (schedule.kind, schedule.one_off) == ("recurrence", False)
    assert fires(schedule, NOW, 2) == [utc(2027, 1, 2, 12), utc(2027, 1, 3, 12)]


def test_recurrence_end_is_inclusive():
    schedule = parse_schedule({"frequency": "daily", "start": "2027-01-02T09:00:00Z",
                               "end": "2027-01-04T09:00:00Z"}, NOW)
    assert fires(schedule, NOW, 5) == [utc(2027, 1, 2, 9), utc(2027, 1, 3, 9), utc(2027, 1, 4, 9)]


FREQS = {"secondly": (SECONDLY, 1), "minutely": (MINUTELY, 60), "hourly": (HOURLY, 3600),
         "daily": (DAILY, 86400), "weekly": (WEEKLY, 7 * 86400), "monthly": (MONTHLY, 31 * 86400)}


@settings(max_examples=120, deadline=None, derandomize=True)
@given(frequency=st.sampled_from(sorted(FREQS)), interval=st.integers(1, 9),
       byminute=st.none() | st.lists(st.integers(0, 59), min_size=1, max_size=3),
       bysecond=st.none() | st.lists(st.integers(0, 59), min_size=1, max_size=2),
       byday=st.none() | st.lists(st.sampled_from(["mo", "tu", "we", "th", "fr", "sa", "su"]), min_size=1, max_size=3),
       start_seconds=st.integers(0, 400 * 86400), periods=st.integers(0, 3000), fraction=st.floats(0, 1))
def test_next_after_equals_dateutil_from_the_original_start(frequency, interval, byminute, bysecond, byday,
                                                            start_seconds, periods, fraction):
    """Re-anchoring never changes the answer: same as dateutil walking from DTSTART."""
    freq, unit = FREQS[frequency]
    if frequency == "daily" and interval == 7:
        byday = None                    # could never fire, and dateutil would search to the year 9999
    start = datetime(2026, 1, 1) + timedelta(seconds=start_seconds)
    data = {"frequency": frequency, "interval": interval, "start": start.isoformat() + "Z"}
    kwargs = {}
    for name, value, key in (("byminute", byminute, "byminute"), ("bysecond", bysecond, "bysecond"),
                             ("byday", byday, "byweekday")):
        if value:
            data[name] = value
            kwargs[key] = [("mo", "tu", "we", "th", "fr", "sa", "su").index(d) for d in value] \
                if name == "byday" else value
    after = start + timedelta(seconds=min(periods * unit * interval * fraction, 300 * 86400))
    try:
        expected = rrule(freq, dtstart=start, interval=interval, wkst=MO, **kwargs).after(after)
    except ValueError:                  # dateutil: the by-rules never meet the interval
        assert invalid(data, utc(2026, 1, 1))
        return
    schedule = schedule_from_stored(parse_schedule(data, utc(2026, 1, 1)).spec)
    assert schedule.next_after(after.replace(tzinfo=UTC)) == expected.replace(tzinfo=UTC)


def test_long_running_secondly_series_is_answered_from_near_the_asked_time():
    # Started 30 days ago: dateutil alone would walk 2.6 million seconds per look-up.
    schedule = parse_schedule({"frequency": "secondly", "interval": 7, "start": "2026-12-02T00:00:03Z"}, NOW)
    elapsed = (NOW - utc(2026, 12, 2, 0, 0, 3)).total_seconds()
    expected = utc(2026, 12, 2, 0, 0, 3) + timedelta(seconds=(elapsed // 7 + 1) * 7)
    assert fires(schedule, NOW, 3) == [expected + timedelta(seconds=7 * i) for i in range(3)]
    many = [schedule.next_after(NOW + timedelta(seconds=i)) for i in range(2000)]
    assert all(b - a in (timedelta(0), timedelta(seconds=7)) for a, b in zip(many, many[1:]))


def test_long_running_wall_clock_series_with_count():
    # A minutely rule in business hours started a year ago, and a COUNT reaching past now.
    schedule = parse_schedule({"frequency": "minutely", "interval": 3, "byhour": list(range(9, 18)),
                               "byday": ["mo", "tu", "we", "th", "fr"], "timezone": "Europe/Paris",
                               "start": "2026-01-05T09:00:00"}, NOW)
    assert fires(schedule, utc(2027, 1, 4, 7, 59, 30), 2) == [utc(2027, 1, 4, 8, 0), utc(2027, 1, 4, 8, 3)]
    counted = parse_schedule({"rrule": "FREQ=HOURLY;COUNT=9000", "start": "2026-01-01T00:00:00Z"}, NOW)
    assert counted.next_after(NOW) == utc(2027, 1, 1, 13)
    assert counted.next_after(utc(2027, 1, 10, 23)) is None       # the 9000th is 2027-01-10T23:00Z


# -- validation: every 422 names its field -------------------------------------------------

@pytest.mark.parametrize("data, field", [
    ({"frequency": "daily", "byhour": [24]}, "schedule.byhour"),
    ({"frequency": "daily", "byhour": [-1]}, "schedule.byhour"),
    ({"frequency": "daily", "byminute": [60]}, "schedule.byminute"),
    ({"frequency": "daily", "bysecond": ["0"]}, "schedule.bysecond"),
    ({"frequency": "daily", "byday": ["mon"]}, "schedule.byday"),
    ({"frequency": "weekly", "byday": ["1mo"]}, "schedule.byday"),
    ({"frequency": "monthly", "byday": ["6mo"]}, "schedule.byday"),
    ({"frequency": "monthly", "bymonthday": [0]}, "schedule.bymonthday"),
    ({"frequency": "monthly", "bymonthday": [30], "bymonth": [2]}, "schedule.bymonthday"),   # never fires
    ({"frequency": "weekly", "bymonthday": [1]}, "schedule.bymonthday"),
    ({"frequency": "daily", "bymonth": [13]}, "schedule.bymonth"),
    ({"frequency": "daily", "byhour": []}, "schedule.byhour"),
    ({"frequency": "fortnightly"}, "schedule.frequency"),
    ({"frequency": 3}, "schedule.frequency"),
    ({"frequency": "daily", "interval": 0}, "schedule.interval"),
    ({"frequency": "daily", "interval": 1.5}, "schedule.interval"),
    ({"frequency": "daily", "interval": True}, "schedule.interval"),
    ({"frequency": "daily", "start": "soon"}, "schedule.start"),
    ({"frequency": "daily", "start": "2027-02-01T00:00:00Z", "end": "2027-01-15T00:00:00Z"}, "schedule.end"),
    ({"frequency": "daily", "start": "2026-01-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}, "schedule.end"),
    ({"frequency": "daily", "count": 3}, "schedule.count"),
])
def test_recurrence_refusals_name_the_field(data, field):
    assert field in invalid(data)


@pytest.mark.parametrize("bounds", [
    {"until": "2027-01-03T12:00:00Z"},
    {"until": "2027-01-03T12:00:00Z", "end": "2027-01-10T00:00:00Z"},
    {"until": "2027-01-10T00:00:00Z", "end": "2027-01-03T12:00:00Z"},          # the earlier of the two wins
])
def test_until_ends_a_recurrence(bounds):
    schedule = parse_schedule({"frequency": "daily", "start": "2027-01-02T09:00:00Z", **bounds}, NOW)
    assert fires(schedule, NOW, 5) == [utc(2027, 1, 2, 9), utc(2027, 1, 3, 9)]


def test_a_recurrence_starting_after_its_until_is_refused():
    assert invalid({"frequency": "daily", "start": "2027-02-01T00:00:00Z", "until": "2027-01-15T00:00:00Z"}) == {
        "schedule.until": ["is before the next fire time (2027-02-01T00:00:00Z); the schedule would never fire"]}
