"""Schedules: the next fire times of a schedule, before a job trusts it."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import Blueprint
from marshmallow import Schema, fields, validate

from dispatcher.api.contract import operation
from dispatcher.api.jobs import parse_schedule_now
from dispatcher.api.typed import SCHEDULE, TYPED
from dispatcher.lib.jobs import iso

bp = Blueprint("schedules", __name__, url_prefix="/api/v1/schedules")


class PreviewRequest(Schema):
    schedule = fields.Dict(required=True, metadata={"description": "a schedule, as a job's", TYPED: SCHEDULE})
    count = fields.Integer(strict=True, load_default=5, validate=validate.Range(min=1, max=100),
                           metadata={"description": "how many fire times (default 5)"})


class FireTime(Schema):
    utc = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    local = fields.String(required=True, metadata={"description": "ISO 8601, in the schedule's timezone"})


class Preview(Schema):
    timezone = fields.String(required=True)
    tolerance = fields.Float(required=True)
    fire_times = fields.List(fields.Nested(FireTime), required=True)
    more = fields.Boolean(required=True, metadata={"description": "whether it fires again after these"})


@bp.post("/preview")
@operation(body=PreviewRequest, response=Preview)
def preview(body):
    """The next fire times of a schedule: check a cron line before trusting it to a job.

    .. sourcecode:: http

       POST /api/v1/schedules/preview HTTP/1.1
       Content-Type: application/json

       {"schedule": {"cron": "30 9 * * mon-fri", "timezone": "Europe/Rome"}, "count": 3}

    :<json object schedule: a schedule, as ``POST /api/v1/jobs`` takes it
    :<json int count: how many fire times (1-100, default 5)
    :>json string timezone: the schedule's timezone
    :>json array fire_times: each ``utc`` and ``local`` (in the schedule's timezone), ISO 8601
    :>json boolean more: whether it fires again after the last one listed
    :statuscode 200: the fire times (fewer than ``count`` when the schedule ends before)
    :statuscode 422: the schedule is invalid: the same answer a job with it would get
    """
    return fire_times(body["schedule"], body["count"])


def fire_times(data, count):
    """The next ``count`` fire times of the schedule ``data``, as the preview answers them;
    :class:`ValidationFailed` as a job with that schedule would get it."""
    schedule = parse_schedule_now(data)
    zone = ZoneInfo(schedule.timezone)
    times, after = [], datetime.now(timezone.utc) - timedelta(seconds=schedule.tolerance if schedule.one_off else 0)
    while len(times) < count:
        when = schedule.next_after(after)
        if when is None:
            break
        times.append(when)
        after = when
    more = bool(times) and len(times) == count and schedule.next_after(times[-1]) is not None
    return {"timezone": schedule.timezone, "tolerance": schedule.tolerance, "more": more,
            "fire_times": [{"utc": iso(when.timestamp()), "local": when.astimezone(zone).isoformat()} for when in times]}
