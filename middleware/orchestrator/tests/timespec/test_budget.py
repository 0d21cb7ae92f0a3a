"""The bound on the work of computing fire times."""
import pytest

from dispatcher.errors import TooCostly
from dispatcher.lib.timespec import MAX_STEPS, TOO_COSTLY, parse_schedule, schedule_from_stored
from dispatcher.lib.timespec.budget import Budget
from schedules import NOW, fires, invalid, utc


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
