"""One-off schedules: the ``at`` form."""
import pytest

from dispatcher.lib.timespec import Kind, parse_schedule
from schedules import NOW, invalid, utc


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


def test_at_until_bounds_its_one_run():
    schedule = parse_schedule({"at": "2027-01-02T09:00:00Z", "until": "2027-01-02T09:00:00Z", "max_runs": 1}, NOW)
    assert (schedule.next_after(NOW), schedule.until, schedule.max_runs) == (utc(2027, 1, 2, 9), utc(2027, 1, 2, 9), 1)
    assert invalid({"at": "2027-01-02T09:00:00Z", "until": "2 jan 2027 8:59:59"}) == {"schedule.until": [
        "is before the at (2027-01-02T09:00:00Z); the schedule would never fire"]}
    assert set(invalid({"at": "2026-12-31T09:00:00Z", "until": "2026-12-31T08:00:00Z"})) \
        == {"schedule.at", "schedule.until"}
