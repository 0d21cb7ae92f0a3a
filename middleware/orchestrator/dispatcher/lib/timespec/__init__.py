"""Time specifications: parse and validate a job's ``schedule``, compute its fire times.

Four forms, one module each, all with the common keys of
:mod:`dispatcher.lib.timespec.schedule`::

    {"at": "2027-01-01T09:00:00Z"}                       at: one-off; ISO 8601 or "1-jan-2027 9:00"
    {"frequency": "daily", "byhour": [9], ...}           recurrence: an RFC 5545 recurrence as JSON
    {"rrule": "FREQ=WEEKLY;BYDAY=MO"}                    rrule: an RFC 5545 RRULE (DTSTART optional)
    {"cron": "*/5 * * * *"}                              cron: five-field cron

Time zones and daylight-saving time are :mod:`dispatcher.lib.timespec.zones`; the bound on
dateutil's work is :mod:`dispatcher.lib.timespec.budget`. Pure: nothing here does I/O except
reading the time-zone database.

This package's names are its API; the modules in it are how it is built.
"""
from dispatcher.lib.timespec.schedule import (COMMON_KEYS, DEFAULT_TOLERANCE, FOLLOW_STEPS, FORMS, HORIZON_YEARS,
                                              MAX_STEPS, MAX_TOLERANCE, MIN_TOLERANCE, TOO_COSTLY, Kind, Schedule,
                                              check_fires, parse_schedule, schedule_from_stored)

__all__ = ["COMMON_KEYS", "DEFAULT_TOLERANCE", "FOLLOW_STEPS", "FORMS", "HORIZON_YEARS", "MAX_STEPS",
           "MAX_TOLERANCE", "MIN_TOLERANCE", "TOO_COSTLY", "Kind", "Schedule", "check_fires", "parse_schedule",
           "schedule_from_stored"]
