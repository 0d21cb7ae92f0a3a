"""A bound on the work of computing fire times: budgets, and the rrule that charges them.

dateutil walks a recurrence period by period and says nothing while it walks: a rule whose
times are rare for its frequency (every second of 29 February at 23:59) walks years of
periods before its next time, or walks to the year 9999 when it has none. It cannot be stopped
from outside, but it reads attributes of the rule as it goes, and :class:`MeteredRule` charges
those reads to the :class:`Budget` open in the current context:

* ``_dtstart``: once for every time it considers;
* ``_byeaster``: once for every month it enters (every period of a monthly or yearly rule),
  charged as the days it filters: 31, or 366 for a year;
* ``_wkst``: once for every day of the week it builds, for a weekly rule;
* ``_tzinfo``: once for every time of the set it builds for a period of an hourly, minutely
  or secondly rule;
* ``_interval``: once for every step of its search for the next valid hour, minute or second.
  That search reads the rule only when the rule names the unit it steps by, so for a minutely
  rule naming hours, or a secondly rule naming hours or minutes, :meth:`MeteredRule.build`
  states BYMINUTE or BYSECOND in full: the same rule, read at every step. (Without those, the
  search takes one step.)

Every charge but the last is multiplied by ``1 + len(BYSETPOS)``, the factor BYSETPOS adds to
the work of a period. A step is thus a few microseconds of work at most, and the steps are a
count, not a clock: a rule costs the same on every machine and tests can count them. Building a
rule is not charged; it is bounded by the times of one day (86,400).
``tests/timespec/test_budget.py`` checks that every frequency is charged, so a dateutil release that
reads its rule differently fails a test instead of lifting the bound silently.
"""
import contextvars

from dateutil.rrule import MINUTELY, SECONDLY, YEARLY, rrule

_open = contextvars.ContextVar("orchestrator_budget", default=None)


class BudgetExceeded(Exception):
    """The work charged inside a :class:`Budget` passed its limit."""

    def __init__(self, budget):
        super().__init__(f"more than {budget.limit} steps")
        self.budget = budget


class Budget:
    """Counts the steps charged inside ``with``; past ``limit`` raises :class:`BudgetExceeded`.

    Budgets nest: a step counts in every open one, and each checks its own limit, so a
    ``Budget()`` without a limit around other work measures all of it.
    """

    def __init__(self, limit=None):
        self.limit = limit
        self.spent = 0
        self._outer = self._token = None

    def __enter__(self):
        self._outer = _open.get()
        self._token = _open.set(self)
        return self

    def __exit__(self, *exc):
        _open.reset(self._token)

    def charge(self, steps):
        exceeded, budget = None, self
        while budget is not None:
            budget.spent += steps
            if exceeded is None and budget.limit is not None and budget.spent > budget.limit:
                exceeded = budget
            budget = budget._outer
        if exceeded is not None:
            raise BudgetExceeded(exceeded)


def _charged(name, weight):
    """A property over the attribute ``name`` that charges ``weight(rule)`` on every read."""
    slot = f"_charged{name}"

    def read(rule):
        budget = _open.get()
        if budget is not None:
            budget.charge(weight(rule))
        return rule.__dict__[slot]

    def write(rule, value):
        rule.__dict__[slot] = value

    return property(read, write)


class MeteredRule(rrule):
    """A :class:`dateutil.rrule.rrule` whose walks are charged to the open :class:`Budget`."""

    _factor = 1                         # until __init__ knows BYSETPOS

    _dtstart = _charged("_dtstart", lambda rule: rule._factor)
    _byeaster = _charged("_byeaster", lambda rule: rule._factor * (366 if rule._freq == YEARLY else 31))
    _wkst = _charged("_wkst", lambda rule: rule._factor)
    _tzinfo = _charged("_tzinfo", lambda rule: rule._factor)
    _interval = _charged("_interval", lambda rule: 1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._factor = 1 + len(self._bysetpos or ())

    @classmethod
    def build(cls, rule, **changes):
        """The metered copy of ``rule`` (any rrule) with ``changes``, as ``rule.replace`` makes."""
        kwargs = {"interval": rule._interval, "count": rule._count, "dtstart": rule._dtstart,
                  "freq": rule._freq, "until": rule._until, "wkst": rule._wkst,
                  "cache": rule._cache is not None, **rule._original_rule}
        # Hours (or minutes) named: the search for the next valid minute (second) is long;
        # stated in full, it reads the rule at every step.
        if rule._freq == MINUTELY and "byhour" in kwargs and "byminute" not in kwargs:
            kwargs["byminute"] = range(60)
        if rule._freq == SECONDLY and {"byhour", "byminute"} & set(kwargs) and "bysecond" not in kwargs:
            kwargs["bysecond"] = range(60)
        kwargs.update(changes)
        return cls(**kwargs)

    def replace(self, **changes):
        """As :meth:`rrule.replace`, keeping the class (dateutil's makes a plain rrule)."""
        return self.build(self, **changes)
