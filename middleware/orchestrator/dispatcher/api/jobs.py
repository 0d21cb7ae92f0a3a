"""Jobs: schedule, list, show, change, pause and resume, run now, delete."""
from datetime import datetime, timezone

from flask import Blueprint, current_app, g

from dispatcher.api import job_schemas as schemas
from dispatcher.api.contract import operation, page
from dispatcher.errors import ValidationFailed
from dispatcher.lib.actions import validate_action
from dispatcher.lib.jobs import OPTIONS, JobSpec
from dispatcher.lib.notify import check_notify
from dispatcher.lib.timespec import parse_schedule

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs")


def jobs():
    return current_app.extensions["orchestrator.jobs"]


def check_quota(scheduled, adding):
    current_app.extensions["orchestrator.accounts"].check_quota(g.caller, scheduled, adding)


def _prefixed(exc, prefix):
    if not prefix:
        return exc
    # The same class: a schedule that never fires keeps its own code in a group.
    return type(exc)(f"{prefix}: {exc.message}", {f"{prefix}.{k}": v for k, v in exc.details.items()})


def parse_schedule_now(data, prefix=""):
    try:
        return parse_schedule(data, datetime.now(timezone.utc))
    except ValidationFailed as exc:
        raise _prefixed(exc, prefix) from None


def check_action(data, prefix=""):
    """The action, validated and normalised; its cloud must be one the caller may use."""
    clouds = current_app.extensions["orchestrator.clouds"]
    try:
        action = validate_action(data, current_app.config, clouds)
    except ValidationFailed as exc:
        raise _prefixed(exc, prefix) from None
    if action.get("cloud"):
        current_app.extensions["orchestrator.access"].check_cloud(clouds.get(action["cloud"]))
    return action


def job_spec(body, prefix=""):
    """A :class:`JobSpec` from a validated body; 422 names the field (under ``prefix``)."""
    schedule = parse_schedule_now(body["schedule"], prefix)
    action = check_action(body["action"], prefix)
    check_notify(body.get("notify"), current_app.config, f"{prefix}.notify" if prefix else "notify")
    options = {key: body[key] for key in OPTIONS if body.get(key) is not None}
    return JobSpec(name=body["name"] or f"{action['type']} job", group=body["group"], schedule=schedule,
                   action=action, overlap=body["overlap"], paused=body["paused"], options=options)


def create(body):
    """Schedule the job of a validated ``JobCreate`` body for the caller (the API's and the
    dashboard's way in): the quota first, then the schedule and action."""
    jobs().check_room(g.caller, 1, check_quota)
    return jobs().create(g.caller, job_spec(body), check_quota)


def change(job_id, body):
    """Apply a validated ``JobPatch`` body to the caller's job ``job_id``."""
    jobs().get(g.caller, job_id)  # 404 before any validation work on another's job
    changes = dict(body)
    if "schedule" in changes:
        changes["schedule"] = parse_schedule_now(changes["schedule"], "")
    if "action" in changes:
        changes["action"] = check_action(changes["action"])
    check_notify(changes.get("notify"), current_app.config)
    return jobs().update(g.caller, job_id, changes)


@bp.post("")
@operation(body=schemas.JobCreate, response=schemas.Job, status=201)
def create_job(body):
    """Schedule a job.

    .. sourcecode:: http

       POST /api/v1/jobs HTTP/1.1
       Content-Type: application/json

       {"name": "nightly ping", "schedule": {"cron": "0 3 * * *", "timezone": "Europe/Rome"},
        "action": {"type": "url", "url": "https://example.com/cron"}}

    :<json string name: a label (optional)
    :<json string group: the group the job belongs to (optional)
    :<json object schedule: when: ``at``, a recurrence (``frequency``...), ``rrule`` or ``cron``,
        with ``timezone`` and ``tolerance``
    :<json object action: what: ``url``, ``method``, ``provision``, ``ping``, ``reboot``, ``destroy``
    :<json string overlap: ``skip`` (default), ``wait`` or ``allow``
    :<json boolean paused: create it paused
    :<json object retry: run a failed attempt again: ``attempts``, ``backoff``, ``factor``,
        ``max_backoff``, ``on``
    :<json number timeout: seconds each attempt may take
    :<json object notify: who hears of ``failure``, ``recovery``, ``disabled`` and ``missed``
        (``on``): a ``webhook`` (``url``, ``secret``) and ``email`` addresses (default: the
        account's), see :doc:`notifications`
    :<json int disable_after: pause the job after this many failed runs in a row (default: the
        account's, else ``DISABLE_AFTER``)
    :>json string id: the job's id
    :>json string next_run_at: when it fires next (ISO 8601, UTC)
    :>json object notify: as sent, but the webhook's secret is never shown: ``signed`` says
        whether there is one
    :statuscode 201: scheduled
    :statuscode 403: the plan's job quota is reached (``quota_exceeded``, answered before the
        schedule and action are looked at), or the cloud is refused
    :statuscode 422: a field is invalid; ``details`` names it (e.g. ``schedule.at``,
        ``notify.webhook.url`` in a denied network, ``notify.email`` while ``SMTP_URL`` is not set)
    """
    return create(body), 201


@bp.get("")
@operation(query=schemas.JobQuery, response=schemas.JobList)
def list_jobs(query):
    """List the caller's jobs (every job for the administrator).

    :query group: only the jobs of this group
    :query limit: items per page
    :query offset: items to skip
    :>json array items: jobs
    :statuscode 200: the jobs
    """
    return page(jobs().list(g.caller, query.get("group")), query)


@bp.get("/<job_id>")
@operation(response=schemas.Job)
def show_job(job_id):
    """Show a job with the time it fires next.

    :param job_id: the job's id
    :>json string next_run_at: next fire time, ISO 8601 UTC (null when paused or finished)
    :statuscode 200: the job
    :statuscode 404: no such job (or a job of another account)
    """
    return jobs().get(g.caller, job_id)


@bp.patch("/<job_id>")
@operation(body=schemas.JobPatch, response=schemas.Job)
def change_job(job_id, body):
    """Change a job: pause or resume it, give it a new schedule, action or name.

    :param job_id: the job's id
    :<json boolean paused: true pauses, false resumes (from now on: no catch-up)
    :<json object schedule: a new time specification
    :<json object action: a new action
    :<json string name: a new name
    :<json string group: a new group (null: none)
    :<json string overlap: ``skip``, ``wait`` or ``allow``
    :<json object notify: new notifications, replacing the old (send the webhook's secret
        again); null: the account's
    :<json int disable_after: a new limit of failed runs in a row (null: the account's)
    :>json string id: the job's id
    :>json string next_run_at: when it fires next, after the change
    :>json int failures: failed runs in a row; pausing or resuming sets it back to 0 and clears
        ``paused_reason``
    :statuscode 200: the job as changed
    :statuscode 403: the new action names a cloud the caller may not use
    :statuscode 404: no such job
    :statuscode 422: a field is invalid, or the job is resumed while its schedule never fires
        again (an ``at`` passed while it was paused): ``details`` names the schedule's field
    """
    return change(job_id, body)


@bp.delete("/<job_id>")
@operation(status=204)
def delete_job(job_id):
    """Delete a job; its runs stay in the history.

    :param job_id: the job's id
    :statuscode 204: deleted
    :statuscode 404: no such job
    """
    jobs().delete(g.caller, job_id)
    return "", 204


@bp.post("/<job_id>/run")
@operation(response=schemas.RunStarted, status=202)
def run_job(job_id):
    """Run a job now, outside its schedule.

    :param job_id: the job's id
    :>json string run_id: the run to follow at ``/api/v1/runs/{run_id}``
    :statuscode 202: the run is submitted
    :statuscode 404: no such job
    """
    return {"run_id": jobs().run_now(g.caller, job_id)}, 202


@bp.get("/<job_id>/runs")
@operation(query=schemas.PageQuery, response=schemas.RunList)
def list_runs(job_id, query):
    """The runs of a job, newest first.

    :param job_id: the job's id (its runs remain listed after it is deleted)
    :query limit: items per page
    :query offset: items to skip
    :>json array items: runs: ``id``, ``scheduled_for``, ``status``, ``started_at``, ``finished_at``,
        ``result``, ``error``
    :statuscode 200: the runs
    :statuscode 404: no such job
    """
    limit = query.get("limit") or current_app.config["PAGE_SIZE_DEFAULT"]
    items, total = jobs().runs(g.caller, job_id, limit, query["offset"])
    return {"items": items, "total": total, "limit": limit, "offset": query["offset"]}
