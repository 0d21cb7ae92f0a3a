"""Cron expressions: the ``cron`` form."""
import pytest

from dispatcher.lib.timespec import parse_schedule
from schedules import NOW, fires, invalid, utc


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


def test_cron_until_is_inclusive():
    schedule = parse_schedule({"cron": "0 9 * * *", "until": "2027-01-03T09:00:00Z"}, NOW)
    assert fires(schedule, NOW, 5) == [utc(2027, 1, 2, 9), utc(2027, 1, 3, 9)]


@pytest.mark.parametrize("until", ["13:00", "2027-01-02T08:59:59Z", "2026-12-31T09:00:00Z"])
def test_cron_until_before_its_next_time_is_refused(until):
    assert invalid({"cron": "0 9 * * *", "until": until}) == {"schedule.until": [
        "is before the next fire time (2027-01-02T09:00:00Z); the schedule would never fire"]}
