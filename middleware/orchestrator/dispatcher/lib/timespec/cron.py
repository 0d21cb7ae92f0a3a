"""Cron expressions, the ``cron`` form (kind ``cron``)::

    {"cron": "*/5 * * * *"}
    {"cron": "0 9 * * mon-fri", "timezone": "Europe/Rome"}
    {"cron": "@daily"}

Five fields, read as standard (Vixie) cron does: day-of-week 0 or 7 is Sunday, and when both
day fields are restricted a day matching either one fires. The fields are computed by
APScheduler 3's :class:`~apscheduler.triggers.cron.CronTrigger`, which counts 0 as Monday and
ANDs the two day fields, so we translate before handing the fields to it. An expression naming
only minutes runs in absolute time, every other one on the wall clock of the schedule's zone
(:mod:`dispatcher.lib.timespec.zones`). Cron is not metered: APScheduler advances it field by
field, a few steps for any expression.
"""
from datetime import datetime, timedelta
import heapq

from apscheduler.triggers.cron import CronTrigger

from dispatcher.lib.timespec.schedule import HORIZON_YEARS
from dispatcher.lib.timespec.zones import UTC, AbsoluteFrame, Series, ZoneFrame

KEYS = ("cron",)
CRON_ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                "@hourly": "0 * * * *"}
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def read(data, zone, now, errors):
    """The normalised expression and its plan, or ``(None, None)`` with errors."""
    expr = data["cron"]
    if not isinstance(expr, str) or not expr.strip():
        errors.add("cron", "must be a cron expression such as '*/5 * * * *'")
        return None, None
    text = " ".join(expr.split()).lower() if expr.strip().startswith("@") else " ".join(expr.split())
    try:
        source = CronSource(CRON_ALIASES.get(text, text))
    except ValueError as exc:
        errors.add("cron", str(exc))
        return None, None
    return {"cron": text}, Series(source, (AbsoluteFrame if source.absolute else ZoneFrame)(zone))


def _cron_triggers(expr, end_date=None):
    """APScheduler triggers (on UTC readings) whose union is the cron expression."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"needs 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    days = _cron_weekdays(weekday)

    def trigger(day, day_of_week):
        try:
            return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week,
                               timezone=UTC, end_date=end_date)
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None

    if day.startswith("*") or weekday.startswith("*"):
        return [trigger(day, days)]
    return [trigger(day, "*"), trigger("*", days)]    # both restricted: either day matches


def _cron_weekdays(text):
    """A cron day-of-week field (0 and 7 are Sunday) in APScheduler's day names."""
    if text in ("*", "?"):
        return "*"
    found = set()
    for token in text.lower().split(","):
        span, slash, step = token.partition("/")
        if slash and not (step.isdigit() and int(step) >= 1):
            raise ValueError(f"day-of-week step {step!r} must be a whole number >= 1")
        first, dash, last = span.partition("-")
        low = 0 if span == "*" else _cron_weekday(first)
        high = 6 if span == "*" or (slash and not dash) else _cron_weekday(last) if dash else low
        if low > high:
            raise ValueError(f"day-of-week range {span!r} runs backwards")
        found.update(day % 7 for day in range(low, high + 1, int(step) if slash else 1))
    return ",".join(_CRON_DAYS[day] for day in sorted(found))


def _cron_weekday(text):
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    raise ValueError(f"day of week {text!r} must be 0-7 (0 and 7 are Sunday) or sun..sat")


class CronSource:
    """Readings matching a cron expression, found by APScheduler triggers on UTC-as-naive time."""

    def __init__(self, expr):
        self.expr = expr
        self.triggers = _cron_triggers(expr)
        # Only minutes named ("*/5 * * * *", "0 * * * *"): every N minutes in absolute time.
        self.absolute = all(part == "*" for part in expr.split()[1:])

    @staticmethod
    def bound(last):
        return last

    def readings(self, low):
        walks = [self._walk(trigger, low) for trigger in self.triggers]
        return walks[0] if len(walks) == 1 else heapq.merge(*walks)

    @staticmethod
    def _walk(trigger, low):
        moment = low.replace(tzinfo=UTC)
        while (moment := trigger.get_next_fire_time(None, moment)) is not None:
            yield moment.replace(tzinfo=None)
            moment += timedelta(seconds=1)

    def possible(self):
        start = datetime(2000, 1, 1, tzinfo=UTC)
        bounded = _cron_triggers(self.expr, end_date=start.replace(year=2000 + HORIZON_YEARS))
        return any(trigger.get_next_fire_time(None, start) is not None for trigger in bounded)
