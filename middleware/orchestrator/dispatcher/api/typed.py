"""The typed forms of a job's ``schedule`` and ``action`` in the OpenAPI document.

Both are checked beyond a schema (a schedule by :mod:`dispatcher.lib.timespec`, an action by
its class's parameter schema and the clouds), so the request schemas carry them as objects; the
document describes each as ``oneOf`` its forms, built from what checks them: the actions' own
parameter schemas (one component per type, with a discriminator on ``type``), and the keys,
frequencies and ranges the time-specification modules read.
"""
from dispatcher.lib.actions import get_action, known_aliases
from dispatcher.lib.timespec import recurrence
from dispatcher.lib.timespec.schedule import MAX_TOLERANCE, MIN_TOLERANCE

#: Field metadata naming the typed form a field holds in the document.
TYPED = "typed"
ACTION, SCHEDULE = "Action", "Schedule"

_TIME = {"type": "string", "minLength": 1,
         "description": "ISO 8601 (2027-01-01T09:00:00Z) or a human date (1-jan-2027 9:00), in the schedule's timezone"}
_COMMON = {
    "timezone": {"type": "string", "minLength": 1, "default": "UTC", "description": "an IANA timezone name"},
    "tolerance": {"type": "number", "minimum": MIN_TOLERANCE, "maximum": MAX_TOLERANCE, "default": 10,
                  "description": "seconds a run may start late"},
    "until": {**_TIME, "description": "no fire time after this (inclusive); " + _TIME["description"]},
    "max_runs": {"type": "integer", "minimum": 1, "description": "the job ends after this many occurrences"},
}


def _by_rule(name):
    if name == "byday":
        item = {"type": "string", "pattern": "^[+-]?[0-9]{0,2}(mo|tu|we|th|fr|sa|su|MO|TU|WE|TH|FR|SA|SU)$"}
    else:
        low, high, negative = recurrence.RANGES[name.upper()]
        item = {"type": "integer", "minimum": -high if negative else low, "maximum": high}
    return {"type": "array", "items": item, "minItems": 1}


def schedule_forms():
    """The JSON schemas of the four schedule forms, by component name."""
    def form(key, properties, description):
        return {"type": "object", "description": description, "required": [key], "additionalProperties": False,
                "properties": {**properties, **_COMMON}}
    return {
        "AtSchedule": form("at", {"at": _TIME}, "once, at a time"),
        "RecurrenceSchedule": form("frequency", {
            "frequency": {"type": "string", "enum": list(reversed(recurrence.FREQUENCIES))},
            "interval": {"type": "integer", "minimum": 1, "maximum": recurrence.MAX_INTERVAL, "default": 1},
            "start": _TIME, "end": _TIME, **{name: _by_rule(name) for name in recurrence.BY_RULES},
        }, "a recurrence in the iCalendar vocabulary"),
        "RRuleSchedule": form("rrule", {"rrule": {"type": "string", "minLength": 1,
                                                  "description": "an RFC 5545 RRULE, with DTSTART if wanted"},
                                        "start": _TIME, "end": _TIME}, "an RFC 5545 recurrence rule"),
        "CronSchedule": form("cron", {"cron": {"type": "string", "minLength": 1,
                                               "description": "five fields, or @daily, @hourly..."}},
                             "a cron line"),
    }


def action_forms(converter):
    """The JSON schemas of the action types, by component name, and the discriminator mapping."""
    forms, mapping = {}, {}
    for alias in known_aliases():
        params = converter.schema2jsonschema(get_action(alias).schema)
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
