"""What a job's notifications say, and when: pure functions over run transitions and job rows.

The :class:`~dispatcher.lib.notify.Notifier` feeds batches of committed transitions to
:func:`fold`, asks the store to count failures and reset counts as the fold says, then builds
each notice with :func:`message` (the webhook's JSON body), :func:`email_text` and
:func:`signature`. Nothing here does I/O.
"""
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum
import hashlib
import hmac
import json

from dispatcher.lib.jobs import COMPLETED, FAILED, MISSED, iso


class Notice(str, Enum):
    """What a notification is about (the values of ``notify.on``)."""

    FAILURE = "failure"     # a run Failed
    RECOVERY = "recovery"   # a run Completed while the job's count of failures in a row was above 0
    DISABLED = "disabled"   # the job was paused after ``disable_after`` failed runs in a row
    MISSED = "missed"       # a run was Missed


class Delivery(str, Enum):
    """How one delivery ended."""

    DELIVERED = "delivered"
    FAILED = "failed"


# -- what the job and its account say ----------------------------------------------------

def _json(text):
    return json.loads(text) if text else {}


def notify_of(job):
    """The ``notify`` that applies to ``job`` (a row with its account's ``defaults``): the job's
    own, else the account's; None when neither has one."""
    own = _json(job["options"]).get("notify")
    return own if own is not None else _json(job.get("defaults")).get("notify")


def disable_after_of(job, default):
    """Failed runs in a row after which ``job`` is paused: the job's ``disable_after``, else its
    account's, else ``default`` (the ``DISABLE_AFTER`` setting)."""
    for source in (_json(job["options"]), _json(job.get("defaults"))):
        if source.get("disable_after") is not None:
            return int(source["disable_after"])
    return default


def disabled_reason(limit):
    """The ``paused_reason`` of a job paused after ``limit`` failed runs in a row."""
    return f"disabled after {limit} failed run{'s' if limit != 1 else ''} in a row"


# -- folding a batch of transitions --------------------------------------------------------

@dataclass
class Step:
    """Consecutive outcomes of one job in a batch: ``failed`` runs, or a ``completed`` one."""

    kind: str                                   # FAILED or COMPLETED
    events: list = field(default_factory=list)  # the failed runs; the first completion


@dataclass
class Fold:
    """A batch of transitions, folded per job, in the order they happened."""

    steps: dict = field(default_factory=lambda: defaultdict(list))   # job id -> [Step]
    missed: dict = field(default_factory=dict)                       # job id -> its latest Missed event


def fold(events):
    """Fold ``events`` (the store's announcements, in order) into each job's steps.

    Failed runs in a row make one step (counted with one UPDATE); of completions in a row only
    the first can be a recovery, so the step keeps that one. Missed runs neither count nor
    reset: of a job's Missed runs in one batch (a catch-up after downtime records many) only the
    latest is notified.
    """
    folded = Fold()
    for event in events:
        status, job_id = event["status"], event["job_id"]
        if job_id is None:      # a run of no job (nodes created through the API): nobody to tell
            continue
        if status == MISSED:
            folded.missed[job_id] = event
            continue
        if status not in (FAILED, COMPLETED):
            continue
        steps = folded.steps[job_id]
        if steps and steps[-1].kind == status:
            if status == FAILED:
                steps[-1].events.append(event)
        else:
            steps.append(Step(status, [event]))
    return folded


# -- the notice itself ---------------------------------------------------------------------

def message(kind, job, event):
    """The JSON body of a notice: ``{event, job: {id, name}, run: {id, status, scheduled_for,
    error}, at}``, times ISO 8601 UTC; ``job.paused_reason`` too for ``disabled``."""
    status = event["status"]
    shown_job = {"id": job["id"], "name": job["name"]}
    if kind == Notice.DISABLED:
        shown_job["paused_reason"] = job["paused_reason"]
    return {"event": str(Notice(kind).value), "job": shown_job,
            "run": {"id": event["run_id"], "status": status, "scheduled_for": iso(event["scheduled_for"]),
                    "error": event["message"] if status in (FAILED, MISSED) else None},
            "at": iso(event["at"])}


def signature(secret, timestamp, body):
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` (bytes) under ``secret``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


_HEADLINES = {
    Notice.FAILURE: "run failed",
    Notice.RECOVERY: "recovered: a run completed after failed runs",
    Notice.MISSED: "run missed",
}


def email_text(body):
    """``(subject, text)`` of the e-mail for a notice's ``body`` (made by :func:`message`)."""
    kind, job, run = Notice(body["event"]), body["job"], body["run"]
    headline = (job.get("paused_reason") or "disabled") if kind == Notice.DISABLED else _HEADLINES[kind]
    subject = f"[Orchestrator] {job['name']}: {headline}"
    lines = [f"Job {job['name']} ({job['id']}): {headline}.", "",
             f"Run:           {run['id']}", f"Status:        {run['status']}",
             f"Scheduled for: {run['scheduled_for']}", f"At:            {body['at']}"]
    if run["error"]:
        lines.append(f"Error:         {run['error']}")
    if kind == Notice.DISABLED:
        lines += ["", "The job is paused. Resume it with PATCH /api/v1/jobs/{id} {\"paused\": false}."
                  .replace("{id}", job["id"])]
    return subject, "\n".join(lines) + "\n"
