"""Jobs, groups and runs in the store: the one source of truth the scheduler reads.

A job row holds its schedule and action as JSON and the time it next fires
(``next_run_at``). A run row is the claim on one (job, scheduled time): the unique
constraint on that pair is what makes a second run of the same occurrence impossible,
whoever tries to create it.
"""
from dataclasses import dataclass, field
from datetime import datetime, timezone
import json
import uuid

from dispatcher.errors import NeverFires, NotFound, TooCostly, ValidationFailed
from dispatcher.lib import store
from dispatcher.lib.secrets import shown_url
from dispatcher.lib.datastore import RunFilter
from dispatcher.lib.timespec import MIN_TOLERANCE, check_fires, schedule_from_stored

SUBMITTED, RUNNING, COMPLETED, FAILED, MISSED = "Submitted", "Running", "Completed", "Failed", "Missed"
FINISHED = (COMPLETED, FAILED, MISSED)


@dataclass(frozen=True)
class JobSpec:
    """A validated job, ready to store: ``schedule`` is a :class:`~dispatcher.lib.timespec.Schedule`."""

    name: str
    group: str | None
    schedule: object
    action: dict
    overlap: str = "skip"
    paused: bool = False
    options: dict = field(default_factory=dict)   # retry, timeout, notify, disable_after: those given

OPTIONS = ("retry", "timeout", "notify", "disable_after")


def iso(ts):
    """Epoch seconds as an ISO 8601 UTC string (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def first_fire(schedule, now):
    """When a new (or rescheduled, or resumed) job fires first: a one-off time may lie up to
    its tolerance in the past and still runs at once; recurrences fire from now on."""
    since = now - schedule.tolerance if schedule.one_off else now
    when = schedule.next_after(datetime.fromtimestamp(since, timezone.utc))
    return None if when is None else when.timestamp()


def shown_notify(notify):
    """``notify`` as the API shows it: never the webhook's secret, only whether it is ``signed``."""
    if not notify:
        return notify
    webhook = notify.get("webhook")
    if webhook:
        webhook = {"url": shown_url(webhook["url"]), "signed": bool(webhook.get("secret"))}
    return {**notify, "webhook": webhook}


def shown_options(options):
    """The options of a job (or an account's defaults) as the API shows them."""
    return {**options, "notify": shown_notify(options.get("notify"))}


def job_dict(row):
    options = shown_options(json.loads(row.get("options") or "{}"))
    return {"id": row["id"], "name": row["name"], "group": row["group"], "account_id": row["account_id"],
            "schedule": json.loads(row["schedule"]), "action": json.loads(row["action"]),
            "overlap": row["overlap"], "paused": bool(row["paused"]),
            # A paused job fires at no time; the store keeps its place for nothing (resuming
            # fires from then on).
            "next_run_at": None if row["paused"] else iso(row["next_run_at"]),
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]),
            **{key: options.get(key) for key in OPTIONS},
            "failures": row.get("failures") or 0, "paused_reason": row.get("paused_reason")}


def run_dict(row, events=None):
    result = {"id": row["id"], "job_id": row["job_id"], "scheduled_for": iso(row["scheduled_for"]),
              "status": row["status"], "submitted_at": iso(row["submitted_at"]),
              "started_at": iso(row["started_at"]), "finished_at": iso(row["finished_at"]),
              "result": json.loads(row["result"]) if row["result"] else None, "error": row["error"]}
    if events is not None:
        result["events"] = [{"status": e["status"], "at": iso(e["at"]), "message": e["message"]} for e in events]
    return result


def notification_dict(row):
    return {"id": row["id"], "job_id": row["job_id"], "run_id": row["run_id"], "event": row["event"],
            "channel": row["channel"], "target": row["target"], "status": row["status"], "attempts": row["attempts"],
            "last_error": row["last_error"], "created_at": iso(row["created_at"]),
            "delivered_at": iso(row["delivered_at"])}


class Jobs:
    """Job, group and run operations, each scoped to an account unless the caller is the
    administrator; the queries are the data store's."""

    def __init__(self, datastore, on_change=None):
        self.datastore = datastore
        self.on_change = on_change or (lambda: None)

    @staticmethod
    def _row(spec, account_id, now, job_id=None):
        return {"id": job_id or uuid.uuid4().hex, "account_id": account_id, "name": spec.name, "group": spec.group,
                "schedule": json.dumps(spec.schedule.spec), "action": json.dumps(spec.action),
                "overlap": spec.overlap, "paused": spec.paused, "next_run_at": first_fire(spec.schedule, now),
                "created_at": now, "updated_at": now, "options": json.dumps(spec.options), "failures": 0,
                "paused_reason": None, "run_count": 0}

    def check_room(self, caller, adding, check_quota, replacing=()):
        """The quota, checked before any work on the new jobs: one count, no lock. ``create``
        and ``replace_group`` check again, under the account's lock, as they insert. The jobs
        of the groups ``replacing`` make room."""
        check_quota(self.datastore.count_jobs(caller.account_id, excluding_groups=replacing), adding)

    # -- jobs -------------------------------------------------------------------------
    def create(self, caller, spec, check_quota):
        """Insert a job; ``check_quota(scheduled, adding)`` raises when the plan is full."""
        row = self._row(spec, caller.account_id, store.now())
        self.datastore.add_job(row, lambda held: check_quota(held, 1))
        self.on_change()
        # From what was written, not read back: a job due now may have run and left already.
        return job_dict(row)

    def list(self, caller, group=None):
        return [job_dict(row) for row in self.datastore.list_jobs(caller, group)]

    def get(self, caller, job_id):
        return job_dict(self.datastore.get_job(caller, job_id))

    def update(self, caller, job_id, changes):
        """Apply ``changes`` (name, group, schedule, action, overlap, paused); a new schedule
        or a resume recomputes the next fire time."""
        now = store.now()

        def values(row):
            found = {"updated_at": now}
            for key in ("name", "group", "overlap", "paused"):
                if key in changes:
                    found[key] = changes[key]
            if "paused" in changes:       # paused or resumed by hand: the count starts again
                found.update(paused_reason=None, failures=0)
            if any(key in changes for key in OPTIONS):
                options = json.loads(row["options"] or "{}")
                for key in OPTIONS:
                    if key in changes:
                        if changes[key] is None:
                            options.pop(key, None)
                        else:
                            options[key] = changes[key]
                found["options"] = json.dumps(options)
            if "action" in changes:
                found["action"] = json.dumps(changes["action"])
            schedule = changes.get("schedule")
            if schedule is not None:     # a new schedule: its max_runs count from now
                found["schedule"] = json.dumps(schedule.spec)
                found["next_run_at"] = first_fire(schedule, now)
                found["run_count"] = 0
            elif changes.get("paused") is False and row["paused"]:
                # Resuming: occurrences passed while paused are not owed; fire from now on.
                stored = schedule_from_stored(json.loads(row["schedule"]))
                try:
                    check_fires(stored, datetime.fromtimestamp(now, timezone.utc))
                except TooCostly:
                    raise
                except ValidationFailed as exc:     # its time passed while it was paused
                    raise NeverFires("cannot resume: the job's schedule never fires again; give it a new schedule",
                                     exc.details) from None
                found["next_run_at"] = first_fire(stored, now)
            return found

        changed = job_dict(self.datastore.update_job(caller, job_id, values))
        self.on_change()
        return changed

    def delete(self, caller, job_id):
        self.datastore.delete_job(caller, job_id)
        self.on_change()

    # -- groups -----------------------------------------------------------------------
    def groups(self, caller):
        return [{"group": group, "jobs": count} for group, count in self.datastore.groups(caller)]

    def replace_group(self, caller, group, specs, check_quota, rename_to=None, replace=False):
        """Replace every job of ``group`` by ``specs`` (stored under ``rename_to`` if given),
        in one transaction: all of it happens or none of it. Renaming onto a group that has
        jobs replaces them only with ``replace``; otherwise :class:`Conflict`."""
        now = store.now()
        target = rename_to or group
        rows = [self._row(spec, caller.account_id, now) for spec in specs]
        for row in rows:
            row["group"] = target
        self.datastore.replace_group(caller.account_id, group, target, rows, replace,
                                     lambda kept: check_quota(kept, len(rows)))
        self.on_change()
        return [job_dict(row) for row in rows]

    def delete_group(self, caller, group):
        removed = self.datastore.delete_group(caller, group)
        if not removed:
            raise NotFound(f"no group {group!r}", {"group": group})
        self.on_change()
        return removed

    # -- runs -------------------------------------------------------------------------
    def run_now(self, caller, job_id, tolerance=None):
        """Claim a run of the job for now; the scheduler starts it. Returns the run id."""
        now = store.now()

        def make_run(row):
            spec = json.loads(row["schedule"])
            allowed = max(float(tolerance if tolerance is not None else spec.get("tolerance", 10)), MIN_TOLERANCE)
            return {"id": str(uuid.uuid4()), "job_id": row["id"], "account_id": row["account_id"],
                    "scheduled_for": now, "deadline": now + allowed, "action": row["action"], "overlap": "allow",
                    "status": SUBMITTED, "submitted_at": now, "options": row["options"]}

        run = self.datastore.submit_run(caller, job_id, make_run, "run requested through the API")
        self.on_change()
        return run["id"]

    def submit_action(self, caller, action, deadline_seconds, message):
        """A run of ``action`` (validated) that belongs to no job, for the scheduler to start
        now, like a job's run; returns the run id."""
        now = store.now()
        run = {"id": str(uuid.uuid4()), "job_id": None, "account_id": caller.account_id, "scheduled_for": now,
               "deadline": now + deadline_seconds, "action": json.dumps(action), "overlap": "allow",
               "status": SUBMITTED, "submitted_at": now, "options": None}
        self.datastore.add_run(run, message)
        self.on_change()
        return run["id"]

    def runs(self, caller, job_id, limit, offset):
        rows, total = self.datastore.runs_of_job(caller, job_id, limit, offset)
        return [run_dict(row) for row in rows], total

    def all_runs(self, caller, filters, limit, offset):
        """The caller's runs across its jobs (every run for the administrator), newest first."""
        rows, total = self.datastore.list_runs(caller, filters or RunFilter(), limit, offset)
        return [run_dict(row) for row in rows], total

    def run(self, caller, run_id):
        row, events = self.datastore.get_run(caller, run_id)
        return run_dict(row, events)

    # -- notifications ----------------------------------------------------------------
    def notifications(self, caller, job_id, limit, offset):
        """The deliveries of the job's notifications, newest first (they outlive the job)."""
        rows, total = self.datastore.notifications_of_job(caller, job_id, limit, offset)
        return [notification_dict(row) for row in rows], total
