"""RFC 5545 strings, the ``rrule`` form (kind ``rrule``)::

    {"rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0", "timezone": "Europe/Rome"}
    {"rrule": "DTSTART;TZID=America/New_York:20270101T090000\\nRRULE:FREQ=DAILY;COUNT=3"}

One RRULE line, optionally after one DTSTART line, whose TZID becomes the timezone. ``start``
and ``end`` may be given as in the ``frequency`` form unless the rule says DTSTART or UNTIL
already; UNTIL is inclusive; COUNT is at most MAX_COUNT, and resolved once to its last
occurrence. The rule is computed by the machinery of :mod:`dispatcher.lib.timespec.recurrence`.
"""
from datetime import datetime
import re

from dateutil.rrule import DAILY, HOURLY, MINUTELY, MONTHLY, SECONDLY, WEEKLY

from dispatcher.lib.timespec.recurrence import (FREQUENCIES, MAX_INTERVAL, RANGES, WEEKDAYS, build_recurrence,
                                                byday_problem, start_end)
from dispatcher.lib.timespec.zones import UTC, iso, localize, read_zone

MAX_COUNT = 10_000          # COUNT is resolved to its last occurrence once; this bounds that walk
KEYS = ("rrule", "start", "end")
RRULE_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY") + tuple(RANGES)
# Parts RFC 5545 forbids with some frequencies.
FORBIDDEN = {"BYWEEKNO": {MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY, SECONDLY},
             "BYYEARDAY": {MONTHLY, WEEKLY, DAILY}, "BYMONTHDAY": {WEEKLY}}
_RFC_TIME = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")


def read(data, zone, now, errors):
    """The normalised rule and its plan, or ``(None, None)`` with errors."""
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
            zone = read_zone(tzid, errors)
            body["timezone"] = tzid
        start = moment if zone is None else localize(moment, zone)
    if "UNTIL" in parts:
        if "end" in data:
            errors.add("end", "the rrule has an UNTIL already; give the end once")
        until = _rfc_time(parts.pop("UNTIL"), "UNTIL")
        until = None if zone is None else localize(until, zone)
    if "COUNT" in parts and "end" in data:
        errors.add("end", "cannot be combined with an rrule COUNT (RFC 5545 allows one of COUNT and UNTIL)")
    if errors:
        return None, None
    start, end = start_end(data, zone, now, errors, "rrule" if until else "end", start, until)
    if errors:
        return None, None
    body.update(rrule=";".join(f"{name}={value}" for name, value in parts.items()), start=iso(start))
    if end is not None:
        body["end"] = iso(end)
    return body, build_recurrence(parts, start, end, zone, "rrule", errors)


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
        problem = byday_problem(day, freq, "BYMONTH" in parts)
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
