"""Time specifications: parsing, validation and fire times, checked against dateutil itself."""
from datetime import datetime, timedelta, timezone
import json
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, FR, HOURLY, MINUTELY, MO, MONTHLY, SECONDLY, WE, WEEKLY, rrule, rrulestr
from hypothesis import given, settings, strategies as st
import pytest

from dispatcher.errors import TooCostly, ValidationFailed
from dispatcher.lib.timespec.budget import Budget
from dispatcher.lib.timespec import MAX_STEPS, TOO_COSTLY, Kind, Schedule, parse_schedule, schedule_from_stored

UTC = timezone.utc
NOW = datetime(2027, 1, 1, 12, 0, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def fires(schedule, after, n):
    """The next ``n`` fire times after ``after``."""
    found = []
    for _ in range(n):
        after = schedule.next_after(after)
        if after is None:
            break
        found.append(after)
    return found


def invalid(data, now=NOW):
    """The ``details`` of the 422 that ``data`` must raise."""
    with pytest.raises(ValidationFailed) as caught:
        parse_schedule(data, now)
    assert caught.value.status == 422
    return caught.value.details


# -- one-off ------------------------------------------------------------------------------

def test_at_iso_fires_once():
    schedule = parse_schedule({"at": "2027-01-02T09:00:00Z"}, NOW)
    assert (schedule.kind, schedule.one_off, schedule.timezone, schedule.tolerance) == ("at", True, "UTC", 10.0)
    assert schedule.kind is Kind.AT
    assert schedule.spec == {"at": "2027-01-02T09:00:00Z", "timezone": "UTC", "tolerance": 10}
    assert schedule.next_after(NOW) == utc(2027, 1, 2, 9)
    assert schedule.next_after(utc(2027, 1, 2, 9)) is None


@pytest.mark.parametrize("text, zone, expected", [
    ("1-jan-2027 18:00", "UTC", utc(2027, 1, 1, 18)),
    ("1-jan-2027 9:00", "America/New_York", utc(2027, 1, 1, 14)),        # naive: the schedule's zone
    ("March 3 2027 5pm", "Europe/Paris", utc(2027, 3, 3, 16)),
    ("2027-07-01 09:00", "Europe/Paris", utc(2027, 7, 1, 7)),
    ("2027-07-01T09:00:00+02:00", "America/New_York", utc(2027, 7, 1, 7)),  # an offset wins
    ("17:30", "UTC", utc(2027, 1, 1, 17, 30)),                           # today, from now, not the host clock
])
def test_at_human_and_local_dates(text, zone, expected):
    assert parse_schedule({"at": text, "timezone": zone}, NOW).next_after(NOW) == expected


def test_at_in_the_past_names_the_field_and_tolerance_allows_a_little():
    assert "schedule.at" in invalid({"at": "2026-12-31T23:00:00Z"})
    assert "schedule.at" in invalid({"at": "1-jan-2027 11:59:49"})                      # 11 s late
    assert parse_schedule({"at": "1-jan-2027 11:59:51"}, NOW).one_off                    # 9 s late
    assert parse_schedule({"at": "1-jan-2027 11:59:00", "tolerance": 60}, NOW).one_off
    assert "schedule.at" in invalid({"at": "1-jan-2027 11:59:51", "tolerance": 1})


def test_at_rounds_fractions_up_to_whole_seconds():
    schedule = parse_schedule({"at": "2027-01-02T09:00:00.250Z"}, NOW)
    assert schedule.spec["at"] == "2027-01-02T09:00:01Z"


@pytest.mark.parametrize("value", ["not a date", "", 1735689600, "2027-01-02 09:00 EST", "31-feb-2027"])
def test_at_unreadable(value):
    assert "schedule.at" in invalid({"at": value})


# -- recurrences against dateutil -----------------------------------------------------------

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


# -- bounded work ---------------------------------------------------------------------------

EVERY_HOUR = ",".join(str(hour) for hour in range(24))
REFUSED = TOO_COSTLY.format(steps=MAX_STEPS)
COSTLY = [
    # Walks from the year 1 towards its 10,000th 29 February: past the year 9999.
    f"DTSTART:00010101T000000Z\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYHOUR={EVERY_HOUR};BYSETPOS=-1;COUNT=10000",
    "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=23;BYMINUTE=59",      # 86,000 steps a day, for a year
    "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO;BYHOUR=23",         # a Monday 29 February: 2044
    "FREQ=SECONDLY;BYSETPOS=2;BYMINUTE=0",                              # never: one time per period
]


@pytest.mark.parametrize("rule", COSTLY)
def test_costly_rules_are_refused_after_bounded_work(rule):
    with Budget() as meter:
        assert invalid({"rrule": rule}) == {"schedule.rrule": [REFUSED]}
    # At most two computations (whether it ever fires, when it fires next), each stopped at
    # its budget; one step more costs at most 366 * (1 + len(BYSETPOS)).
    assert meter.spent <= 2 * (MAX_STEPS + 732)


def test_the_same_times_named_with_a_coarser_frequency_are_cheap():
    minutes = ",".join(str(minute) for minute in range(60))
    schedule = parse_schedule({"rrule": f"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=23;BYMINUTE={minutes}",
                               "start": "2027-01-01T00:00:00Z"}, NOW)
    with Budget() as meter:
        assert fires(schedule, NOW, 2) == [utc(2028, 2, 29, 23, 0), utc(2028, 2, 29, 23, 1)]
    assert meter.spent < MAX_STEPS / 100


def test_a_costly_stored_schedule_is_bounded_too():
    """What the scheduler computes for a stored schedule, which is not validated again."""
    stored = schedule_from_stored({"rrule": COSTLY[1], "start": "2027-01-01T00:00:00Z", "timezone": "UTC",
                                   "tolerance": 10})
    with Budget() as meter, pytest.raises(TooCostly) as caught:
        stored.next_after(NOW)
    assert caught.value.status == 422 and caught.value.details == {"schedule.rrule": [REFUSED]}
    assert MAX_STEPS < meter.spent <= MAX_STEPS + 732


@pytest.mark.parametrize("frequency", ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"])
def test_every_frequency_is_charged_for_the_days_it_walks(frequency):
    """The guard on dateutil: its walk must be charged, at least a step a day, at every frequency."""
    schedule = parse_schedule({"rrule": f"FREQ={frequency};BYMONTH=2;BYDAY=MO;BYHOUR=0;BYMINUTE=0;BYSECOND=0",
                               "start": "2027-01-01T00:00:00Z"}, NOW)
    with Budget() as meter:
        assert schedule.next_after(utc(2027, 3, 1)) == utc(2028, 2, 7)
    assert meter.spent >= (utc(2028, 2, 7) - utc(2027, 3, 1)).days


# -- rrule strings --------------------------------------------------------------------------

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


# -- cron ---------------------------------------------------------------------------------

@pytest.mark.parametrize("expr, after, expected", [
    ("*/5 * * * *", utc(2027, 1, 1, 12, 3), [utc(2027, 1, 1, 12, 5), utc(2027, 1, 1, 12, 10)]),
    ("0 9 * * 0", NOW, [utc(2027, 1, 3, 9), utc(2027, 1, 10, 9)]),               # 0 is Sunday
    ("0 9 * * 7", NOW, [utc(2027, 1, 3, 9), utc(2027, 1, 10, 9)]),               # so is 7
    ("0 9 * * 1-5", NOW, [utc(2027, 1, 4, 9), utc(2027, 1, 5, 9)]),              # Monday to Friday
    ("0 9 * * mon,fri", NOW, [utc(2027, 1, 4, 9), utc(2027, 1, 8, 9)]),
    ("0 9 * * */2", NOW, [utc(2027, 1, 2, 9), utc(2027, 1, 3, 9), utc(2027, 1, 5, 9)]),  # sun,tue,thu,sat
    ("0 9 13 * 5", NOW, [utc(2027, 1, 8, 9), utc(2027, 1, 13, 9), utc(2027, 1, 15, 9)]),  # 13th OR Friday
    ("0 9 */10 * *", NOW, [utc(2027, 1, 11, 9), utc(2027, 1, 21, 9), utc(2027, 1, 31, 9)]),
    ("0 0 29 2 *", NOW, [utc(2028, 2, 29), utc(2032, 2, 29)]),
    ("@hourly", NOW, [utc(2027, 1, 1, 13), utc(2027, 1, 1, 14)]),
    ("@daily", NOW, [utc(2027, 1, 2), utc(2027, 1, 3)]),
    ("@weekly", NOW, [utc(2027, 1, 3), utc(2027, 1, 10)]),
])
def test_cron(expr, after, expected):
    schedule = parse_schedule({"cron": expr}, NOW)
    assert fires(schedule, after, len(expected)) == expected
    assert schedule.kind == "cron"


def test_cron_in_a_zone_and_normalised_spacing():
    schedule = parse_schedule({"cron": "  0   3 * * *  ", "timezone": "Europe/Rome"}, NOW)
    assert schedule.spec == {"cron": "0 3 * * *", "timezone": "Europe/Rome", "tolerance": 10}
    assert schedule.next_after(NOW) == utc(2027, 1, 2, 2)


@pytest.mark.parametrize("expr", ["* * * *", "* * * * * *", "61 * * * *", "* 24 * * *", "* * * * 8",
                                  "* * * * 5-1", "* * 0 * *", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "", "@often"])
def test_cron_refusals_name_the_field(expr):
    assert list(invalid({"cron": expr})) == ["schedule.cron"]


# -- DST: wall-clock for daily and coarser, absolute for hourly and finer ---------------------

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


def test_start_in_the_spring_gap_keeps_its_reading():
    schedule = parse_schedule({"frequency": "daily", "start": "2027-03-14T02:30:00",
                               "timezone": "America/New_York"}, NOW)
    assert schedule.spec["start"] == "2027-03-14T02:30:00-05:00"
    assert fires(schedule_from_stored(schedule.spec), NOW, 2) == [utc(2027, 3, 14, 7, 30), utc(2027, 3, 15, 6, 30)]


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
