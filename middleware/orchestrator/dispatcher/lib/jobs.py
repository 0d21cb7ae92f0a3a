"""Jobs, groups and runs in the store: the one source of truth the scheduler reads.

A job row holds its schedule and action as JSON and the time it next fires
(``next_run_at``). A run row is the claim on one (job, scheduled time): the unique
constraint on that pair is what makes a second run of the same occurrence impossible,
whoever tries to create it.
"""
from dataclasses import dataclass
from datetime import datetime, timezone
import json
import uuid

from sqlalchemy import and_, delete, func, insert, or_, select, update

from dispatcher.errors import Conflict, NotFound, TooCostly, ValidationFailed
from dispatcher.lib import store
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


def job_dict(row):
    return {"id": row["id"], "name": row["name"], "group": row["group"], "account_id": row["account_id"],
            "schedule": json.loads(row["schedule"]), "action": json.loads(row["action"]),
            "overlap": row["overlap"], "paused": bool(row["paused"]), "next_run_at": iso(row["next_run_at"]),
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"])}


def run_dict(row, events=None):
    result = {"id": row["id"], "job_id": row["job_id"], "scheduled_for": iso(row["scheduled_for"]),
              "status": row["status"], "submitted_at": iso(row["submitted_at"]),
              "started_at": iso(row["started_at"]), "finished_at": iso(row["finished_at"]),
              "result": json.loads(row["result"]) if row["result"] else None, "error": row["error"]}
    if events is not None:
        result["events"] = [{"status": e["status"], "at": iso(e["at"]), "message": e["message"]} for e in events]
    return result


class Jobs:
    """Job, group and run operations, each scoped to an account unless the caller is the administrator."""

    def __init__(self, engine, on_change=None):
        self.engine = engine
        self.on_change = on_change or (lambda: None)

    # -- scoping ----------------------------------------------------------------------
    @staticmethod
    def _scope(table, caller):
        return True if caller.is_admin else table.c.account_id == caller.account_id

    @staticmethod
    def _lock_account(conn, account_id):
        # A no-op write takes the account's row (PostgreSQL) or the database (SQLite) lock,
        # so two concurrent requests cannot both pass the quota check.
        conn.execute(update(store.accounts).where(store.accounts.c.id == account_id)
                     .values(plan=store.accounts.c.plan))

    def count(self, conn, account_id):
        return conn.execute(select(func.count()).select_from(store.jobs)
                            .where(store.jobs.c.account_id == account_id)).scalar()

    @staticmethod
    def _row(spec, account_id, now, job_id=None):
        return {"id": job_id or uuid.uuid4().hex, "account_id": account_id, "name": spec.name, "group": spec.group,
                "schedule": json.dumps(spec.schedule.spec), "action": json.dumps(spec.action),
                "overlap": spec.overlap, "paused": spec.paused, "next_run_at": first_fire(spec.schedule, now),
                "created_at": now, "updated_at": now}

    def check_room(self, caller, adding, check_quota, replacing=()):
        """The quota, checked before any work on the new jobs: one count, no lock. ``create``
        and ``replace_group`` check again, under the account's lock, as they insert. The jobs
        of the groups ``replacing`` make room."""
        t = store.jobs
        kept = select(func.count()).select_from(t).where(t.c.account_id == caller.account_id)
        if replacing:
            kept = kept.where(or_(t.c.group.is_(None), t.c.group.not_in(list(replacing))))
        with self.engine.connect() as conn:
            check_quota(conn.execute(kept).scalar(), adding)

    # -- jobs -------------------------------------------------------------------------
    def create(self, caller, spec, check_quota):
        """Insert a job; ``check_quota(scheduled, adding)`` raises when the plan is full."""
        now = store.now()
        row = self._row(spec, caller.account_id, now)
        with self.engine.begin() as conn:
            self._lock_account(conn, caller.account_id)
            check_quota(self.count(conn, caller.account_id), 1)
            conn.execute(insert(store.jobs).values(**row))
        self.on_change()
        # From what was written, not read back: a job due now may have run and left already.
        return job_dict(row)

    def list(self, caller, group=None):
        query = select(store.jobs).where(self._scope(store.jobs, caller)).order_by(store.jobs.c.created_at)
        if group is not None:
            query = query.where(store.jobs.c.group == group)
        with self.engine.connect() as conn:
            return [job_dict(r) for r in conn.execute(query).mappings()]

    def _get_row(self, conn, caller, job_id):
        row = conn.execute(select(store.jobs).where(store.jobs.c.id == job_id, self._scope(store.jobs, caller))
                           ).mappings().first()
        if row is None:
            raise NotFound(f"no job {job_id!r}", {"job": job_id})
        return row

    def get(self, caller, job_id):
        with self.engine.connect() as conn:
            return job_dict(self._get_row(conn, caller, job_id))

    def update(self, caller, job_id, changes):
        """Apply ``changes`` (name, group, schedule, action, overlap, paused); a new schedule
        or a resume recomputes the next fire time."""
        now = store.now()
        with self.engine.begin() as conn:
            row = self._get_row(conn, caller, job_id)
            values = {"updated_at": now}
            for key in ("name", "group", "overlap", "paused"):
                if key in changes:
                    values[key] = changes[key]
            if "action" in changes:
                values["action"] = json.dumps(changes["action"])
            schedule = changes.get("schedule")
            if schedule is not None:
                values["schedule"] = json.dumps(schedule.spec)
                values["next_run_at"] = first_fire(schedule, now)
            elif changes.get("paused") is False and row["paused"]:
                # Resuming: occurrences passed while paused are not owed; fire from now on.
                stored = schedule_from_stored(json.loads(row["schedule"]))
                try:
                    check_fires(stored, datetime.fromtimestamp(now, timezone.utc))
                except TooCostly:
                    raise
                except ValidationFailed as exc:     # its time passed while it was paused
                    raise ValidationFailed("cannot resume: the job's schedule never fires again; give it a "
                                           "new schedule", exc.details) from None
                values["next_run_at"] = first_fire(stored, now)
            conn.execute(update(store.jobs).where(store.jobs.c.id == job_id).values(**values))
            changed = job_dict(self._get_row(conn, caller, job_id))
        self.on_change()
        return changed

    def delete(self, caller, job_id):
        with self.engine.begin() as conn:
            self._get_row(conn, caller, job_id)
            conn.execute(delete(store.jobs).where(store.jobs.c.id == job_id))
        self.on_change()

    # -- groups -----------------------------------------------------------------------
    def groups(self, caller):
        t = store.jobs
        query = (select(t.c.group, func.count()).where(t.c.group.is_not(None), self._scope(t, caller))
                 .group_by(t.c.group).order_by(t.c.group))
        with self.engine.connect() as conn:
            return [{"group": g, "jobs": n} for g, n in conn.execute(query)]

    def replace_group(self, caller, group, specs, check_quota, rename_to=None, replace=False):
        """Replace every job of ``group`` by ``specs`` (stored under ``rename_to`` if given),
        in one transaction: all of it happens or none of it. Renaming onto a group that has
        jobs replaces them only with ``replace``; otherwise :class:`Conflict`."""
        now = store.now()
        target = rename_to or group
        rows = [self._row(spec, caller.account_id, now) for spec in specs]
        for row in rows:
            row["group"] = target
        t = store.jobs
        mine = and_(t.c.account_id == caller.account_id, t.c.group.in_({group, target}))
        with self.engine.begin() as conn:
            self._lock_account(conn, caller.account_id)
            if target != group and not replace:
                taken = conn.execute(select(func.count()).select_from(t).where(
                    t.c.account_id == caller.account_id, t.c.group == target)).scalar()
                if taken:
                    raise Conflict(f"group {target!r} exists already with {taken} jobs; send \"replace\": true "
                                   f"to replace them", {"group": target, "jobs": taken})
            replaced = conn.execute(select(func.count()).select_from(t).where(mine)).scalar()
            check_quota(self.count(conn, caller.account_id) - replaced, len(rows))
            conn.execute(delete(t).where(mine))
            if rows:
                conn.execute(insert(t), rows)
        self.on_change()
        return [job_dict(row) for row in rows]

    def delete_group(self, caller, group):
        t = store.jobs
        with self.engine.begin() as conn:
            removed = conn.execute(delete(t).where(t.c.group == group, self._scope(t, caller))).rowcount
        if not removed:
            raise NotFound(f"no group {group!r}", {"group": group})
        self.on_change()
        return removed

    # -- runs -------------------------------------------------------------------------
    def run_now(self, caller, job_id, tolerance=None):
        """Claim a run of the job for now; the scheduler starts it. Returns the run id."""
        now = store.now()
        with self.engine.begin() as conn:
            row = self._get_row(conn, caller, job_id)
            spec = json.loads(row["schedule"])
            run_id = str(uuid.uuid4())
            conn.execute(insert(store.runs).values(
                id=run_id, job_id=job_id, account_id=row["account_id"], scheduled_for=now,
                deadline=now + max(float(tolerance if tolerance is not None else spec.get("tolerance", 10)),
                                   MIN_TOLERANCE),
                action=row["action"], overlap="allow", status=SUBMITTED, submitted_at=now))
            conn.execute(insert(store.run_events).values(run_id=run_id, status=SUBMITTED, at=now,
                                                         message="run requested through the API"))
        self.on_change()
        return run_id

    def runs(self, caller, job_id, limit, offset):
        r = store.runs
        with self.engine.connect() as conn:
            exists = conn.execute(select(func.count()).select_from(store.jobs).where(
                store.jobs.c.id == job_id, self._scope(store.jobs, caller))).scalar()
            where = and_(r.c.job_id == job_id, self._scope(r, caller))
            total = conn.execute(select(func.count()).select_from(r).where(where)).scalar()
            if not exists and not total:
                raise NotFound(f"no job {job_id!r}", {"job": job_id})
            rows = conn.execute(select(r).where(where).order_by(r.c.submitted_at.desc(), r.c.id)
                                .limit(limit).offset(offset)).mappings().all()
        return [run_dict(x) for x in rows], total

    def run(self, caller, run_id):
        r, e = store.runs, store.run_events
        with self.engine.connect() as conn:
            row = conn.execute(select(r).where(r.c.id == run_id, self._scope(r, caller))).mappings().first()
            if row is None:
                raise NotFound(f"no run {run_id!r}", {"run": run_id})
            events = conn.execute(select(e).where(e.c.run_id == run_id).order_by(e.c.at, e.c.id)).mappings().all()
        return run_dict(row, events)
