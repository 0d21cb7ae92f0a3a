"""Time specifications: parse and validate a job's ``schedule``, compute its fire times.

Four forms, each with an optional ``timezone`` (IANA name, default ``UTC``) and ``tolerance``
(seconds a run may start late, 1 to 86400, default 10)::

    {"at": "2027-01-01T09:00:00Z"}                       one-off; ISO 8601 or "1-jan-2027 9:00"
    {"frequency": "daily", "byhour": [9], ...}           an RFC 5545 recurrence as JSON
    {"rrule": "FREQ=WEEKLY;BYDAY=MO"}                    an RFC 5545 RRULE (DTSTART optional)
    {"cron": "*/5 * * * *"}                              five-field cron

Pure: nothing here does I/O except reading the time-zone database.

Recurrences are computed by :mod:`dateutil.rrule` (true RRULE semantics), cron fields by
APScheduler 3's :class:`~apscheduler.triggers.cron.CronTrigger`, both on *readings* of a clock:

* wall-clock time in the schedule's timezone, for daily and coarser frequencies and whenever a
  rule names hours or days (``byhour``, ``byday``... or a cron hour/day/month field). As RFC 5545
  says, a reading that falls in a spring-forward gap is taken with the offset before the gap
  (02:30 on the New York spring-forward day fires at 03:30 EDT), and an ambiguous reading on
  fall-back day fires once, at its first (daylight-time) instant;
* absolute time (a fixed offset) for secondly, minutely and hourly rules that name no hour or
  day, so "every hour" is every 3600 s across both transitions.

  Only the sub-hour part of that offset matters (hour and day are not named): it is the zone's
  offset at ``start`` for a recurrence, at the asked time for cron.

Cron follows standard (Vixie) cron: day-of-week 0 or 7 is Sunday, and when both day fields are
restricted a day matching either one fires. (APScheduler 3 counts 0 as Monday and ANDs the
two, so we translate before handing the fields to it.)

Other choices: a recurrence's ``start`` defaults to ``now`` (whole seconds) and, as DTSTART,
sets the time of day of a daily rule that names no hour; ``end`` (RRULE UNTIL) is inclusive; a
date without a time is midnight; an ``at`` up to ``tolerance`` seconds old is accepted (the
caller may still run it: ask ``next_after(now - tolerance)``); a rule with no occurrence in
HORIZON_YEARS "never fires"; COUNT is at most MAX_COUNT. Fire times are whole seconds.

The work is bounded. One computation of a fire time (``next_after``; whether a rule ever
fires) may take at most MAX_STEPS steps of dateutil's walk, counted as it walks
(:mod:`dispatcher.lib.budget`); past that it raises :class:`~dispatcher.errors.TooCostly`. A
schedule is refused when its next fire time (with COUNT, its last occurrence, found once)
needs more: a fine frequency whose times are rare (every second of 29 February at 23:59), a
COUNT counted from a DTSTART centuries ago, a rule that never fires if showing it takes more.
The scheduler then allows FOLLOW_STEPS for each later fire time, room for gaps longer than the
one checked at creation; a rule whose times grow rarer still stops there, and the scheduler
keeps its job without a next run and logs it. Cron expressions are not metered: APScheduler
advances them field by field, a few steps for any expression.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
import heapq
from itertools import islice
import json
import math
import re
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from dateutil import parser as dateparser
from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, SECONDLY, WEEKLY, YEARLY, rrulestr

from dispatcher.errors import TooCostly, ValidationFailed
from dispatcher.lib.budget import Budget, BudgetExceeded, MeteredRule

UTC = timezone.utc
ZERO = timedelta(0)
DEFAULT_TOLERANCE = 10
MIN_TOLERANCE = 1           # a run starts a few milliseconds late at best: 0 would always miss
MAX_TOLERANCE = 86400
MAX_INTERVAL = 1_000_000
MAX_COUNT = 10_000          # COUNT is resolved to its last occurrence once; this bounds that walk
HORIZON_YEARS = 10          # a rule with no occurrence in this many years "never fires"
MAX_STEPS = 200_000         # the work one fire-time computation may do (see dispatcher.lib.budget)
FOLLOW_STEPS = 5 * MAX_STEPS    # the scheduler's, later: room for gaps longer than the one checked
TOO_COSTLY = ("is too costly to compute: finding a fire time takes more than {steps:,} steps (its times are "
              "too rare for its frequency, its COUNT reaches too far, or one period holds too many times); use a "
              "coarser frequency that lists the times, e.g. FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=23;"
              "BYMINUTE=0,1,...,59 for FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=23")


class Kind(str, Enum):
    """The form of a schedule; compares equal to its plain string."""

    AT = "at"
    RECURRENCE = "recurrence"
    RRULE = "rrule"
    CRON = "cron"

    def __str__(self):
        return self.value


FORMS = ("at", "frequency", "rrule", "cron")            # the key that tells each form
KINDS = dict(zip(FORMS, Kind))
COMMON_KEYS = ("timezone", "tolerance")
BY_RULES = ("byday", "bymonth", "bymonthday", "byhour", "byminute", "bysecond")
FORM_KEYS = {
    "at": ("at",),
    "recurrence": ("frequency", "interval", "start", "end") + BY_RULES,
    "rrule": ("rrule", "start", "end"),
    "cron": ("cron",),
}
FREQUENCIES = {"yearly": YEARLY, "monthly": MONTHLY, "weekly": WEEKLY, "daily": DAILY,
               "hourly": HOURLY, "minutely": MINUTELY, "secondly": SECONDLY}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# RRULE list parts: (lowest, highest, negatives allowed), per RFC 5545 section 3.3.10.
RANGES = {"BYSECOND": (0, 59, False), "BYMINUTE": (0, 59, False), "BYHOUR": (0, 23, False),
          "BYMONTH": (1, 12, False), "BYMONTHDAY": (1, 31, True), "BYYEARDAY": (1, 366, True),
          "BYWEEKNO": (1, 53, True), "BYSETPOS": (1, 366, True)}
RRULE_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY") + tuple(RANGES)
# Parts RFC 5545 forbids with some frequencies.
FORBIDDEN = {"BYWEEKNO": {MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY, SECONDLY},
             "BYYEARDAY": {MONTHLY, WEEKLY, DAILY}, "BYMONTHDAY": {WEEKLY}}
# The field a recurrence that never fires is blamed on: the first of these it has.
NEVER_FIRES_BLAME = ("bymonthday", "byday", "bymonth", "byhour", "byminute", "bysecond")
# Parts that tie a sub-daily rule to the calendar, so it runs on wall-clock time.
CALENDAR_PARTS = {"BYHOUR", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYYEARDAY", "BYWEEKNO"}
_BYDAY = re.compile(r"^([+-]?\d{1,2})?([A-Z]{2})$")
_RFC_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")
_UNSAFE_ZONES = {"localtime", "posixrules", "Factory"}
CRON_ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
                "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
                "@hourly": "0 * * * *"}
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@dataclass(frozen=True)
class Schedule:
    """A validated schedule: its normalised JSON form and how to compute its fire times.

    Build one with :func:`parse_schedule` or :func:`schedule_from_stored`. ``kind``,
    ``timezone`` and ``tolerance`` are read from ``spec``, so they can never disagree with it.
    """

    spec: dict
    _plan: object = field(repr=False, compare=False)

    @property
    def kind(self):
        """A :class:`Kind`: ``"at"``, ``"recurrence"``, ``"rrule"`` or ``"cron"``."""
        return next(KINDS[key] for key in FORMS if key in self.spec)

    @property
    def timezone(self):
        return self.spec["timezone"]

    @property
    def tolerance(self):
        """Seconds a run may start late; at least MIN_TOLERANCE, also for a schedule stored
        with less before that minimum was set (with 0, all its runs were missed)."""
        return max(float(self.spec["tolerance"]), MIN_TOLERANCE)

    @property
    def one_off(self):
        """True for an ``at`` schedule, which fires once and then leaves the schedule."""
        return "at" in self.spec

    def next_after(self, after, steps=MAX_STEPS):
        """The first fire time strictly after the aware datetime ``after``, in UTC; None if none is left.

        Raises :class:`~dispatcher.errors.TooCostly` when finding it takes more than ``steps``.
        """
        if after.tzinfo is None or after.utcoffset() is None:
            raise ValueError("next_after needs a timezone-aware datetime")
        try:
            return _bounded(lambda: self._plan.next_after(after.astimezone(UTC)), self.spec, steps)
        except OverflowError:       # near datetime.max: nothing fires after the year 9999
            return None

    def __hash__(self):
        return hash(json.dumps(self.spec, sort_keys=True))


def parse_schedule(data, now):
    """Validate and normalise a client's ``schedule`` at the aware time ``now``.

    Raises :class:`ValidationFailed` whose ``details`` map ``schedule.<field>`` to messages,
    also for a schedule that can never fire (an ``at`` in the past, an ``end`` before now...).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("parse_schedule needs a timezone-aware now")
    schedule = _read(data, now)
    check_fires(schedule, now)
    return schedule


def schedule_from_stored(spec):
    """Rebuild a :class:`Schedule` from its stored normalised ``spec`` (no "in the past" checks)."""
    return _read(spec, None)


# -- reading a schedule ---------------------------------------------------------------------

class _Errors(dict):
    """Field -> messages, raised together as one :class:`ValidationFailed`."""

    def add(self, name, message):
        self.setdefault(f"schedule.{name}" if name else "schedule", []).append(message)

    def check(self):
        if self:
            raise ValidationFailed(f"invalid schedule: {', '.join(sorted(self))}", dict(self))


def _read(data, now):
    errors = _Errors()
    if not isinstance(data, dict):
        errors.add("", "must be an object with one of: " + ", ".join(FORMS))
        errors.check()
    forms = [key for key in FORMS if key in data]
    if len(forms) != 1:
        got = f" (got {' and '.join(forms)})" if forms else ""
        errors.add("", f"give exactly one of {', '.join(FORMS)}{got}")
        errors.check()
    kind = KINDS[forms[0]]
    allowed = FORM_KEYS[kind] + COMMON_KEYS
    for key in data:
        if key not in allowed:
            errors.add(key, f"unknown field for the {kind} form; allowed: {', '.join(allowed)}")
    zone = _zone(data.get("timezone", "UTC"), errors) or ZoneInfo("UTC")     # to report more errors
    least = 0 if now is None else MIN_TOLERANCE     # a spec stored before the minimum still reads
    tolerance = _tolerance(data.get("tolerance", DEFAULT_TOLERANCE), least, errors)
    spec = {"timezone": data.get("timezone", "UTC"), "tolerance": tolerance}
    reader = {"at": _read_at, "recurrence": _read_recurrence, "rrule": _read_rrule, "cron": _read_cron}[kind]
    body, plan = reader(data, zone, now, errors)
    errors.check()
    if "timezone" in body:              # an rrule's DTSTART;TZID= may name the timezone
        spec["timezone"] = body.pop("timezone")
    return Schedule({**body, **spec}, plan)


def _zone(name, errors):
    if not isinstance(name, str) or not name or name in _UNSAFE_ZONES:
        errors.add("timezone", "must be an IANA timezone name such as Europe/Paris or UTC")
        return None
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        errors.add("timezone", f"unknown timezone {name!r}; use an IANA name such as Europe/Paris or UTC")
        return None


def _tolerance(value, least, errors):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not least <= value <= MAX_TOLERANCE:
        errors.add("tolerance", f"must be a number of seconds from {MIN_TOLERANCE} to {MAX_TOLERANCE} (a run starts "
                                "some milliseconds after its time, later when the service is busy: with less "
                                "than a second, some runs or all would be missed)")
        return None
    return value


def _time(value, zone, now, name, errors):
    """A date-time string as an aware datetime in ``zone``; naive readings are local to ``zone``."""
    if not isinstance(value, str) or not value.strip():
        errors.add(name, "must be a date and time such as 2027-01-01T09:00:00Z")
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        if now is None:                 # stored specs are normalised ISO 8601
            errors.add(name, f"must be an ISO 8601 date and time, not {text!r}")
            return None
        try:
            # Missing parts ("9:00") come from today in the schedule's zone, never the host clock.
            today = now.astimezone(zone).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
            moment = dateparser.parse(text, default=today, tzinfos=_tzinfos)
        except (ValueError, OverflowError) as exc:
            errors.add(name, f"is not a date and time we understand ({exc}); try 2027-01-01T09:00:00Z")
            return None
    return _localize(moment, zone)


def _tzinfos(name, offset):
    # Abbreviations such as EST are ambiguous: accept only UTC names and numeric offsets.
    if offset is not None:
        return timezone(timedelta(seconds=offset))
    if name is None or name.upper() in ("UTC", "GMT", "UT", "Z"):
        return None if name is None else UTC
    raise ValueError(f"unknown zone abbreviation {name!r}: use an offset such as +02:00, or timezone")


def _localize(moment, zone):
    """``moment`` in ``zone``, keeping its reading when its offset is one ``zone`` gives that reading.

    So a stored ``02:30-05:00`` on a spring-forward day stays the (non-existent) reading 02:30
    that a recurrence repeats, and ``01:30-05:00`` on fall-back day stays the second 01:30.
    """
    reading = moment.replace(tzinfo=None)
    if moment.tzinfo is None:
        return reading.replace(tzinfo=zone)
    for fold in (0, 1):
        local = reading.replace(tzinfo=zone, fold=fold)
        if local.utcoffset() == moment.utcoffset():
            return local
    return moment.astimezone(zone)


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def _read_at(data, zone, now, errors):
    moment = _time(data["at"], zone, now, "at", errors)
    if moment is None:
        return None, None
    if moment.microsecond:              # fire times are whole seconds, and never early
        moment = (moment.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)).astimezone(zone)
    return {"at": _iso(moment)}, _At(moment.astimezone(UTC))


def _read_recurrence(data, zone, now, errors):
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
            values = _by_rule(name, data[name], freq, errors)
            if values is not None:
                body[name] = values
                parts[name.upper()] = ",".join(str(v).upper() for v in values)
    if freq == WEEKLY and "bymonthday" in data:
        errors.add("bymonthday", "cannot be used with a weekly frequency (RFC 5545)")
    start, end = _start_end(data, zone, now, errors, "end")
    if errors:
        return None, None
    body["start"] = _iso(start)
    if end is not None:
        body["end"] = _iso(end)
    given = [name for name in NEVER_FIRES_BLAME if name in body]
    return body, _build_recurrence(parts, start, end, zone, (given or ["interval"])[0], errors)


def _by_rule(name, value, freq, errors):
    """A JSON by-rule as a sorted list of values, or None (with an error) when it is invalid."""
    values = value if isinstance(value, list) else [value]
    if not values:
        errors.add(name, "must not be empty; leave it out instead")
        return None
    if name == "byday":
        days = []
        for day in values:
            problem = _byday_problem(str(day).upper() if isinstance(day, str) else "", freq)
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


def _byday_problem(day, freq):
    match = _BYDAY.match(day)
    if not match or match.group(2) not in WEEKDAYS:
        return "must be a weekday code mo..su, optionally numbered for monthly or yearly rules (1mo, -1fr)"
    if match.group(1):
        n = int(match.group(1))
        if freq not in (MONTHLY, YEARLY):
            return "a numbered weekday needs a monthly or yearly frequency"
        if n == 0 or abs(n) > (5 if freq == MONTHLY else 53):
            return "the number must be 1..5 or -5..-1 in a month, 1..53 or -53..-1 in a year"
    return None


def _start_end(data, zone, now, errors, end_name, start=None, end=None):
    """Start (default: ``now`` to the second) and optional end, as aware datetimes in ``zone``."""
    if "start" in data:
        start = _time(data["start"], zone, now, "start", errors)
    elif start is None:
        if now is None:
            errors.add("start", "is required in a stored schedule")
            return None, None
        start = now.astimezone(zone)
    if "end" in data:
        end = _time(data["end"], zone, now, "end", errors)
    if start is not None:
        start = start.replace(microsecond=0)        # as dateutil does with DTSTART
        if end is not None and end < start:
            errors.add(end_name, f"is before the start ({_iso(start)}); the schedule would never fire")
    return start, end


def _read_rrule(data, zone, now, errors):
    text = data["rrule"]
    if not isinstance(text, str) or not text.strip():
        errors.add("rrule", "must be an RFC 5545 RRULE string such as FREQ=WEEKLY;BYDAY=MO")
        return None, None
    try:
        parts, dtstart = _split_rrule(text)
        problems = _rrule_problems(parts)
    except ValueError as exc:
        problems = [str(exc)]
    for problem in problems:
        errors.add("rrule", problem)
    if errors:
        return None, None
    body = {}
    start = until = None
    if dtstart is not None:
        if "start" in data:
            errors.add("start", "the rrule has a DTSTART already; give the start once")
        moment, tzid = dtstart
        if tzid is not None:
            if "timezone" in data and data["timezone"] != tzid:
                errors.add("timezone", f"differs from the DTSTART TZID {tzid!r}")
            zone = _zone(tzid, errors)
            body["timezone"] = tzid
        start = moment if zone is None else _localize(moment, zone)
    if "UNTIL" in parts:
        if "end" in data:
            errors.add("end", "the rrule has an UNTIL already; give the end once")
        until = _rfc_time(parts.pop("UNTIL"), "UNTIL")
        until = None if zone is None else _localize(until, zone)
    if "COUNT" in parts and "end" in data:
        errors.add("end", "cannot be combined with an rrule COUNT (RFC 5545 allows one of COUNT and UNTIL)")
    if errors:
        return None, None
    start, end = _start_end(data, zone, now, errors, "rrule" if until else "end", start, until)
    if errors:
        return None, None
    body.update(rrule=";".join(f"{name}={value}" for name, value in parts.items()), start=_iso(start))
    if end is not None:
        body["end"] = _iso(end)
    return body, _build_recurrence(parts, start, end, zone, "rrule", errors)


def _build_recurrence(parts, start, end, zone, blame, errors):
    try:
        return _Recurrence.build(parts, start, end, zone)
    except ValueError:                # dateutil: e.g. INTERVAL=2;BYSECOND=1 from an even second
        errors.add(blame, "never fires: stepping by its interval from its start never reaches "
                          "the hours, minutes or seconds it names")
        return None


def _split_rrule(text):
    """RRULE parts (FREQ first, upper case) and the DTSTART as (datetime, TZID or None), or None."""
    line = dtstart = None
    for content in text.split():
        name, colon, value = content.partition(":")
        name, _, params = name.partition(";")
        name = name.upper()
        if not colon and "=" in content:
            name, value = "RRULE", content
        if name == "DTSTART" and dtstart is None:
            tzid = next((p.split("=", 1)[1] for p in params.split(";") if p.upper().startswith("TZID=")), None)
            dtstart = (_rfc_time(value, "DTSTART"), tzid)
        elif name == "RRULE" and line is None:
            line = value
        else:
            raise ValueError("only one RRULE line, optionally after one DTSTART line, is supported "
                             f"(not {content!r})")
    if line is None:
        raise ValueError("has no RRULE (such as FREQ=WEEKLY;BYDAY=MO)")
    parts = {}
    for item in line.upper().split(";"):
        name, equals, value = item.partition("=")
        if not equals or not value:
            raise ValueError(f"{item!r} is not NAME=VALUE")
        if name in parts:
            raise ValueError(f"{name} is given twice")
        parts[name] = value
    return dict(sorted(parts.items(), key=lambda item: item[0] != "FREQ")), dtstart


def _rfc_time(value, name):
    match = _RFC_TIME.match(value.upper())
    if not match:
        raise ValueError(f"{name} must look like 20270101T090000Z, 20270101T090000 or 20270101")
    numbers = [int(n) for n in match.groups()[:6] if n is not None]
    try:
        moment = datetime(*numbers)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    return moment.replace(tzinfo=UTC) if match.group(7) else moment


def _rrule_problems(parts):
    problems = [f"unknown part {name} (known: {', '.join(RRULE_PARTS)})" for name in parts
                if name not in RRULE_PARTS]
    freq = FREQUENCIES.get(parts.get("FREQ", "").lower())
    if freq is None:
        return problems + ["FREQ must be one of " + ", ".join(name.upper() for name in FREQUENCIES)]
    for name, bounds in (("INTERVAL", MAX_INTERVAL), ("COUNT", MAX_COUNT)):
        if name in parts and not (parts[name].isdigit() and 1 <= int(parts[name]) <= bounds):
            problems.append(f"{name} must be a whole number from 1 to {bounds}"
                            + ("; for longer series use UNTIL or end" if name == "COUNT" else ""))
    if "COUNT" in parts and "UNTIL" in parts:
        problems.append("COUNT and UNTIL cannot both be given (RFC 5545)")
    try:
        _rfc_time(parts.get("UNTIL", "20000101"), "UNTIL")
    except ValueError as exc:
        problems.append(str(exc))
    if "WKST" in parts and parts["WKST"] not in WEEKDAYS:
        problems.append("WKST must be one of " + ",".join(WEEKDAYS))
    for day in parts.get("BYDAY", "").split(",") if "BYDAY" in parts else ():
        problem = _byday_problem(day, freq)
        if problem:
            problems.append(f"BYDAY {day}: {problem}")
    for name, (low, high, negative) in RANGES.items():
        for value in parts.get(name, "").split(",") if name in parts else ():
            number = int(value) if re.fullmatch(r"[+-]?\d{1,3}", value) else None
            if number is None or not low <= abs(number) <= high or (number < 0 and not negative):
                span = f"{low}..{high}" + (f" or -{high}..-1" if negative else "")
                problems.append(f"{name} values must be in {span}; got {value!r}")
        if name in parts and freq in FORBIDDEN.get(name, ()):
            problems.append(f"{name} cannot be used with FREQ={parts['FREQ']} (RFC 5545)")
    if "BYSETPOS" in parts and not any(name.startswith("BY") and name != "BYSETPOS" for name in parts):
        problems.append("BYSETPOS needs another BYxxx part to select from")
    return problems


def _read_cron(data, zone, now, errors):
    expr = data["cron"]
    if not isinstance(expr, str) or not expr.strip():
        errors.add("cron", "must be a cron expression such as '*/5 * * * *'")
        return None, None
    text = " ".join(expr.split()).lower() if expr.strip().startswith("@") else " ".join(expr.split())
    try:
        source = _CronSource(CRON_ALIASES.get(text, text))
    except ValueError as exc:
        errors.add("cron", str(exc))
        return None, None
    return {"cron": text}, _Series(source, (_AbsoluteFrame if source.absolute else _ZoneFrame)(zone))


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


def check_fires(schedule, now):
    """Refuse a schedule that will never fire after the aware time ``now`` (when it is given,
    or when its paused job resumes), naming the field at fault; one too costly to compute
    raises :class:`TooCostly`."""
    plan, spec, errors = schedule._plan, schedule.spec, _Errors()
    if schedule.one_off:
        if plan.moment < now - timedelta(seconds=schedule.tolerance):
            errors.add("at", f"is in the past ({spec['at']}; now is {_iso(now.astimezone(UTC))})")
    elif not _bounded(plan.possible, spec):
        given = [name for name in NEVER_FIRES_BLAME if name in spec]
        errors.add("rrule" if "rrule" in spec else "cron" if "cron" in spec else (given or [""])[0],
                   f"never fires: no time in the next {HORIZON_YEARS} years matches all of its rules")
    elif schedule.next_after(now) is None:
        if "COUNT=" in spec.get("rrule", ""):
            errors.add("rrule", "all of its COUNT occurrences are before now")
        else:
            errors.add("end", f"no occurrence between now and the end ({spec.get('end')})")
    errors.check()


def _bounded(compute, spec, steps=MAX_STEPS):
    """``compute()``, stopped with :class:`TooCostly` (naming the rule's field) past ``steps``."""
    with Budget(steps) as budget:
        try:
            return compute()
        except BudgetExceeded as exc:
            if exc.budget is not budget:
                raise
    field = f"schedule.{next(key for key in FORMS if key in spec)}"
    raise TooCostly(f"invalid schedule: {field}", {field: [TOO_COSTLY.format(steps=steps)]})


# -- computing fire times -------------------------------------------------------------------

class _At:
    """One instant."""

    def __init__(self, moment):
        self.moment = moment

    def next_after(self, after):
        return self.moment if self.moment > after else None


class _FixedFrame:
    """Readings of a clock at a fixed UTC offset: absolute time."""

    def __init__(self, offset):
        self.offset = offset

    def at(self, moment):
        return self

    def instant(self, reading):
        return (reading - self.offset).replace(tzinfo=UTC)

    def low(self, moment):
        return moment.replace(tzinfo=None) + self.offset

    high = low


class _ZoneFrame:
    """Wall-clock readings in a zone; a reading in a gap takes the offset before the gap (fold=0)."""

    SPAN = timedelta(hours=26)          # wider than any offset change, so both sides of one are seen

    def __init__(self, zone):
        self.zone = zone

    def at(self, moment):
        return self

    def instant(self, reading):
        return reading.replace(tzinfo=self.zone).astimezone(UTC)

    def _offsets(self, moment):
        return [(moment + delta).astimezone(self.zone).utcoffset() for delta in (-self.SPAN, ZERO, self.SPAN)]

    def low(self, moment):
        """No reading whose instant is after ``moment`` is earlier than this."""
        return moment.replace(tzinfo=None) + min(self._offsets(moment))

    def high(self, moment):
        """Every reading later than this has its instant after ``moment``."""
        return moment.replace(tzinfo=None) + max(self._offsets(moment))


class _AbsoluteFrame(_ZoneFrame):
    """Absolute time at the zone's offset of the asked moment (for cron rules naming only minutes)."""

    def at(self, moment):
        return _FixedFrame(moment.astimezone(self.zone).utcoffset())


class _Series:
    """Fire times from a source of increasing clock readings, read in a frame.

    Readings map to instants monotonically except around a spring-forward gap, so the first
    instant after ``after`` is the least over readings up to ``frame.high`` of the first found.
    """

    def __init__(self, source, frame, start=None, end=None):
        self.source, self.frame, self.start, self.end = source, frame, start, end
        self.last = None if end is None else frame.high(end)    # no reading after this fires

    def next_after(self, after):
        frame = self.frame.at(after)
        low = frame.low(after)
        last = self.source.bound(self.last)
        if last is not None and low > last:
            return None
        best = stop = None
        for reading in self.source.readings(low):
            if (stop is not None and reading > stop) or (last is not None and reading > last):
                break
            moment = frame.instant(reading)
            if moment <= after or (self.start is not None and moment < self.start) \
                    or (self.end is not None and moment > self.end):
                continue
            if best is None or moment < best:
                best, stop = moment, frame.high(moment)
                if reading >= stop:
                    break
        return best

    def possible(self):
        return self.source.possible()


class _Recurrence:
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
        """A :class:`_Series` for RRULE ``parts`` from ``start`` (aware) to ``end`` (aware or None)."""
        freq = FREQUENCIES[parts["FREQ"].lower()]
        absolute = freq in (HOURLY, MINUTELY, SECONDLY) and not CALENDAR_PARTS & set(parts)
        frame = _FixedFrame(start.utcoffset()) if absolute else _ZoneFrame(zone)
        dtstart = start.replace(tzinfo=None)
        line = ";".join(f"{name}={value}" for name, value in parts.items() if name != "UNTIL")
        rule = MeteredRule.build(rrulestr(line, dtstart=dtstart), **_explicit_defaults(freq, parts, dtstart))
        source = cls(rule, freq, int(parts.get("INTERVAL", 1)), WEEKDAYS.index(parts.get("WKST", "MO")), dtstart,
                     int(parts.get("COUNT", 0)))
        return _Series(source, frame, start, end)

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


class _CronSource:
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
