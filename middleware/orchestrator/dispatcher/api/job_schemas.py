"""Schemas of jobs, groups and runs (the time specification and the action are checked by
:mod:`dispatcher.lib.timespec` and :mod:`dispatcher.lib.actions`)."""
from datetime import timezone

from marshmallow import Schema, fields, validate

from dispatcher.api.schemas import PageQuery, page_of
from dispatcher.api.typed import ACTION, SCHEDULE, TYPED
from dispatcher.lib.actions.url import URL_DESCRIPTION
from dispatcher.lib.validation import NEEDS_SETTING, URL_FORMAT, FullMatch, StrictBoolean

GROUP_NAME = FullMatch(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$", error="letters, digits and ._:- (1-200)")
OVERLAP = validate.OneOf(["skip", "wait", "allow"])


RETRY_ON = ["failure", "5xx", "4xx", "429", "timeout", "connection"]
NOTIFY_ON = ["failure", "recovery", "disabled", "missed"]


class Retry(Schema):
    """Run a failed attempt again, after ``backoff`` × ``factor`` ** (attempt - 1) seconds (at
    most ``max_backoff``, with jitter); a url answer's ``Retry-After`` is honoured."""

    attempts = fields.Integer(strict=True, load_default=3, validate=validate.Range(min=0, max=10),
                              metadata={"description": "attempts after the first (0-10)"})
    backoff = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=3600))
    factor = fields.Float(load_default=2.0, validate=validate.Range(min=1, max=10))
    max_backoff = fields.Float(load_default=300.0, validate=validate.Range(min=0, max=3600))
    on = fields.List(fields.String(validate=[validate.Length(min=1, max=16),
                                             FullMatch(r"^(failure|[1-5]xx|[1-5][0-9][0-9]|timeout|connection)$",
                                                       error="failure, 5xx, 4xx, a status code, timeout or "
                                                             "connection")]),
                     load_default=["failure"], validate=validate.Length(min=1, max=20),
                     metadata={"description": "what is retried: failure (any), or for url actions a status "
                                              "class (5xx) or code (429), timeout, connection"})


class Webhook(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048),
                        metadata={"format": URL_FORMAT, "description": URL_DESCRIPTION})
    secret = fields.String(load_default=None, validate=validate.Length(min=16, max=256),
                           metadata={"description": "signs each delivery: X-Orchestrator-Signature"})


class Notify(Schema):
    on = fields.List(fields.String(validate=validate.OneOf(NOTIFY_ON)), load_default=["failure", "disabled"],
                     validate=validate.Length(max=4))
    webhook = fields.Nested(Webhook, load_default=None, allow_none=True)
    email = fields.List(fields.Email(validate=validate.Length(max=254)), load_default=list,
                        validate=validate.Length(max=20),
                        metadata={NEEDS_SETTING: "SMTP_URL", "description": "addresses; only when the service has "
                                                                            "an SMTP_URL"})


class WebhookShown(Schema):
    url = fields.String(required=True, metadata={"description": "user information in it shown as ***"})
    signed = fields.Boolean(required=True, metadata={"description": "whether it has a secret (never shown)"})


class NotifyShown(Schema):
    on = fields.List(fields.String(validate=validate.OneOf(NOTIFY_ON)), required=True)
    webhook = fields.Nested(WebhookShown, allow_none=True, required=True)
    email = fields.List(fields.String(), required=True)


class Defaults(Schema):
    """An account's defaults for its jobs that do not say their own."""

    notify = fields.Nested(Notify, load_default=None, allow_none=True,
                           metadata={"description": "who hears of the account's jobs (null: nobody)"})
    disable_after = fields.Integer(strict=True, load_default=None, allow_none=True,
                                   validate=validate.Range(min=1, max=10000),
                                   metadata={"description": "pause a job after this many failed runs in a row "
                                                            "(null: the service's DISABLE_AFTER)"})


class DefaultsShown(Schema):
    notify = fields.Nested(NotifyShown, allow_none=True, required=True)
    disable_after = fields.Integer(allow_none=True, required=True)


class JobCreate(Schema):
    name = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    group = fields.String(load_default=None, validate=GROUP_NAME)
    schedule = fields.Dict(required=True, metadata={"description": "at / frequency / rrule / cron, see the reference",
                                                    TYPED: SCHEDULE})
    action = fields.Dict(required=True, metadata={"description": "url / method / provision / ping / reboot / destroy",
                                                  TYPED: ACTION})
    overlap = fields.String(load_default="skip", validate=OVERLAP,
                            metadata={"description": "a run due while the previous one still runs: "
                                                     "skip (recorded Missed), wait, or allow"})
    paused = StrictBoolean(load_default=False)
    retry = fields.Nested(Retry, load_default=None, allow_none=True)
    timeout = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0.1, max=86400),
                           metadata={"description": "seconds each attempt of the action may take"})
    notify = fields.Nested(Notify, load_default=None, allow_none=True,
                           metadata={"description": "who hears of failures, recoveries, auto-disabling and "
                                                    "missed runs (default: the account's)"})
    disable_after = fields.Integer(strict=True, load_default=None, allow_none=True,
                                   validate=validate.Range(min=1, max=10000),
                                   metadata={"description": "pause the job after this many failed runs in a row "
                                                            "(default: the account's, 25)"})


class JobPatch(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    group = fields.String(allow_none=True, validate=GROUP_NAME)
    schedule = fields.Dict(metadata={TYPED: SCHEDULE})
    action = fields.Dict(metadata={TYPED: ACTION})
    overlap = fields.String(validate=OVERLAP)
    paused = StrictBoolean()
    retry = fields.Nested(Retry, allow_none=True)
    timeout = fields.Float(allow_none=True, validate=validate.Range(min=0.1, max=86400))
    notify = fields.Nested(Notify, allow_none=True)
    disable_after = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=10000))


class Job(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    group = fields.String(allow_none=True, required=True)
    account_id = fields.String(required=True)
    schedule = fields.Dict(required=True, metadata={TYPED: SCHEDULE})
    action = fields.Dict(required=True, metadata={TYPED: ACTION})
    overlap = fields.String(required=True)
    paused = fields.Boolean(required=True)
    next_run_at = fields.String(allow_none=True, required=True, metadata={"description": "ISO 8601, UTC"})
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
    retry = fields.Nested(Retry, allow_none=True, required=True)
    timeout = fields.Float(allow_none=True, required=True)
    notify = fields.Nested(NotifyShown, allow_none=True, required=True)
    disable_after = fields.Integer(allow_none=True, required=True)
    failures = fields.Integer(required=True, metadata={"description": "failed runs in a row"})
    paused_reason = fields.String(allow_none=True, required=True,
                                  metadata={"description": "why the job was paused, when it was not paused by hand"})


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
    job_id = fields.String(allow_none=True, required=True,
                           metadata={"description": "null for a run of no job (nodes created asynchronously)"})
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


NOTIFICATION_STATUSES = ["delivered", "failed"]


class Notification(Schema):
    id = fields.String(required=True)
    job_id = fields.String(required=True)
    run_id = fields.String(allow_none=True, required=True)
    event = fields.String(required=True, validate=validate.OneOf(NOTIFY_ON))
    channel = fields.String(required=True, validate=validate.OneOf(["webhook", "email"]))
    target = fields.String(required=True, metadata={"description": "the URL (user information in it shown as ***) or "
                                                                   "the address"})
    status = fields.String(required=True, validate=validate.OneOf(NOTIFICATION_STATUSES))
    attempts = fields.Integer(required=True)
    last_error = fields.String(allow_none=True, required=True, metadata={"description": "why the last attempt "
                                                                                        "failed"})
    created_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    delivered_at = fields.String(allow_none=True, required=True)


NotificationList = page_of(Notification, "NotificationList")


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
