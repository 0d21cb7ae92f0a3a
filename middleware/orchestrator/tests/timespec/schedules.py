"""What the time-specification tests share: a fixed now, UTC times, fire times, refusals."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from dispatcher.errors import ValidationFailed
from dispatcher.lib.timespec import parse_schedule

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
