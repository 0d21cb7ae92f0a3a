"""One-off schedules, the ``at`` form (kind ``at``)::

    {"at": "2027-01-01T09:00:00Z"}
    {"at": "1-jan-2027 9:00", "timezone": "Europe/Rome"}

ISO 8601 or a human date and time, read in the schedule's timezone when it has no offset; a
fraction of a second is rounded up, since fire times are whole seconds and never early. An
``at`` up to ``tolerance`` seconds old is accepted (the caller may still run it: ask
``next_after(now - tolerance)``).
"""
from datetime import timedelta

from dispatcher.lib.timespec.zones import UTC, iso, read_time

KEYS = ("at",)


def read(data, zone, now, errors):
    """The normalised ``at`` and its plan, or ``(None, None)`` with errors."""
    moment = read_time(data["at"], zone, now, "at", errors)
    if moment is None:
        return None, None
    if moment.microsecond:              # fire times are whole seconds, and never early
        moment = (moment.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)).astimezone(zone)
    return {"at": iso(moment)}, At(moment.astimezone(UTC))


class At:
    """One instant."""

    def __init__(self, moment):
        self.moment = moment

    def next_after(self, after):
        return self.moment if self.moment > after else None
