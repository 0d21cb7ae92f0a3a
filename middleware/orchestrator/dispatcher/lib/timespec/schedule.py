"""The :class:`Schedule` value: reading a ``schedule``, its common keys, its errors.

Every form takes the common keys ``timezone`` (an IANA name, default ``UTC``), ``tolerance``
(seconds a run may start late, MIN_TOLERANCE to MAX_TOLERANCE, default 10), and, to end it,
``until`` and ``max_runs``:

* ``until`` bounds every fire time, inclusive. It is read as the form's own times are (ISO 8601
  or a human date, in the schedule's timezone; a reading in a spring-forward gap takes the offset
  before the gap, one that happens twice is the first) and kept to the second. A schedule with
  no fire time between now and its ``until`` never fires and is refused, naming ``until``.
* ``max_runs`` (a whole number, at least 1) is only carried, in the spec and as
  :attr:`Schedule.max_runs`: the scheduler counts the occurrences it claims and ends the job
  after that many.

The key that tells the form (``at``, ``frequency``, ``rrule`` or ``cron``) picks the module
that reads the rest, imported on first use; each returns the normalised fields and a *plan*,
the object that answers ``next_after`` for the form's rules (``until`` is applied here). Every
problem is reported at once, as one :class:`ValidationFailed` naming each
field ``schedule.<field>``; so is a schedule that never fires: a rule with no occurrence in
HORIZON_YEARS "never fires". Fire times are whole seconds.

The work is bounded. One computation of a fire time (``next_after``; whether a rule ever
fires) may take at most MAX_STEPS steps of dateutil's walk, counted as it walks
(:mod:`dispatcher.lib.timespec.budget`); past that it raises :class:`~dispatcher.errors.TooCostly`.
A schedule is refused when its next fire time (with COUNT, its last occurrence, found once)
needs more: a fine frequency whose times are rare (every second of 29 February at 23:59), a
COUNT counted from a DTSTART centuries ago, a rule that never fires if showing it takes more.
The scheduler then allows FOLLOW_STEPS for each later fire time, room for gaps longer than the
one checked at creation; a rule whose times grow rarer still stops there, and the scheduler
keeps its job without a next run and logs it. Cron expressions are not metered: APScheduler
advances them field by field, a few steps for any expression.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from functools import cached_property
import importlib
import json
import math
from zoneinfo import ZoneInfo

from dispatcher.errors import NeverFires, TooCostly, ValidationFailed
from dispatcher.lib.timespec.budget import Budget, BudgetExceeded
from dispatcher.lib.timespec.zones import UTC, iso, read_time, read_zone

DEFAULT_TOLERANCE = 10
MIN_TOLERANCE = 1           # a run starts a few milliseconds late at best: 0 would always miss
MAX_TOLERANCE = 86400
HORIZON_YEARS = 10          # a rule with no occurrence in this many years "never fires"
MAX_STEPS = 200_000         # the work one fire-time computation may do (see the budget module)
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
COMMON_KEYS = ("timezone", "tolerance", "until", "max_runs")
# The module that reads each form (its KEYS, its read()), imported on first use.
FORM_MODULES = {Kind.AT: "at", Kind.RECURRENCE: "recurrence", Kind.RRULE: "rrule", Kind.CRON: "cron"}
# The field a recurrence that never fires is blamed on: the first of these it has.
NEVER_FIRES_BLAME = ("bymonthday", "byday", "bymonth", "byhour", "byminute", "bysecond")


@dataclass(frozen=True)
class Schedule:
    """A validated schedule: its normalised JSON form and how to compute its fire times.

    Build one with :func:`parse_schedule` or :func:`schedule_from_stored`. ``kind``,
    ``timezone``, ``tolerance``, ``until`` and ``max_runs`` are read from ``spec``, so they can
    never disagree with it.
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

    @cached_property
    def until(self):
        """The aware time after which it never fires (a fire time equal to it fires), or None."""
        return datetime.fromisoformat(self.spec["until"]) if "until" in self.spec else None

    @property
    def max_runs(self):
        """How many occurrences the job may have before it ends, or None for no limit."""
        return self.spec.get("max_runs")

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
        until = self.until
        if until is not None and after >= until:        # no work at all once it is over
            return None
        found = self._next_of_plan(after, steps)
        return None if found is None or (until is not None and found > until) else found

    def _next_of_plan(self, after, steps=MAX_STEPS):
        """The first fire time after ``after`` of the form's rules alone, ``until`` aside."""
        try:
            return bounded(lambda: self._plan.next_after(after.astimezone(UTC)), self.spec, steps)
        except OverflowError:       # near datetime.max: nothing fires after the year 9999
            return None

    def __hash__(self):
        return hash(json.dumps(self.spec, sort_keys=True))


def parse_schedule(data, now):
    """Validate and normalise a client's ``schedule`` at the aware time ``now``.

    Raises :class:`ValidationFailed` whose ``details`` map ``schedule.<field>`` to messages,
    also for a schedule that can never fire (an ``at`` in the past, an ``end`` or ``until``
    before now...).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("parse_schedule needs a timezone-aware now")
    schedule = _read(data, now)
    check_fires(schedule, now)
    return schedule


def schedule_from_stored(spec):
    """Rebuild a :class:`Schedule` from its stored normalised ``spec`` (no "in the past" checks)."""
    return _read(spec, None)


def check_fires(schedule, now):
    """Refuse a schedule that will never fire after the aware time ``now`` (when it is given,
    or when its paused job resumes), naming the field at fault; one too costly to compute
    raises :class:`TooCostly`."""
    plan, spec, until, errors = schedule._plan, schedule.spec, schedule.until, Errors()
    if schedule.one_off:
        if plan.moment < now - timedelta(seconds=schedule.tolerance):
            errors.add("at", f"is in the past ({spec['at']}; now is {iso(now.astimezone(UTC))})", never=True)
        if until is not None and plan.moment > until:
            errors.add("until", f"is before the at ({spec['at']}); the schedule would never fire", never=True)
    elif not bounded(plan.possible, spec):
        given = [name for name in NEVER_FIRES_BLAME if name in spec]
        errors.add("rrule" if "rrule" in spec else "cron" if "cron" in spec else (given or [""])[0],
                   f"never fires: no time in the next {HORIZON_YEARS} years matches all of its rules", never=True)
    elif (first := schedule._next_of_plan(now)) is None:
        if "COUNT=" in spec.get("rrule", ""):
            errors.add("rrule", "all of its COUNT occurrences are before now", never=True)
        else:
            errors.add("end", f"no occurrence between now and the end ({spec.get('end')})", never=True)
    elif until is not None and first > until:
        errors.add("until", f"is before the next fire time ({iso(first)}); the schedule would never fire",
                   never=True)
    errors.check()


def bounded(compute, spec, steps=MAX_STEPS):
    """``compute()``, stopped with :class:`TooCostly` (naming the rule's field) past ``steps``."""
    with Budget(steps) as budget:
        try:
            return compute()
        except BudgetExceeded as exc:
            if exc.budget is not budget:
                raise
    field = f"schedule.{next(key for key in FORMS if key in spec)}"
    raise TooCostly(f"invalid schedule: {field}", {field: [TOO_COSTLY.format(steps=steps)]})


# -- reading a schedule ---------------------------------------------------------------------

class Errors(dict):
    """Field -> messages, raised together as one :class:`ValidationFailed`; as
    :class:`NeverFires` when each says the schedule never fires (``never``), and nothing else."""

    def __init__(self):
        super().__init__()
        self.malformed = False      # some message says more than "never fires"

    def add(self, name, message, never=False):
        self.malformed = self.malformed or not never
        self.setdefault(f"schedule.{name}" if name else "schedule", []).append(message)

    def check(self):
        if self:
            error = ValidationFailed if self.malformed else NeverFires
            raise error(f"invalid schedule: {', '.join(sorted(self))}", dict(self))


def _form(kind):
    """The module that reads the form ``kind``."""
    return importlib.import_module(f"{__package__}.{FORM_MODULES[kind]}")


def _read(data, now):
    errors = Errors()
    if not isinstance(data, dict):
        errors.add("", "must be an object with one of: " + ", ".join(FORMS))
        errors.check()
    forms = [key for key in FORMS if key in data]
    if len(forms) != 1:
        got = f" (got {' and '.join(forms)})" if forms else ""
        errors.add("", f"give exactly one of {', '.join(FORMS)}{got}")
        errors.check()
    kind = KINDS[forms[0]]
    form = _form(kind)
    allowed = form.KEYS + COMMON_KEYS
    for key in data:
        if key not in allowed:
            errors.add(key, f"unknown field for the {kind} form; allowed: {', '.join(allowed)}")
    zone = read_zone(data.get("timezone", "UTC"), errors) or ZoneInfo("UTC")     # to report more errors
    least = 0 if now is None else MIN_TOLERANCE     # a spec stored before the minimum still reads
    tolerance = _tolerance(data.get("tolerance", DEFAULT_TOLERANCE), least, errors)
    spec = {"timezone": data.get("timezone", "UTC"), "tolerance": tolerance}
    body, plan = form.read(data, zone, now, errors)
    if body and "timezone" in body:     # an rrule's DTSTART;TZID= may name the timezone
        spec["timezone"] = body.pop("timezone")
        zone = read_zone(spec["timezone"], errors) or zone
    if "until" in data:
        until = read_time(data["until"], zone, now, "until", errors)
        spec["until"] = None if until is None else iso(until.replace(microsecond=0))
    if "max_runs" in data:
        spec["max_runs"] = _max_runs(data["max_runs"], errors)
    errors.check()
    return Schedule({**body, **spec}, plan)


def _max_runs(value, errors):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors.add("max_runs", "must be a whole number of runs, 1 or more")
        return None
    return value


def _tolerance(value, least, errors):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not least <= value <= MAX_TOLERANCE:
        errors.add("tolerance", f"must be a number of seconds from {MIN_TOLERANCE} to {MAX_TOLERANCE} (a run starts "
                                "some milliseconds after its time, later when the service is busy: with less "
                                "than a second, some runs or all would be missed)")
        return None
    return value
