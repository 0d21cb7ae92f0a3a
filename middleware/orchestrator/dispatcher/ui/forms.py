"""The job form: its fields as the body the API takes, and a job as the form's fields.

Nothing is validated here: the body goes through the API's schemas and services, which say
what is wrong in the API's words. Only the form's own shape is read: a number field that holds
a number becomes one, and a JSON field must be JSON.
"""
import json

from dispatcher.errors import ValidationFailed

SCHEDULE_KINDS = ("every", "cron", "at", "rrule", "json")
FREQUENCIES = ("secondly", "minutely", "hourly", "daily", "weekly", "monthly", "yearly")
ACTION_KINDS = ("url", "json")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
OVERLAPS = ("skip", "wait", "allow")

DEFAULTS = {"name": "", "group": "", "schedule_kind": "every", "frequency": "minutely", "interval": "5",
            "schedule_text": "", "start": "", "schedule_json": "", "timezone": "UTC", "tolerance": "",
            "action_kind": "url", "url": "", "method": "GET", "action_rest": "", "action_json": "", "overlap": "skip"}


def number(text):
    """``text`` as an int or float when it is one; otherwise as typed, for the schema to refuse."""
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parsed_json(text, field):
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationFailed(f"invalid {field}: not JSON ({exc})", {field: [f"not JSON: {exc}"]}) from None
    return value


def schedule_of(form):
    """The ``schedule`` object the form describes."""
    kind = form.get("schedule_kind", "every")
    if kind == "json":
        return parsed_json(form.get("schedule_json", ""), "schedule")
    if kind == "every":
        schedule = {"frequency": form.get("frequency", ""), "interval": number(form.get("interval", "1") or "1")}
        if form.get("start", "").strip():   # kept when editing: the times stay in step
            schedule["start"] = form["start"].strip()
    elif kind in ("cron", "at", "rrule"):
        schedule = {kind: form.get("schedule_text", "").strip()}
    else:
        raise ValidationFailed(f"invalid schedule: unknown kind {kind!r}", {"schedule": [f"one of {SCHEDULE_KINDS}"]})
    if isinstance(schedule, dict):
        if form.get("timezone", "").strip():
            schedule["timezone"] = form["timezone"].strip()
        if form.get("tolerance", "").strip():
            schedule["tolerance"] = number(form["tolerance"])
    return schedule


def action_of(form):
    """The ``action`` object the form describes."""
    if form.get("action_kind") == "json":
        return parsed_json(form.get("action_json", ""), "action")
    rest = parsed_json(form["action_rest"], "action") if form.get("action_rest", "").strip() else {}
    if not isinstance(rest, dict):
        raise ValidationFailed("invalid action: its other settings must be a JSON object", {"action": ["not an object"]})
    return {**rest, "type": "url", "url": form.get("url", "").strip(), "method": form.get("method", "GET")}


def job_body(form, creating):
    """The body of ``POST /api/v1/jobs`` (or, editing, of ``PATCH``) that the form describes."""
    body = {"schedule": schedule_of(form), "action": action_of(form), "overlap": form.get("overlap", "skip")}
    name, group = form.get("name", "").strip(), form.get("group", "").strip()
    if creating:
        body.update(name=name or None, group=group or None, paused=form.get("paused") == "on")
    else:
        body.update(group=group or None)
        if name:
            body["name"] = name
    return body


def job_form(job):
    """The form's fields for an existing job: its schedule and action in the simplest field
    that holds them whole (JSON when no other does)."""
    schedule, action = dict(job["schedule"]), job["action"]
    fields = {**DEFAULTS, "name": job["name"], "group": job["group"] or "", "overlap": job["overlap"],
              "timezone": schedule.pop("timezone", "UTC"), "tolerance": str(schedule.pop("tolerance", "") or ""),
              "schedule_json": json.dumps(job["schedule"], indent=2), "action_json": json.dumps(action, indent=2)}
    if set(schedule) <= {"frequency", "interval", "start"} and "frequency" in schedule:
        fields.update(schedule_kind="every", frequency=schedule["frequency"], interval=str(schedule.get("interval", 1)),
                      start=schedule.get("start", ""))
    elif len(schedule) == 1 and next(iter(schedule)) in ("cron", "at", "rrule"):
        (kind, text), = schedule.items()
        fields.update(schedule_kind=kind, schedule_text=str(text))
    else:
        fields.update(schedule_kind="json")
    if action.get("type") == "url":     # its other settings (headers, timeout...) kept as they are
        rest = {key: value for key, value in action.items() if key not in ("type", "url", "method")}
        fields.update(action_kind="url", url=action["url"], method=action.get("method", "GET"),
                      action_rest=json.dumps(rest) if rest else "")
    else:
        fields.update(action_kind="json")
    return fields


UNITS = {"secondly": "second", "minutely": "minute", "hourly": "hour", "daily": "day", "weekly": "week",
         "monthly": "month", "yearly": "year"}


def describe_schedule(schedule):
    """A schedule in a few words for the lists ("every 2 seconds (UTC)"); the page of the job
    shows it whole."""
    zone = f" ({schedule.get('timezone', 'UTC')})"
    if "frequency" in schedule and schedule["frequency"] in UNITS:
        interval, unit = schedule.get("interval", 1), UNITS[schedule["frequency"]]
        rest = sorted(set(schedule) - {"frequency", "interval", "start", "timezone", "tolerance"})
        words = f"every {unit}" if interval == 1 else f"every {interval} {unit}s"
        return words + (f", {', '.join(rest)}" if rest else "") + zone
    for kind in ("cron", "at", "rrule"):
        if kind in schedule:
            return f"{kind} {schedule[kind]}{zone}"
    return json.dumps(schedule)
