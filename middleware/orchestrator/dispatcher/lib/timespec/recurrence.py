"""Recurrences, the ``frequency`` form (kind ``recurrence``): an RFC 5545 recurrence as JSON,
and the recurrence machinery the ``rrule`` form shares::

    {"frequency": "weekly", "byday": ["mo", "we"], "byhour": [9], "byminute": [0, 30]}
    {"frequency": "minutely", "interval": 5, "end": "2027-01-01T00:00:00Z"}

Recurrences are computed by :mod:`dateutil.rrule` (true RRULE semantics) on clock readings,
read in the frames of :mod:`dispatcher.lib.timespec.zones`: wall-clock time for daily and
coarser frequencies and for rules naming hours or days, absolute time otherwise.

A recurrence's ``start`` defaults to ``now`` (whole seconds) and, as DTSTART, sets the time of
day of a daily rule that names no hour; ``end`` (RRULE UNTIL) is inclusive. A look-up never
walks from DTSTART: :class:`Recurrence` re-anchors the rule near the asked time, and every walk
is charged to the budget (:mod:`dispatcher.lib.timespec.budget`).
"""
from datetime import datetime, timedelta
from itertools import islice
import re

from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, SECONDLY, WEEKLY, YEARLY, rrulestr

from dispatcher.lib.timespec.budget import MeteredRule
from dispatcher.lib.timespec.schedule import HORIZON_YEARS, NEVER_FIRES_BLAME
from dispatcher.lib.timespec.zones import FixedFrame, Series, ZoneFrame, iso, read_time

MAX_INTERVAL = 1_000_000
BY_RULES = ("byday", "bymonth", "bymonthday", "byhour", "byminute", "bysecond")
KEYS = ("frequency", "interval", "start", "end") + BY_RULES
FREQUENCIES = {"yearly": YEARLY, "monthly": MONTHLY, "weekly": WEEKLY, "daily": DAILY,
               "hourly": HOURLY, "minutely": MINUTELY, "secondly": SECONDLY}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# RRULE list parts: (lowest, highest, negatives allowed), per RFC 5545 section 3.3.10.
RANGES = {"BYSECOND": (0, 59, False), "BYMINUTE": (0, 59, False), "BYHOUR": (0, 23, False),
          "BYMONTH": (1, 12, False), "BYMONTHDAY": (1, 31, True), "BYYEARDAY": (1, 366, True),
          "BYWEEKNO": (1, 53, True), "BYSETPOS": (1, 366, True)}
# Parts that tie a sub-daily rule to the calendar, so it runs on wall-clock time.
CALENDAR_PARTS = {"BYHOUR", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYYEARDAY", "BYWEEKNO"}
_BYDAY = re.compile(r"^([+-]?\d{1,2})?([A-Z]{2})$")


def read(data, zone, now, errors):
    """The normalised recurrence and its plan, or ``(None, None)`` with errors."""
    frequency = data["frequency"].lower() if isinstance(data["frequency"], str) else data["frequency"]
    freq = FREQUENCIES.get(frequency) if isinstance(frequency, str) else None
    if freq is None:
        errors.add("frequency", f"must be one of: {', '.join(reversed(FREQUENCIES))}")
    interval = data.get("interval", 1)
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= MAX_INTERVAL:
        errors.add("interval", f"must be a whole number from 1 to {MAX_INTERVAL}")
    body = {"frequency": frequency, "interval": interval}
    parts = {"FREQ": str(frequency).upper(), "INTERVAL": str(interval)}
    for name in BY_RULES:
        if name in data:
            values = _by_rule(name, data[name], freq, errors, "bymonth" in data)
            if values is not None:
                body[name] = values
                parts[name.upper()] = ",".join(str(v).upper() for v in values)
    if freq == WEEKLY and "bymonthday" in data:
        errors.add("bymonthday", "cannot be used with a weekly frequency (RFC 5545)")
    start, end = start_end(data, zone, now, errors, "end")
    if errors:
        return None, None
    body["start"] = iso(start)
    if end is not None:
        body["end"] = iso(end)
    given = [name for name in NEVER_FIRES_BLAME if name in body]
    return body, build_recurrence(parts, start, end, zone, (given or ["interval"])[0], errors)


def _by_rule(name, value, freq, errors, by_month=False):
    """A JSON by-rule as a sorted list of values, or None (with an error) when it is invalid."""
    values = value if isinstance(value, list) else [value]
    if not values:
        errors.add(name, "must not be empty; leave it out instead")
        return None
    if name == "byday":
        days = []
        for day in values:
            problem = byday_problem(str(day).upper() if isinstance(day, str) else "", freq, by_month)
            if problem:
                errors.add(name, f"{day!r}: {problem}")
            else:
                days.append(day.lower().lstrip("+"))
        return sorted(set(days), key=_byday_order) if len(days) == len(values) else None
    low, high, negative = RANGES[name.upper()]
    for number in values:
        if isinstance(number, bool) or not isinstance(number, int) or not low <= abs(number) <= high \
                or (number < 0 and not negative):
            span = f"{low}..{high}" + (f" or -{high}..-1" if negative else "")
            errors.add(name, f"must be whole numbers in {span}; got {number!r}")
            return None
    return sorted(set(values))


def _byday_order(day):
    match = _BYDAY.match(day.upper())
    return WEEKDAYS.index(match.group(2)), int(match.group(1) or 0)


def byday_problem(day, freq, by_month=False):
    """What is wrong with the BYDAY value ``day`` (upper case) for ``freq``, or None.

    A numbered weekday counts within the month in a monthly rule, and in a yearly one with
    BYMONTH (``by_month``), as RFC 5545 says: there, as dateutil computes it, a number past 5
    is not "never", it fails."""
    match = _BYDAY.match(day)
    if not match or match.group(2) not in WEEKDAYS:
        return "must be a weekday code mo..su, optionally numbered for monthly or yearly rules (1mo, -1fr)"
    if match.group(1):
        n = int(match.group(1))
        if freq not in (MONTHLY, YEARLY):
            return "a numbered weekday needs a monthly or yearly frequency"
        if n == 0 or abs(n) > (5 if freq == MONTHLY or by_month else 53):
            return ("the number must be 1..5 or -5..-1 in a month (a monthly rule, or a yearly one with bymonth), "
                    "1..53 or -53..-1 in a year")
    return None


def start_end(data, zone, now, errors, end_name, start=None, end=None):
    """Start (default: ``now`` to the second) and optional end, as aware datetimes in ``zone``."""
    if "start" in data:
        start = read_time(data["start"], zone, now, "start", errors)
    elif start is None:
        if now is None:
            errors.add("start", "is required in a stored schedule")
            return None, None
        start = now.astimezone(zone)
    if "end" in data:
        end = read_time(data["end"], zone, now, "end", errors)
    if start is not None:
        start = start.replace(microsecond=0)        # as dateutil does with DTSTART
        if end is not None and end < start:
            errors.add(end_name, f"is before the start ({iso(start)}); the schedule would never fire", never=True)
    return start, end


def build_recurrence(parts, start, end, zone, blame, errors):
    """The plan of RRULE ``parts``, or None with an error on ``blame`` when it cannot fire."""
    try:
        return Recurrence.build(parts, start, end, zone)
    except ValueError:                # dateutil: e.g. INTERVAL=2;BYSECOND=1 from an even second
        errors.add(blame, "never fires: stepping by its interval from its start never reaches "
                          "the hours, minutes or seconds it names", never=True)
        return None


class Recurrence:
    """A dateutil rrule on naive clock readings, re-anchored near the asked time.

    ``rrule.after`` walks from DTSTART: a secondly rule started a month ago would take millions
    of steps. The by-rules dateutil derives from DTSTART are stated explicitly, so moving DTSTART
    to the start of any period a whole number of INTERVALs after the first gives the same series
    from there on; each look-up then walks at most one period plus the way to the next fire.
    """

    def __init__(self, rule, freq, interval, wkst, dtstart, count):
        self.counted, self.count = (rule, count) if count else (None, None)
        self.rule = rule.replace(count=None) if count else rule
        self.freq, self.interval, self.wkst = freq, interval, wkst
        self.first = _period_start(freq, dtstart, wkst)
        self._last = None               # COUNT resolved to the reading of its last occurrence
        self._anchored = (None, self.rule)

    @classmethod
    def build(cls, parts, start, end, zone):
        """A :class:`Series` for RRULE ``parts`` from ``start`` (aware) to ``end`` (aware or None)."""
        freq = FREQUENCIES[parts["FREQ"].lower()]
        absolute = freq in (HOURLY, MINUTELY, SECONDLY) and not CALENDAR_PARTS & set(parts)
        frame = FixedFrame(start.utcoffset()) if absolute else ZoneFrame(zone)
        dtstart = start.replace(tzinfo=None)
        line = ";".join(f"{name}={value}" for name, value in parts.items() if name != "UNTIL")
        rule = MeteredRule.build(rrulestr(line, dtstart=dtstart), **_explicit_defaults(freq, parts, dtstart))
        source = cls(rule, freq, int(parts.get("INTERVAL", 1)), WEEKDAYS.index(parts.get("WKST", "MO")), dtstart,
                     int(parts.get("COUNT", 0)))
        return Series(source, frame, start, end)

    def bound(self, last):
        """The last reading that may fire: the series' own ``last``, or COUNT's last occurrence."""
        if self.counted is None:
            return last
        if self._last is None:          # once, at most MAX_COUNT steps
            self._last = next(islice(self.counted, self.count - 1, None), datetime.max)
        return self._last if last is None else min(last, self._last)

    def readings(self, low):
        return self._rule_from(low).xafter(low, inc=True)

    def possible(self):
        """Whether it ever fires, judged on the HORIZON_YEARS before dateutil stops at year 9999."""
        probe = self._rule_from(datetime(9999 - HORIZON_YEARS, 1, 1), remember=False)
        try:
            return next(iter(probe), None) is not None
        except ValueError:              # dateutil finds INTERVAL and BYxxx can never meet
            return False

    def _rule_from(self, low, remember=True):
        periods = _periods_between(self.freq, self.first, _period_start(self.freq, low, self.wkst))
        periods -= periods % self.interval
        if periods <= 0:
            return self.rule
        anchor = _advance(self.freq, self.first, periods)
        cached_anchor, rule = self._anchored
        if anchor != cached_anchor:
            rule = self.rule.replace(dtstart=anchor)
            if remember:
                self._anchored = (anchor, rule)
        return rule


def _explicit_defaults(freq, parts, dtstart):
    """The by-rules dateutil would derive from DTSTART, stated, so DTSTART can move (and WKST=MO)."""
    defaults = {}
    if not {"BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY"} & set(parts):
        if freq == YEARLY:
            defaults["bymonthday"] = dtstart.day
            if "BYMONTH" not in parts:
                defaults["bymonth"] = dtstart.month
        elif freq == MONTHLY:
            defaults["bymonthday"] = dtstart.day
        elif freq == WEEKLY:
            defaults["byweekday"] = dtstart.weekday()
    for name, attribute, coarser in (("BYHOUR", "hour", HOURLY), ("BYMINUTE", "minute", MINUTELY),
                                     ("BYSECOND", "second", SECONDLY)):
        if freq < coarser and name not in parts:
            defaults[name.lower()] = getattr(dtstart, attribute)
    if "WKST" not in parts:
        defaults["wkst"] = 0            # RFC 5545's default, not the host's calendar.firstweekday()
    return defaults


_UNITS = {DAILY: timedelta(days=1), HOURLY: timedelta(hours=1), MINUTELY: timedelta(minutes=1),
          SECONDLY: timedelta(seconds=1), WEEKLY: timedelta(weeks=1)}


def _period_start(freq, reading, wkst):
    """The start of the RRULE period (year, month, week from WKST, day...) holding ``reading``."""
    if freq == YEARLY:
        return reading.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if freq == MONTHLY:
        return reading.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if freq in (WEEKLY, DAILY):
        midnight = reading.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight - timedelta(days=(reading.weekday() - wkst) % 7 if freq == WEEKLY else 0)
    if freq == HOURLY:
        return reading.replace(minute=0, second=0, microsecond=0)
    if freq == MINUTELY:
        return reading.replace(second=0, microsecond=0)
    return reading.replace(microsecond=0)


def _periods_between(freq, first, later):
    if freq == YEARLY:
        return later.year - first.year
    if freq == MONTHLY:
        return (later.year - first.year) * 12 + later.month - first.month
    return (later - first) // _UNITS[freq]


def _advance(freq, first, periods):
    if freq == YEARLY:
        return first + relativedelta(years=periods)
    if freq == MONTHLY:
        return first + relativedelta(months=periods)
    return first + periods * _UNITS[freq]
