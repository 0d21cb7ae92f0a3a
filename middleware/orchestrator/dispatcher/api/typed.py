"""The typed forms of a job's ``schedule`` and ``action`` in the OpenAPI document.

Both are checked beyond a schema (a schedule by :mod:`dispatcher.lib.timespec`, an action by
its class's parameter schema and the clouds), so the request schemas carry them as objects; the
document describes each as ``oneOf`` its forms, built from what checks them: the actions' own
parameter schemas (one component per type, with a discriminator on ``type``), and the keys,
frequencies and ranges the time-specification modules read.

What a pattern cannot say is a ``format`` of :mod:`dispatcher.lib.validation` (a time, a
timezone, a cron line, an RRULE, a URL); the rules between fields that a JSON schema can state
(a numbered weekday only in a monthly or yearly recurrence...) are stated. What is left is said
in the forms' descriptions: a schedule with no fire time ahead is refused with the code
``never_fires``, one too costly to compute with ``too_costly``.
"""
from dispatcher.errors import NeverFires, TooCostly
from dispatcher.lib.actions import get_action, known_aliases
from dispatcher.lib.timespec import MAX_STEPS, recurrence
from dispatcher.lib.timespec.schedule import HORIZON_YEARS, MAX_TOLERANCE, MIN_TOLERANCE
from dispatcher.lib.validation import CRON_FORMAT, RRULE_FORMAT, TIME_FORMAT, ZONE_FORMAT

#: Field metadata naming the typed form a field holds in the document.
TYPED = "typed"
ACTION, SCHEDULE = "Action", "Schedule"

_TIME = {"type": "string", "format": TIME_FORMAT, "minLength": 1,
         "description": "ISO 8601 (2027-01-01T09:00:00Z) or a human date (1-jan-2027 9:00), in the schedule's timezone"}
_COMMON = {
    "timezone": {"type": "string", "format": ZONE_FORMAT, "minLength": 1, "default": "UTC",
                 "description": "an IANA timezone name"},
    "tolerance": {"type": "number", "minimum": MIN_TOLERANCE, "maximum": MAX_TOLERANCE, "default": 10,
                  "description": "seconds a run may start late"},
    "until": {**_TIME, "description": "no fire time after this (inclusive); " + _TIME["description"]},
    "max_runs": {"type": "integer", "minimum": 1, "description": "the job ends after this many occurrences"},
}
_REFUSED = (f"A schedule with no fire time ahead is refused (422, code {NeverFires.code}): a time in the past, an "
            f"end or until before the start or the next fire time, rules no time in the next {HORIZON_YEARS} "
            f"years meets; one whose next fire time takes more than {MAX_STEPS:,} steps to find is refused "
            f"(422, code {TooCostly.code}).")
_DAY = "(mo|tu|we|th|fr|sa|su|MO|TU|WE|TH|FR|SA|SU)"
#: A BYDAY value: a weekday, numbered (1..53 or -53..-1) in a yearly rule, (1..5 or -5..-1) in a
#: monthly one or a yearly one with bymonth.
_BYDAY = {"plain": f"^{_DAY}$", "monthly": f"^([+-]?0?[1-5])?{_DAY}$",
          "yearly": f"^([+-]?(0?[1-9]|[1-4][0-9]|5[0-3]))?{_DAY}$"}


def _by_rule(name):
    if name == "byday":
        item = {"type": "string", "pattern": _BYDAY["yearly"]}
    else:
        low, high, negative = recurrence.RANGES[name.upper()]
        item = {"type": "integer", "minimum": -high if negative else low, "maximum": high}
        if negative:
            item["not"] = {"enum": [0]}
    return {"type": "array", "items": item, "minItems": 1}


def _by_frequency():
    """What RFC 5545 allows only with some frequencies: one branch per group of frequencies."""
    def days(pattern):
        return {"byday": {"type": "array", "items": {"type": "string", "pattern": _BYDAY[pattern]}}}
    return {"oneOf": [
        {"properties": {"frequency": {"enum": ["yearly"]}}, "not": {"required": ["bymonth"]}},
        {"properties": {"frequency": {"enum": ["yearly"]}, **days("monthly")}, "required": ["bymonth"]},
        {"properties": {"frequency": {"enum": ["monthly"]}, **days("monthly")}},
        {"properties": {"frequency": {"enum": ["weekly"]}, **days("plain")}, "not": {"required": ["bymonthday"]}},
        {"properties": {"frequency": {"enum": ["daily", "hourly", "minutely", "secondly"]}, **days("plain")}},
    ]}


def schedule_forms():
    """The JSON schemas of the four schedule forms, by component name."""
    def form(key, properties, description):
        return {"type": "object", "description": f"{description}. {_REFUSED}", "required": [key],
                "additionalProperties": False, "properties": {**properties, **_COMMON}}
    return {
        "AtSchedule": form("at", {"at": _TIME}, "once, at a time (at most tolerance seconds ago)"),
        "RecurrenceSchedule": {**form("frequency", {
            "frequency": {"type": "string", "enum": list(reversed(recurrence.FREQUENCIES))},
            "interval": {"type": "integer", "minimum": 1, "maximum": recurrence.MAX_INTERVAL, "default": 1},
            "start": _TIME, "end": _TIME, **{name: _by_rule(name) for name in recurrence.BY_RULES},
        }, "a recurrence in the iCalendar vocabulary; a numbered byday (1mo, -1fr) needs a monthly or yearly "
           "frequency (numbered up to 5 in a month: monthly, or yearly with bymonth), bymonthday is not for a weekly "
           "one"), **_by_frequency()},
        "RRuleSchedule": form("rrule", {"rrule": {"type": "string", "format": RRULE_FORMAT, "minLength": 1,
                                                  "description": "an RFC 5545 RRULE, with DTSTART if wanted"},
                                        "start": _TIME, "end": _TIME},
                              "an RFC 5545 recurrence rule; start is not for a rule with a DTSTART, nor end for one "
                              "with an UNTIL or a COUNT, and timezone must be a DTSTART's TZID"),
        "CronSchedule": form("cron", {"cron": {"type": "string", "format": CRON_FORMAT, "minLength": 1,
                                               "description": "five fields, or @daily, @hourly..."}},
                             "a cron line"),
    }


def action_forms(converter):
    """The JSON schemas of the action types, by component name, and the discriminator mapping."""
    forms, mapping = {}, {}
    for alias in known_aliases():
        cls = get_action(alias)
        params = cls.document(converter.schema2jsonschema(cls.schema))
        properties = {"type": {"type": "string", "enum": [alias]}, **params.get("properties", {})}
        name = "".join(part.capitalize() for part in alias.replace("-", "_").replace(".", "_").split("_")) + "Action"
        forms[name] = {**params, "type": "object", "properties": properties,
                       "required": ["type", *params.get("required", [])]}
        mapping[alias] = f"#/components/schemas/{name}"
    return forms, mapping


def register(spec, converter):
    """Add the forms to ``spec``'s components; returns the apispec attribute function that
    describes a field marked ``typed`` as ``oneOf`` them."""
    typed = {}
    schedules = schedule_forms()
    for name, schema in schedules.items():
        spec.components.schema(name, component=schema)
    typed[SCHEDULE] = {"oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in schedules]}
    actions, mapping = action_forms(converter)
    for name, schema in actions.items():
        spec.components.schema(name, component=schema)
    typed[ACTION] = {"oneOf": [{"$ref": ref} for ref in mapping.values()],
                     "discriminator": {"propertyName": "type", "mapping": mapping}}

    def attribute(self, field, **kwargs):
        form = field.metadata.get(TYPED)
        return dict(typed[form]) if form else {}
    return attribute
