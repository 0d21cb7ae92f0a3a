"""Time zones and daylight-saving time: reading times in a schedule's zone, and the frames that
turn clock readings into instants.

Recurrences and cron expressions are computed on *readings* of a clock, read in one of two
frames:

* wall-clock time in the schedule's timezone (:class:`ZoneFrame`), for daily and coarser
  frequencies and whenever a rule names hours or days (``byhour``, ``byday``... or a cron
  hour/day/month field). As RFC 5545 says, a reading that falls in a spring-forward gap is
  taken with the offset before the gap (02:30 on the New York spring-forward day fires at 03:30
  EDT), and an ambiguous reading on fall-back day fires once, at its first (daylight-time)
  instant;
* absolute time (a fixed offset, :class:`FixedFrame`) for secondly, minutely and hourly rules
  that name no hour or day, so "every hour" is every 3600 s across both transitions.

  Only the sub-hour part of that offset matters (hour and day are not named): it is the zone's
  offset at ``start`` for a recurrence, at the asked time for cron (:class:`AbsoluteFrame`).

A :class:`Series` reads a source of increasing readings in a frame and answers the first
instant after a given one. Times given without an offset are read in the schedule's zone; a
date without a time is midnight. Nothing here does I/O except reading the time-zone database.
"""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser

UTC = timezone.utc
ZERO = timedelta(0)
_UNSAFE_ZONES = {"localtime", "posixrules", "Factory"}


def read_zone(name, errors):
    """The :class:`ZoneInfo` named ``name``, or None with an error on ``timezone``."""
    if not isinstance(name, str) or not name or name in _UNSAFE_ZONES:
        errors.add("timezone", "must be an IANA timezone name such as Europe/Paris or UTC")
        return None
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        errors.add("timezone", f"unknown timezone {name!r}; use an IANA name such as Europe/Paris or UTC")
        return None


def read_time(value, zone, now, name, errors):
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
    return localize(moment, zone)


def _tzinfos(name, offset):
    # Abbreviations such as EST are ambiguous: accept only UTC names and numeric offsets.
    if offset is not None:
        return timezone(timedelta(seconds=offset))
    if name is None or name.upper() in ("UTC", "GMT", "UT", "Z"):
        return None if name is None else UTC
    raise ValueError(f"unknown zone abbreviation {name!r}: use an offset such as +02:00, or timezone")


def localize(moment, zone):
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


def iso(moment):
    """ISO 8601, UTC written ``Z``."""
    return moment.isoformat().replace("+00:00", "Z")


# -- frames: clock readings to instants -----------------------------------------------------

class FixedFrame:
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


class ZoneFrame:
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


class AbsoluteFrame(ZoneFrame):
    """Absolute time at the zone's offset of the asked moment (for cron rules naming only minutes)."""

    def at(self, moment):
        return FixedFrame(moment.astimezone(self.zone).utcoffset())


class Series:
    """Fire times from a source of increasing clock readings, read in a frame.

    Readings map to instants monotonically except around a spring-forward gap, so the first
    instant after ``after`` is the least over readings up to ``frame.high`` of the first found.
    """

    def __init__(self, source, frame, start=None, end=None):
        self.source, self.frame, self.start, self.end = source, frame, start, end
        # No reading after this fires. ``high`` takes an instant in UTC: the end's own
        # reading, in its zone, would have the zone's offset applied twice.
        self.last = None if end is None else frame.high(end.astimezone(UTC))

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
