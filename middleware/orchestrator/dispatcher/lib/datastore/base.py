"""The data store: every query of jobs, runs, events, leases and rate-limit counts.

In the spirit of APScheduler 4's ``DataStore``: the scheduler, the API's services and the
workers say *what* they need (acquire the due jobs, record claimed occurrences, move runs
through their states, extend and release a lease, reap abandoned runs) and the store says how
in its engine's dialect. :class:`~dispatcher.lib.datastore.sqlalchemy.SQLAlchemyDataStore`
implements it over SQLite and PostgreSQL; one contract suite (``tests/test_datastore.py``) runs
over both.

Rows cross this boundary as plain dicts with the columns of :mod:`dispatcher.lib.store`.
Methods scoped to a caller take ``scope``: an object with ``account_id`` and ``is_admin``
(the administrator sees every account's rows, others their own).

Several steps that must commit together run in one :meth:`DataStore.transaction`, which
yields a :class:`Transaction` with the scheduling steps bound to one database transaction.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass


def event(run, status, at, message=None):
    """One transition of ``run`` (a dict with its id, job, account and scheduled time)."""
    return {"run_id": run["id"], "job_id": run["job_id"], "account_id": run["account_id"],
            "scheduled_for": run["scheduled_for"], "status": status, "at": at, "message": message,
            "action": run.get("action")}


@dataclass(frozen=True)
class RunFilter:
    """What ``GET /runs`` narrows the list to; None means any."""

    status: str | None = None
    job_id: str | None = None
    since: float | None = None      # scheduled at or after (epoch seconds)
    until: float | None = None      # scheduled before


class Transaction(ABC):
    """The scheduling steps, bound to one database transaction."""

    @abstractmethod
    def acquire_due_jobs(self, horizon, limit):
        """Jobs that are not paused and fire at or before ``horizon``, soonest first; on
        PostgreSQL locked for this transaction and skipped by other schedulers."""

    @abstractmethod
    def add_runs(self, runs, now):
        """Insert claimed occurrences; a (job, scheduled time) already claimed is skipped, not an
        error. Records each inserted run's events; returns the ids inserted.

        A run inserted Running with a ``started_at`` still ahead of ``now`` is claimed ahead by
        its holder, which starts it at that planned time: its Running event is recorded by
        :meth:`record_starts` once it has actually started."""

    @abstractmethod
    def move_jobs(self, moves):
        """``[{"jid", "old", "nxt", "claimed"}]``: set a job's next fire time, if it still is
        ``old``, and add the occurrences just claimed to its count."""

    @abstractmethod
    def drop_jobs(self, drops):
        """``[{"jid", "old"}]``: remove a job that has no occurrence left, if still at ``old``."""

    @abstractmethod
    def submitted_runs(self, now, limit):
        """Runs Submitted and not yet handed to a queue whose scheduled time has come, oldest
        first."""

    @abstractmethod
    def queue_runs(self, runs, token):
        """Mark Submitted runs handed to the workers' queue (``holder`` = ``token``, unique to
        this call), unless already handed over; returns the ids marked."""

    @abstractmethod
    def busy_jobs(self, job_ids):
        """Which of ``job_ids`` have a run going: Running, or Submitted and handed to a queue."""

    @abstractmethod
    def transition_runs(self, decisions, now, holder=None):
        """``[(run, status, message)]``: move each run out of Submitted (to Running or Missed),
        only if it is still Submitted, the Running ones held by ``holder``; records the
        events; returns the ids moved."""

    @abstractmethod
    def record_starts(self, starts):
        """``[(run, at)]``: runs claimed ahead began at ``at``: set their start, if they are still
        Running, and record their Running events."""

    @abstractmethod
    def finish_runs(self, outcomes):
        """``[(run, status, at, result, error)]``: record finished runs and their events."""

    @abstractmethod
    def add_events(self, events):
        """Record events of runs (made by :func:`event`), announced once the transaction commits."""

    @abstractmethod
    def next_fire_time(self):
        """When the soonest job that is not paused fires next (None: none does)."""

    @abstractmethod
    def purge_runs(self, before):
        """Delete runs finished before ``before`` and their events."""


class DataStore(ABC):
    """Persistence of jobs, runs, events, leases and rate-limit counts.

    Every transition of a run it records is announced, once committed, to the listeners given
    to :meth:`subscribe`: ``listener(events)``, each event a dict with ``run_id``, ``job_id``,
    ``account_id``, ``scheduled_for``, ``status``, ``at`` and ``message``, in the order they
    happened: a process's commits are announced in the order they were made, whichever of its
    threads made them. Listeners are called on the committing thread and must not block, nor
    write to the store: another thread may be waiting for them while holding a write lock.
    """

    @abstractmethod
    def subscribe(self, listener):
        """Call ``listener(events)`` after each commit that recorded transitions of runs."""

    # -- transactions -----------------------------------------------------------------
    @abstractmethod
    def transaction(self):
        """A context manager yielding a :class:`Transaction`, committed on a clean exit."""

    # -- jobs -------------------------------------------------------------------------
    @abstractmethod
    def count_jobs(self, account_id, excluding_groups=()):
        """How many jobs the account holds (leaving out those of ``excluding_groups``)."""

    @abstractmethod
    def add_job(self, row, check_quota):
        """Insert a job; ``check_quota(jobs held)`` runs while the account is locked, so two
        concurrent requests cannot both pass it."""

    @abstractmethod
    def get_job(self, scope, job_id):
        """The job, or :class:`~dispatcher.errors.NotFound` (another account's job too)."""

    @abstractmethod
    def list_jobs(self, scope, group=None):
        """The jobs in the order they were made, optionally of one group."""

    @abstractmethod
    def update_job(self, scope, job_id, changes):
        """Apply ``changes(row) -> values`` to the job in one transaction; returns the new row."""

    @abstractmethod
    def delete_job(self, scope, job_id):
        """Delete the job (its runs stay); :class:`NotFound` if there is none."""

    @abstractmethod
    def groups(self, scope):
        """``[(group, jobs)]`` in name order."""

    @abstractmethod
    def replace_group(self, account_id, group, target, rows, replace, check_quota):
        """Replace the account's jobs of ``group`` (and of ``target``) by ``rows``, all or
        nothing; a ``target`` that holds jobs is a :class:`Conflict` unless ``replace``."""

    @abstractmethod
    def delete_group(self, scope, group):
        """Delete the group's jobs; returns how many (0: no such group)."""

    # -- runs -------------------------------------------------------------------------
    @abstractmethod
    def submit_run(self, scope, job_id, make_run, message):
        """Insert a Submitted run made by ``make_run(job row)``, with its first event."""

    @abstractmethod
    def add_run(self, run, message):
        """Insert a Submitted run that belongs to no job, with its first event."""

    @abstractmethod
    def get_run(self, scope, run_id):
        """``(run, events)``, or :class:`NotFound`."""

    @abstractmethod
    def list_runs(self, scope, filters, limit, offset):
        """``(runs, total)`` matching ``filters`` (a :class:`RunFilter`), newest first."""

    @abstractmethod
    def run_totals(self, scope, filters):
        """What the runs matching ``filters`` add up to: ``{"runs", "by_status": {status:
        count}, "first_started", "last_started", "last_finished"}`` (times None when none)."""

    @abstractmethod
    def runs_of_job(self, scope, job_id, limit, offset):
        """``(runs, total)`` of one job, newest first; :class:`NotFound` when neither the job
        nor any run of it is the caller's."""

    @abstractmethod
    def start_run(self, run_id, now, message=None, holder=None, in_time=False):
        """Move one run from Submitted to Running, only if it still is Submitted (and, with
        ``in_time``, its deadline has not passed); ``holder`` names who runs it. Returns the
        run, or None when someone else moved it first (or it is late)."""

    def record_events(self, run, events):
        """Record events of one run as they happen: ``[(status, at, message)]``."""
        with self.transaction() as tx:
            tx.add_events([event(run, status, at, message) for status, at, message in events])

    @abstractmethod
    def get_run_row(self, run_id):
        """The run, whoever's it is (None: no such run): for the workers."""

    @abstractmethod
    def expire_queued(self, now):
        """Record Missed the runs handed to a queue that no worker started before their
        deadline (a message lost with the scheduler that sent it); returns the ids."""

    @abstractmethod
    def release_runs(self, holder, run_ids):
        """Give back runs ``holder`` claimed ahead as Running and did not start (it lost the
        lease, or stops): they are Submitted again, for the active scheduler to start when
        due. Returns the ids given back."""

    @abstractmethod
    def heartbeat(self, holder, now):
        """Say that ``holder`` (a worker) is alive and still running its runs."""

    @abstractmethod
    def reap_abandoned(self, now, grace, holders=None, keep=None):
        """Record Failed ("interrupted") the Running runs whose holder is gone: with
        ``holders``, those held by one of them; otherwise those whose holder's last heartbeat
        is older than ``grace`` seconds, but never those of ``keep`` (the caller). Returns
        the ids.

        A run of such a holder claimed ahead, whose planned start is still after ``now``,
        never started: it is Submitted again (and not returned), for the active scheduler to
        start when due."""

    # -- failures in a row and notifications ------------------------------------------
    @abstractmethod
    def count_failures(self, failed, limit_of, reason_of, now):
        """``{job_id: n}``: add ``n`` Failed runs to each job's count of failures in a row, with
        one conditional UPDATE per job in one transaction. A job that is not paused and whose
        count reaches ``limit_of(job)`` (its row, with its account's ``defaults``) is paused,
        ``paused_reason`` = ``reason_of(limit)``. Returns ``{job_id: (failures, paused now)}``
        for the jobs that still exist."""

    @abstractmethod
    def reset_failures(self, job_ids):
        """A run of each job Completed: set its count of failures in a row to 0. Returns the ids
        whose count was above 0 (each to one caller only, whoever else resets it at once)."""

    @abstractmethod
    def notice_jobs(self, job_ids):
        """``{job_id: job row with its account's defaults}`` of the jobs that still exist."""

    @abstractmethod
    def add_notification(self, row):
        """Record one delivery of a notification (a row of ``notifications``)."""

    @abstractmethod
    def notifications_of_job(self, scope, job_id, limit, offset):
        """``(notifications, total)`` of one job, newest first; :class:`NotFound` when neither
        the job nor any notification of it is the caller's."""

    @abstractmethod
    def purge_notifications(self, before):
        """Delete the notifications recorded before ``before``; returns how many."""

    # -- leases -----------------------------------------------------------------------
    @abstractmethod
    def acquire_lease(self, name, holder, seconds, now):
        """Take or extend the lease ``name`` for ``seconds``; True when ``holder`` holds it."""

    @abstractmethod
    def release_lease(self, name, holder):
        """Give the lease up, if ``holder`` holds it."""

    @abstractmethod
    def lease_holder(self, name, now):
        """Who holds the lease now (None: nobody)."""

    # -- dashboard sessions -----------------------------------------------------------
    @abstractmethod
    def add_session(self, row):
        """Record a signed-in session of the dashboard (a row of ``ui_sessions``)."""

    @abstractmethod
    def session(self, digest, now):
        """The live session of ``digest`` with who it signs in: its row plus the key's
        ``account_id`` and the account's ``name``, ``plan`` and ``is_admin``. None when there
        is none, it expired, or its key is revoked."""

    @abstractmethod
    def delete_session(self, digest):
        """End the session (signing out); nothing happens when there is none."""

    @abstractmethod
    def purge_sessions(self, now):
        """Delete the sessions that expired or whose key is revoked; returns how many."""

    # -- rate-limit counts ------------------------------------------------------------
    @abstractmethod
    def incr_limits(self, counts, now):
        """``{key: (amount, expiry seconds)}``: add to fixed-window counts (a lapsed window
        starts again); returns ``{key: (count, window's end)}``."""

    @abstractmethod
    def get_limit(self, key, now):
        """The live count of ``key`` (0 when its window lapsed)."""

    @abstractmethod
    def limit_expiry(self, key, now):
        """When the window of ``key`` ends (``now`` when there is none)."""

    @abstractmethod
    def clear_limits(self, key=None):
        """Forget one key's count, or every count; returns how many were forgotten."""

    @abstractmethod
    def ping(self):
        """Raise unless the store answers."""
