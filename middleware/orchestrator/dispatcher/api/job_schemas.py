"""Schemas of jobs, groups and runs (the time specification and the action are checked by
:mod:`dispatcher.lib.timespec` and :mod:`dispatcher.lib.actions`)."""
from datetime import timezone

from marshmallow import Schema, fields, validate

from dispatcher.api.schemas import PageQuery, page_of
from dispatcher.lib.validation import FullMatch, StrictBoolean

GROUP_NAME = FullMatch(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$", error="letters, digits and ._:- (1-200)")
OVERLAP = validate.OneOf(["skip", "wait", "allow"])


class JobCreate(Schema):
    name = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    group = fields.String(load_default=None, validate=GROUP_NAME)
    schedule = fields.Dict(required=True, metadata={"description": "at / frequency / rrule / cron, see the reference"})
    action = fields.Dict(required=True, metadata={"description": "url / method / provision / ping / reboot / destroy"})
    overlap = fields.String(load_default="skip", validate=OVERLAP,
                            metadata={"description": "a run due while the previous one still runs: "
                                                     "skip (recorded Missed), wait, or allow"})
    paused = StrictBoolean(load_default=False)


class JobPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    group = fields.String(allow_none=True, validate=GROUP_NAME)
    schedule = fields.Dict()
    action = fields.Dict()
    overlap = fields.String(validate=OVERLAP)
    paused = StrictBoolean()


class Job(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    group = fields.String(allow_none=True, required=True)
    account_id = fields.String(required=True)
    schedule = fields.Dict(required=True)
    action = fields.Dict(required=True)
    overlap = fields.String(required=True)
    paused = fields.Boolean(required=True)
    next_run_at = fields.String(allow_none=True, required=True, metadata={"description": "ISO 8601, UTC"})
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


JobList = page_of(Job, "JobList")


class JobQuery(PageQuery):
    group = fields.String(validate=validate.Length(min=1, max=200))


RUN_STATUSES = ["Submitted", "Running", "Completed", "Failed", "Missed"]


class RunQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(RUN_STATUSES))
    job_id = fields.String(validate=validate.Length(min=1, max=32))
    since = fields.AwareDateTime(format="iso", default_timezone=timezone.utc,
                                 metadata={"description": "runs scheduled at or after this time (ISO 8601)"})
    until = fields.AwareDateTime(format="iso", default_timezone=timezone.utc,
                                 metadata={"description": "runs scheduled before this time (ISO 8601)"})


class RunEvent(Schema):
    status = fields.String(required=True)
    at = fields.String(required=True)
    message = fields.String(allow_none=True, required=True)


class Run(Schema):
    id = fields.String(required=True)
    job_id = fields.String(required=True)
    scheduled_for = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(RUN_STATUSES))
    submitted_at = fields.String(required=True)
    started_at = fields.String(allow_none=True, required=True)
    finished_at = fields.String(allow_none=True, required=True)
    result = fields.Raw(allow_none=True, required=True)
    error = fields.String(allow_none=True, required=True)


class RunWithEvents(Run):
    events = fields.List(fields.Nested(RunEvent), required=True)


RunList = page_of(Run, "RunList")


class RunStarted(Schema):
    run_id = fields.String(required=True)


class LastEventState(Schema):
    status = fields.String(required=True)
    uuid = fields.String(required=True)
    completion_date = fields.String(metadata={"description": "milliseconds since the epoch, once finished"})


class LastEvent(Schema):
    state = fields.Nested(LastEventState, required=True)


class GroupReplace(Schema):
    jobs = fields.List(fields.Nested(JobCreate), required=True, validate=validate.Length(max=1000))
    rename_to = fields.String(load_default=None, validate=GROUP_NAME)
    replace = StrictBoolean(load_default=False, metadata={
        "description": "with rename_to: replace the jobs of an existing group of that name (else 409)"})


class GroupSummary(Schema):
    group = fields.String(required=True)
    jobs = fields.Integer(required=True)


GroupList = page_of(GroupSummary, "GroupList")


class GroupJobs(Schema):
    group = fields.String(required=True)
    jobs = fields.List(fields.Nested(Job), required=True)
