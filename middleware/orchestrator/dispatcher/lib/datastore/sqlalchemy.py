"""The data store over SQLAlchemy Core: SQLite (the embedded default) and PostgreSQL.

The dialects differ in three places, each said where it happens: the INSERT that can skip or
update a row that exists (``ON CONFLICT``), locking the due jobs of a claim (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite has one writer at a time anyway), and how an account is locked
for a quota check (a no-op write takes its row's lock, or SQLite's database lock).
"""
from contextlib import contextmanager
import json
import logging
import random
import threading

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, select, true, update

from dispatcher.errors import Conflict, NotFound
from dispatcher.lib import store
from dispatcher.lib.datastore.base import DataStore, Transaction, event

log = logging.getLogger(__name__)

SUBMITTED, RUNNING, FAILED, MISSED = "Submitted", "Running", "Failed", "Missed"
INTERRUPTED = "interrupted"


def _scope(table, scope):
    return true() if scope.is_admin else table.c.account_id == scope.account_id


def _chunks(items, size=500):
    """SQLite takes at most a few hundred bound values in one IN."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SQLAlchemyTransaction(Transaction):
    """The scheduling steps on one connection inside one transaction."""

    # Statements built once: the loop runs them for thousands of rows a second.
    _move_job = (update(store.jobs).where(store.jobs.c.id == bindparam("jid"),
                                          store.jobs.c.next_run_at == bindparam("old"))
                 .values(next_run_at=bindparam("nxt"), run_count=store.jobs.c.run_count + bindparam("claimed")))
    _drop_job = delete(store.jobs).where(store.jobs.c.id == bindparam("jid"),
                                         store.jobs.c.next_run_at == bindparam("old"))
    # Bound names differ from the column names, which SQLAlchemy reserves for SET.
    _transition = (update(store.runs).where(store.runs.c.id == bindparam("rid"), store.runs.c.status == SUBMITTED)
                   .values(status=bindparam("b_status"), started_at=bindparam("b_started"),
                           finished_at=bindparam("b_finished"), error=bindparam("b_error"),
                           holder=bindparam("b_holder")))
    _started = (update(store.runs).where(store.runs.c.id == bindparam("rid"), store.runs.c.status == RUNNING)
                .values(started_at=bindparam("at")))
    _finish = (update(store.runs).where(store.runs.c.id == bindparam("rid"))
               .values(status=bindparam("b_status"), finished_at=bindparam("at"), result=bindparam("b_result"),
                       error=bindparam("b_error")))

    def __init__(self, datastore, conn):
        self.datastore = datastore
        self.conn = conn
        self.events = []    # written with the transaction, announced once it has committed

    def acquire_due_jobs(self, horizon, limit):
        jobs = store.jobs
        query = (select(jobs).where(jobs.c.paused.is_(False), jobs.c.next_run_at <= horizon)
                 .order_by(jobs.c.next_run_at).limit(limit))
        if self.datastore.postgresql:
            query = query.with_for_update(skip_locked=True)
        return self.conn.execute(query).mappings().all()

    def add_runs(self, runs, now):
        if not runs:
            return set()
        self.conn.execute(self.datastore.claim_runs, runs)
        claimed = self._existing([r["id"] for r in runs])
        events = []
        for run in runs:
            if run["id"] in claimed:
                events.append(event(run, SUBMITTED, now))
                ahead = run["status"] == RUNNING and run["started_at"] is not None and run["started_at"] > now
                if run["status"] != SUBMITTED and not ahead:   # claimed ahead: see record_starts
                    events.append(event(run, run["status"], now, run["error"]))
        self.add_events(events)
        return claimed

    def _existing(self, run_ids, extra=None):
        runs, found = store.runs, set()
        for chunk in _chunks(run_ids):
            query = select(runs.c.id).where(runs.c.id.in_(chunk))
            if extra is not None:
                query = query.where(extra)
            found.update(self.conn.execute(query).scalars())
        return found

    def move_jobs(self, moves):
        if moves:
            self.conn.execute(self._move_job, moves)

    def drop_jobs(self, drops):
        if drops:
            self.conn.execute(self._drop_job, drops)

    def submitted_runs(self, now, limit):
        runs = store.runs
        return self.conn.execute(select(runs).where(runs.c.status == SUBMITTED, runs.c.holder.is_(None),
                                                    runs.c.scheduled_for <= now)
                                 .order_by(runs.c.scheduled_for).limit(limit)).mappings().all()

    def queue_runs(self, runs, token):
        if not runs:
            return set()
        table = store.runs
        ids = [run["id"] for run in runs]
        for chunk in _chunks(ids):
            self.conn.execute(update(table).where(table.c.id.in_(chunk), table.c.status == SUBMITTED,
                                                  table.c.holder.is_(None)).values(holder=token))
        return self._existing(ids, table.c.holder == token)

    def busy_jobs(self, job_ids):
        runs, found = store.runs, set()
        for chunk in _chunks(list(job_ids)):
            found.update(self.conn.execute(select(runs.c.job_id).distinct().where(
                runs.c.job_id.in_(chunk),
                or_(runs.c.status == RUNNING, and_(runs.c.status == SUBMITTED, runs.c.holder.is_not(None))))).scalars())
        return found

    def transition_runs(self, decisions, now, holder=None):
        if not decisions:
            return set()
        self.conn.execute(self._transition, [
            {"rid": run["id"], "b_status": status, "b_started": now if status == RUNNING else None,
             "b_finished": None if status == RUNNING else now, "b_error": message,
             "b_holder": holder if status == RUNNING else None}
            for run, status, message in decisions])
        # Moved by this call: recognised by this call's own timestamp.
        runs = store.runs
        moved = self._existing([run["id"] for run, _, _ in decisions],
                               or_(runs.c.started_at == now, runs.c.finished_at == now))
        self.add_events([event(run, status, now, message) for run, status, message in decisions if run["id"] in moved])
        return moved

    def record_starts(self, starts):
        if not starts:
            return
        self.conn.execute(self._started, [{"rid": run["id"], "at": at} for run, at in starts])
        self.add_events([event(run, RUNNING, at) for run, at in starts])

    def finish_runs(self, outcomes):
        if not outcomes:
            return
        self.conn.execute(self._finish, [
            {"rid": run["id"], "at": at, "b_status": status, "b_error": error,
             "b_result": json.dumps(result) if result is not None else None}
            for run, status, at, result, error in outcomes])
        self.add_events([event(run, status, at, error) for run, status, at, result, error in outcomes])

    def add_events(self, events):
        if events:
            self.conn.execute(insert(store.run_events), [
                {"run_id": e["run_id"], "status": e["status"], "at": e["at"], "message": e["message"]} for e in events])
            self.events.extend(events)

    def next_fire_time(self):
        jobs = store.jobs
        return self.conn.execute(select(jobs.c.next_run_at).where(
            jobs.c.paused.is_(False), jobs.c.next_run_at.is_not(None)).order_by(jobs.c.next_run_at).limit(1)).scalar()

    def purge_runs(self, before):
        runs, events = store.runs, store.run_events
        old = select(runs.c.id).where(runs.c.finished_at.is_not(None), runs.c.finished_at < before)
        self.conn.execute(delete(events).where(events.c.run_id.in_(old)))
        self.conn.execute(delete(runs).where(runs.c.finished_at.is_not(None), runs.c.finished_at < before))


class SQLAlchemyDataStore(DataStore):
    """Jobs, runs, events, leases and limits in the tables of :mod:`dispatcher.lib.store`."""

    def __init__(self, engine):
        self.engine = engine
        self.postgresql = engine.dialect.name == "postgresql"
        self.insert = store.insert_for(engine)
        self.claim_runs = self.insert(store.runs).on_conflict_do_nothing(index_elements=["job_id", "scheduled_for"])
        self.listeners = []
        self.announcing = threading.Lock()

    def subscribe(self, listener):
        self.listeners.append(listener)

    def _announce(self, events):
        for listener in self.listeners:
            try:
                listener(events)
            except Exception:  # a listener's failure is its own: the transitions are recorded
                log.exception("a run event listener failed")

    @contextmanager
    def transaction(self):
        with self.engine.begin() as conn:
            tx = SQLAlchemyTransaction(self, conn)
            yield tx
            if tx.events:
                # Committed and announced in one step: a transition another thread records
                # later (the start of a run this commit submits) cannot be heard before this one.
                with self.announcing:
                    conn.commit()
                    self._announce(tx.events)

    # -- jobs -------------------------------------------------------------------------
    @staticmethod
    def _lock_account(conn, account_id):
        # A no-op write takes the account's row lock (PostgreSQL) or the database's (SQLite).
        conn.execute(update(store.accounts).where(store.accounts.c.id == account_id)
                     .values(plan=store.accounts.c.plan))

    @staticmethod
    def _count(conn, account_id):
        return conn.execute(select(func.count()).select_from(store.jobs)
                            .where(store.jobs.c.account_id == account_id)).scalar()

    def count_jobs(self, account_id, excluding_groups=()):
        jobs = store.jobs
        query = select(func.count()).select_from(jobs).where(jobs.c.account_id == account_id)
        if excluding_groups:
            query = query.where(or_(jobs.c.group.is_(None), jobs.c.group.not_in(list(excluding_groups))))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def add_job(self, row, check_quota):
        with self.engine.begin() as conn:
            self._lock_account(conn, row["account_id"])
            check_quota(self._count(conn, row["account_id"]))
            conn.execute(insert(store.jobs).values(**row))
        return row

    @staticmethod
    def _job(conn, scope, job_id):
        row = conn.execute(select(store.jobs).where(store.jobs.c.id == job_id, _scope(store.jobs, scope))
                           ).mappings().first()
        if row is None:
            raise NotFound(f"no job {job_id!r}", {"job": job_id})
        return row

    def get_job(self, scope, job_id):
        with self.engine.connect() as conn:
            return self._job(conn, scope, job_id)

    def list_jobs(self, scope, group=None):
        jobs = store.jobs
        query = select(jobs).where(_scope(jobs, scope)).order_by(jobs.c.created_at, jobs.c.id)
        if group is not None:
            query = query.where(jobs.c.group == group)
        with self.engine.connect() as conn:
            return conn.execute(query).mappings().all()

    def update_job(self, scope, job_id, changes):
        with self.engine.begin() as conn:
            row = self._job(conn, scope, job_id)
            conn.execute(update(store.jobs).where(store.jobs.c.id == job_id).values(**changes(row)))
            return self._job(conn, scope, job_id)

    def delete_job(self, scope, job_id):
        with self.engine.begin() as conn:
            self._job(conn, scope, job_id)
            conn.execute(delete(store.jobs).where(store.jobs.c.id == job_id))

    def groups(self, scope):
        jobs = store.jobs
        query = (select(jobs.c.group, func.count()).where(jobs.c.group.is_not(None), _scope(jobs, scope))
                 .group_by(jobs.c.group).order_by(jobs.c.group))
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def replace_group(self, account_id, group, target, rows, replace, check_quota):
        jobs = store.jobs
        mine = and_(jobs.c.account_id == account_id, jobs.c.group.in_({group, target}))
        with self.engine.begin() as conn:
            self._lock_account(conn, account_id)
            if target != group and not replace:
                taken = conn.execute(select(func.count()).select_from(jobs).where(
                    jobs.c.account_id == account_id, jobs.c.group == target)).scalar()
                if taken:
                    raise Conflict(f"group {target!r} exists already with {taken} jobs; send \"replace\": true "
                                   f"to replace them", {"group": target, "jobs": taken})
            replaced = conn.execute(select(func.count()).select_from(jobs).where(mine)).scalar()
            check_quota(self._count(conn, account_id) - replaced)
            conn.execute(delete(jobs).where(mine))
            if rows:
                conn.execute(insert(jobs), rows)
        return rows

    def delete_group(self, scope, group):
        jobs = store.jobs
        with self.engine.begin() as conn:
            return conn.execute(delete(jobs).where(jobs.c.group == group, _scope(jobs, scope))).rowcount

    # -- runs -------------------------------------------------------------------------
    def submit_run(self, scope, job_id, make_run, message):
        with self.transaction() as tx:
            run = make_run(self._job(tx.conn, scope, job_id))
            tx.conn.execute(insert(store.runs).values(**run))
            tx.add_events([event(run, SUBMITTED, run["submitted_at"], message)])
        return run

    def add_run(self, run, message):
        with self.transaction() as tx:
            tx.conn.execute(insert(store.runs).values(**run))
            tx.add_events([event(run, SUBMITTED, run["submitted_at"], message)])
        return run

    def get_run(self, scope, run_id):
        runs, events = store.runs, store.run_events
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id, _scope(runs, scope))).mappings().first()
            if row is None:
                raise NotFound(f"no run {run_id!r}", {"run": run_id})
            found = conn.execute(select(events).where(events.c.run_id == run_id)
                                 .order_by(events.c.at, events.c.id)).mappings().all()
        return row, found

    def _page(self, conn, where, limit, offset):
        runs = store.runs
        total = conn.execute(select(func.count()).select_from(runs).where(where)).scalar()
        rows = conn.execute(select(runs).where(where).order_by(runs.c.submitted_at.desc(), runs.c.id)
                            .limit(limit).offset(offset)).mappings().all()
        return rows, total

    @staticmethod
    def _filtered(scope, filters):
        runs = store.runs
        where = [_scope(runs, scope)]
        if filters.status is not None:
            where.append(runs.c.status == filters.status)
        if filters.job_id is not None:
            where.append(runs.c.job_id == filters.job_id)
        if filters.since is not None:
            where.append(runs.c.scheduled_for >= filters.since)
        if filters.until is not None:
            where.append(runs.c.scheduled_for < filters.until)
        return and_(*where)

    def list_runs(self, scope, filters, limit, offset):
        with self.engine.connect() as conn:
            return self._page(conn, self._filtered(scope, filters), limit, offset)

    def run_totals(self, scope, filters):
        runs = store.runs
        where = self._filtered(scope, filters)
        with self.engine.connect() as conn:
            by_status = dict(conn.execute(select(runs.c.status, func.count()).where(where)
                                          .group_by(runs.c.status)).all())
            first, last, finished = conn.execute(select(func.min(runs.c.started_at), func.max(runs.c.started_at),
                                                        func.max(runs.c.finished_at)).where(where)).one()
        return {"runs": sum(by_status.values()), "by_status": by_status, "first_started": first,
                "last_started": last, "last_finished": finished}

    def runs_of_job(self, scope, job_id, limit, offset):
        runs, jobs = store.runs, store.jobs
        with self.engine.connect() as conn:
            exists = conn.execute(select(func.count()).select_from(jobs).where(
                jobs.c.id == job_id, _scope(jobs, scope))).scalar()
            rows, total = self._page(conn, and_(runs.c.job_id == job_id, _scope(runs, scope)), limit, offset)
        if not exists and not total:
            raise NotFound(f"no job {job_id!r}", {"job": job_id})
        return rows, total

    def start_run(self, run_id, now, message=None, holder=None, in_time=False):
        runs = store.runs
        where = [runs.c.id == run_id, runs.c.status == SUBMITTED]
        if in_time:
            where.append(runs.c.deadline >= now)
        with self.transaction() as tx:
            # One statement: a worker starts thousands of runs a second, each a round trip less.
            run = tx.conn.execute(update(runs).where(*where).values(status=RUNNING, started_at=now, holder=holder)
                                  .returning(*runs.c)).mappings().first()
            if run is None:
                return None
            tx.add_events([event(run, RUNNING, now, message)])
        return run

    def release_runs(self, holder, run_ids):
        runs, released = store.runs, []
        with self.engine.begin() as conn:
            for chunk in _chunks(list(run_ids)):
                mine = and_(runs.c.id.in_(chunk), runs.c.status == RUNNING, runs.c.holder == holder)
                released += conn.execute(select(runs.c.id).where(mine)).scalars().all()
                conn.execute(update(runs).where(mine).values(status=SUBMITTED, started_at=None, holder=None))
        return released

    def heartbeat(self, holder, now):
        workers = store.workers
        stmt = self.insert(workers).values(holder=holder, seen_at=now)
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["holder"], set_={"seen_at": stmt.excluded.seen_at}))
            if random.random() < 0.01:  # now and then, forget holders gone for a day
                conn.execute(delete(workers).where(workers.c.seen_at < now - 86400))

    def expire_queued(self, now):
        runs = store.runs
        with self.transaction() as tx:
            late = tx.conn.execute(select(runs).where(runs.c.status == SUBMITTED, runs.c.holder.is_not(None),
                                                      runs.c.deadline < now)).mappings().all()
            message = "missed: no worker started it within the tolerance"
            for chunk in _chunks([run["id"] for run in late]):
                tx.conn.execute(update(runs).where(runs.c.id.in_(chunk), runs.c.status == SUBMITTED)
                                .values(status=MISSED, finished_at=now, error=message))
            tx.add_events([event(run, MISSED, now, message) for run in late])
        return [run["id"] for run in late]

    def get_run_row(self, run_id):
        with self.engine.connect() as conn:
            return conn.execute(select(store.runs).where(store.runs.c.id == run_id)).mappings().first()

    def reap_abandoned(self, now, grace, holders=None, keep=None):
        runs, workers = store.runs, store.workers
        if holders is not None:
            gone = runs.c.holder.in_(list(holders))
        else:
            alive = select(workers.c.holder).where(workers.c.seen_at >= now - grace)
            gone = or_(runs.c.holder.is_(None), runs.c.holder.not_in(alive))
        if keep is not None:
            gone = and_(gone, or_(runs.c.holder.is_(None), runs.c.holder != keep))
        with self.transaction() as tx:
            # Claimed ahead and not yet due: it never started, the active scheduler starts it.
            ahead = and_(runs.c.status == RUNNING, gone, runs.c.started_at > now)
            tx.conn.execute(update(runs).where(ahead).values(status=SUBMITTED, started_at=None, holder=None))
            stale = tx.conn.execute(select(runs.c.id, runs.c.job_id, runs.c.account_id, runs.c.scheduled_for,
                                           runs.c.action)
                                    .where(runs.c.status == RUNNING, gone)).mappings().all()
            for chunk in _chunks([run["id"] for run in stale]):
                tx.conn.execute(update(runs).where(runs.c.id.in_(chunk), runs.c.status == RUNNING)
                                .values(status=FAILED, finished_at=now, error=INTERRUPTED))
            tx.add_events([event(run, FAILED, now, "interrupted: the process running it stopped") for run in stale])
        return [run["id"] for run in stale]

    # -- failures in a row and notifications ------------------------------------------
    def count_failures(self, failed, limit_of, reason_of, now):
        jobs, accounts = store.jobs, store.accounts
        found = {}
        with self.engine.begin() as conn:
            for job_id, n in sorted(failed.items()):  # one lock order for every writer
                # The UPDATE takes the job's row lock: concurrent counts add up, none is lost.
                row = conn.execute(update(jobs).where(jobs.c.id == job_id).values(failures=jobs.c.failures + n)
                                   .returning(jobs.c.id, jobs.c.account_id, jobs.c.name, jobs.c.options,
                                              jobs.c.paused, jobs.c.failures)).mappings().first()
                if row is None:
                    continue
                defaults = conn.execute(select(accounts.c.defaults).where(accounts.c.id == row["account_id"])).scalar()
                limit = limit_of({**row, "defaults": defaults})
                paused = False
                if not row["paused"] and limit is not None and row["failures"] >= limit:
                    paused = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.paused.is_(False))
                                          .values(paused=True, paused_reason=reason_of(limit), updated_at=now)
                                          ).rowcount == 1
                found[job_id] = (row["failures"], paused)
        return found

    def reset_failures(self, job_ids):
        jobs = store.jobs
        failing = []
        # Read first: most completed runs belong to jobs with nothing to reset, and a read takes
        # no write lock (SQLite has one writer at a time).
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(job_ids))):
                failing += conn.execute(select(jobs.c.id).where(jobs.c.id.in_(chunk), jobs.c.failures > 0)).scalars()
        reset = set()
        if not failing:
            return reset
        with self.engine.begin() as conn:
            for chunk in _chunks(sorted(failing)):
                # Conditional: of two processes resetting the same job at once, one gets its id.
                reset.update(conn.execute(update(jobs).where(jobs.c.id.in_(chunk), jobs.c.failures > 0)
                                          .values(failures=0).returning(jobs.c.id)).scalars())
        return reset

    def notice_jobs(self, job_ids):
        jobs, accounts = store.jobs, store.accounts
        found = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sorted(set(job_ids))):
                query = (select(jobs, accounts.c.defaults).join(accounts, accounts.c.id == jobs.c.account_id)
                         .where(jobs.c.id.in_(chunk)))
                found.update((row["id"], row) for row in conn.execute(query).mappings())
        return found

    def add_notification(self, row):
        with self.engine.begin() as conn:
            conn.execute(insert(store.notifications).values(**row))

    def notifications_of_job(self, scope, job_id, limit, offset):
        table, jobs = store.notifications, store.jobs
        where = and_(table.c.job_id == job_id, _scope(table, scope))
        with self.engine.connect() as conn:
            exists = conn.execute(select(func.count()).select_from(jobs).where(
                jobs.c.id == job_id, _scope(jobs, scope))).scalar()
            total = conn.execute(select(func.count()).select_from(table).where(where)).scalar()
            rows = conn.execute(select(table).where(where).order_by(table.c.created_at.desc(), table.c.id)
                                .limit(limit).offset(offset)).mappings().all()
        if not exists and not total:
            raise NotFound(f"no job {job_id!r}", {"job": job_id})
        return rows, total

    def purge_notifications(self, before):
        table = store.notifications
        with self.engine.begin() as conn:
            return conn.execute(delete(table).where(table.c.created_at < before)).rowcount

    # -- leases -----------------------------------------------------------------------
    def acquire_lease(self, name, holder, seconds, now):
        leases = store.leases
        expires = now + seconds
        stmt = self.insert(leases).values(name=name, holder=holder, expires_at=expires)
        # Taken when free, lapsed or already ours; a live lease of another holder stays.
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
            where=or_(leases.c.holder == holder, leases.c.expires_at < now))
        with self.engine.begin() as conn:
            conn.execute(stmt)
            return conn.execute(select(leases.c.holder).where(leases.c.name == name)).scalar() == holder

    def release_lease(self, name, holder):
        leases = store.leases
        with self.engine.begin() as conn:
            conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))

    def lease_holder(self, name, now):
        leases = store.leases
        with self.engine.connect() as conn:
            return conn.execute(select(leases.c.holder).where(leases.c.name == name, leases.c.expires_at >= now)).scalar()

    # -- dashboard sessions -----------------------------------------------------------
    def add_session(self, row):
        with self.engine.begin() as conn:
            conn.execute(insert(store.ui_sessions).values(**row))

    def session(self, digest, now):
        s, k, a = store.ui_sessions, store.api_keys, store.accounts
        query = (select(s, k.c.account_id, a.c.name, a.c.plan, a.c.is_admin)
                 .join(k, k.c.id == s.c.key_id).join(a, a.c.id == k.c.account_id)
                 .where(s.c.digest == digest, s.c.expires_at > now, k.c.revoked_at.is_(None)))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def delete_session(self, digest):
        with self.engine.begin() as conn:
            conn.execute(delete(store.ui_sessions).where(store.ui_sessions.c.digest == digest))

    def purge_sessions(self, now):
        s, k = store.ui_sessions, store.api_keys
        revoked = select(k.c.id).where(k.c.revoked_at.is_not(None))
        with self.engine.begin() as conn:
            return conn.execute(delete(s).where(or_(s.c.expires_at <= now, s.c.key_id.in_(revoked)))).rowcount

    # -- rate-limit counts ------------------------------------------------------------
    def incr_limits(self, counts, now):
        table = store.rate_limits
        found = {}
        with self.engine.begin() as conn:
            for key, (amount, expiry) in sorted(counts.items()):  # one lock order for every writer
                stmt = self.insert(table).values(key=key, count=amount, expires_at=now + expiry)
                lapsed = table.c.expires_at <= now
                stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={
                    # A lapsed window starts again with these requests; a live one counts them.
                    "count": case((lapsed, amount), else_=table.c.count + amount),
                    "expires_at": case((lapsed, now + expiry), else_=table.c.expires_at),
                }).returning(table.c.count, table.c.expires_at)
                found[key] = tuple(conn.execute(stmt).one())
            if random.random() < 0.001:  # now and then, forget windows long gone
                conn.execute(delete(table).where(table.c.expires_at < now - 3600))
        return found

    def get_limit(self, key, now):
        table = store.rate_limits
        with self.engine.connect() as conn:
            return conn.execute(select(table.c.count).where(table.c.key == key, table.c.expires_at > now)).scalar() or 0

    def limit_expiry(self, key, now):
        table = store.rate_limits
        with self.engine.connect() as conn:
            return conn.execute(select(table.c.expires_at).where(table.c.key == key)).scalar() or now

    def clear_limits(self, key=None):
        table = store.rate_limits
        with self.engine.begin() as conn:
            query = delete(table) if key is None else delete(table).where(table.c.key == key)
            return conn.execute(query).rowcount

    def ping(self):
        with self.engine.connect() as conn:
            conn.execute(select(1))
