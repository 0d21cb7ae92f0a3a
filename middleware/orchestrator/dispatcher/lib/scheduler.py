"""The scheduling loop: one active scheduler per store, claims that make every run unique.

Every process runs a :class:`Scheduler`; the one holding the ``scheduler`` lease in the store
is active, the others stand by and take over when the lease lapses. The active one, every
tick (``SCHEDULER_POLL_INTERVAL``, 50 ms by default, so a job written by any worker is seen
within that):

1. claims the occurrences falling due within ``SCHEDULER_LOOKAHEAD`` (0.5 s): a run row per
   (job, scheduled time), inserted with ON CONFLICT DO NOTHING on that unique pair, so even
   two schedulers that both believe they are active cannot run one occurrence twice; the
   job's next fire time is moved on in the same transaction (a one-off job leaves the
   schedule). With the local executor an occurrence claimed ahead is inserted straight as
   Running, held by this scheduler, with its planned start, and its action is made ready;
   a thread of its own (the starter) hands it to the executor at that time, with no write at
   all: when a thousand runs fall due in the same second, nothing stands between their time
   and their start. The actual start times are written with the next batch of outcomes;
2. moves the other runs that are due (claimed ahead while the previous run of their job was
   going, handed to Celery, requested through the API, left by a previous scheduler) from
   Submitted to Running and hands them to the executor, or records them Missed when they can
   no longer start within the job's tolerance, or when the previous run of a non-overlapping
   job is still going.

A tick holds the interpreter for a few milliseconds, which the runs claimed ahead would wait
for if it came as they start: the loop lets them reach the pool's threads first (waiting at
most ``MAKE_WAY``), as it keeps the lease's upkeep and the writing of outcomes clear of them.

Catching up, as cron does: when several occurrences of one job are owed at once, because the
scheduler was down (or no scheduler held the lease) or its loop fell behind, only the latest
one still within the tolerance is run (or skipped, or queued, as ``overlap`` says); the
earlier ones within the tolerance are recorded Missed, coalesced into it, and those past the
tolerance Missed as late. This holds whatever ``overlap`` is: ``allow`` lets a run start while
the previous one is going, it does not start ten runs of the downtime at once.

Every query is the data store's (:mod:`dispatcher.lib.datastore`); the scheduler keeps the
loop, the overlap policy and the hand-off to the executor. Finished runs go through the
:class:`~dispatcher.lib.recorder.RunRecorder`, written in batches by the loop.

A run executing is held by this scheduler (its ``holder``), which says it is alive at every
renewal of its lease. The active scheduler fails as ``interrupted`` the runs of holders that
stopped saying so for ``SCHEDULER_LEASE_SECONDS``: at once when it takes over, then at every
lease period. A run claimed ahead whose planned start is still to come never started: it goes
back to Submitted instead, and the active scheduler starts it when due. A scheduler that loses
the lease, or stops, gives back the runs it claimed ahead in the same way; and it starts one
only while its lease is still valid, so that the runs it gave back (or that were taken from it
as silent) are never started twice.
"""
from collections import defaultdict, deque
from datetime import datetime, timezone
import gc
import heapq
import json
import logging
import os
import socket
import threading
import time
import uuid

from dispatcher.errors import TooCostly
from dispatcher.lib.actions import get_action, known_aliases
from dispatcher.lib.actions.method import plugin_methods
from dispatcher.lib.jobs import MISSED, RUNNING, SUBMITTED, iso
from dispatcher.lib.recorder import RunRecorder
from dispatcher.lib.runner import execute, prepare
from dispatcher.lib.timespec import FOLLOW_STEPS, schedule_from_stored

log = logging.getLogger(__name__)

LEASE = "scheduler"
QUEUED = "queued"   # a decision of a remote executor: Submitted, handed to the workers' queue
STUCK = object()    # a next fire time too costly to compute: the job stays, with no next run
QUIET = 0.15        # seconds around the start of runs claimed ahead that the lease's upkeep keeps clear of
RECORD_DELAY = 1.0  # seconds a start or an outcome may wait to be written while runs start around it
MAKE_WAY = 0.05     # seconds at most a tick waits for runs claimed ahead to be handed to their threads
ABOUT_TO_START = 0.01  # seconds before runs claimed ahead start, within which a tick waits for them


class Scheduler:
    """Claims due runs and dispatches them to an executor, while it holds the lease."""

    def __init__(self, datastore, executor, context_factory, settings):
        self.datastore = datastore
        self.executor = executor
        self.context_factory = context_factory   # (run row dict) -> RunContext
        self.poll = float(settings.get("SCHEDULER_POLL_INTERVAL", 0.05))
        self.lease_seconds = float(settings.get("SCHEDULER_LEASE_SECONDS", 5))
        self.batch = int(settings.get("SCHEDULER_BATCH", 500))
        self.workers = int(settings.get("SCHEDULER_WORKERS", 64))
        self.lookahead = float(settings.get("SCHEDULER_LOOKAHEAD", 0.5))
        self.max_missed = int(settings.get("SCHEDULER_MAX_MISSED_RECORDED", 100))
        self.retention = float(settings.get("RUN_RETENTION_DAYS", 30)) * 86400
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.recorder = RunRecorder()
        # A remote executor (Celery) starts runs in workers, which move them to Running; the
        # scheduler only hands them over, and asks the store which jobs have a run going.
        self.remote = bool(getattr(executor, "remote", False))
        self._busy = set()                     # remote: job ids with a run going, this tick
        self._token = None                     # remote: the holder mark of this tick's hand-over
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self._pending = []                     # heap of (scheduled for, run id, run) claimed ahead, Submitted
        self._ahead = []                       # heap of (scheduled for, run id, run, ready) claimed ahead, Running
        self._ahead_changed = threading.Condition()
        self._starter = None
        self._claimed_ahead = []               # this tick's claims ahead, until its transaction commits
        self._queued = set()                   # run ids waiting for the previous run of their job
        self._active = defaultdict(int)        # job id -> runs executing now
        self._waiting = defaultdict(deque)     # job id -> runs queued behind a running one
        self._schedules = {}                   # stored schedule (JSON text) -> Schedule
        self._leader = False
        self._lease_until = 0.0
        self._next_purge = 0.0
        self._next_reap = 0.0
        self._last_start = 0.0                 # when the starter last handed runs to the executor

    # -- lifecycle --------------------------------------------------------------------
    def start(self):
        self._warm_up()
        self._thread = threading.Thread(target=self._loop, name="orchestrator-scheduler", daemon=True)
        self._thread.start()
        if not self.remote:
            self._starter = threading.Thread(target=self._start_ahead, name="orchestrator-starter", daemon=True)
            self._starter.start()

    def stop(self, wait=True):
        if self._stop.is_set():
            return  # stopped already (by its owner, then again at exit)
        self._stop.set()
        self._wake.set()
        with self._ahead_changed:
            self._ahead_changed.notify()
        for thread in (self._thread, self._starter):
            if thread is not None:
                thread.join(timeout=10)
        self._give_back()
        self.executor.shutdown(wait=wait)
        with self.datastore.transaction() as tx:
            self.recorder.write(tx, self.recorder.drain(limit=10**9))
        if self._leader:
            self.datastore.release_lease(LEASE, self.holder)

    def _warm_up(self):
        """Pay the one-time costs before the first run is due, not during it: importing the
        actions, reading the plugin entry points, starting the pool's threads."""
        for alias in known_aliases():
            get_action(alias)
        plugin_methods()
        self.executor.start()
        # What start-up made (modules, the application) lives as long as the process: keep it
        # out of the collector's full passes, which otherwise stop every thread for tens of
        # milliseconds, whenever they come, a burst of due runs included.
        gc.collect()
        gc.freeze()

    def wake(self):
        """Look at the store now rather than at the next tick (a job changed in this process)."""
        self._wake.set()

    @property
    def stopped(self):
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    @property
    def is_leader(self):
        return self._leader

    def _loop(self):
        while not self._stop.is_set():
            # A standby scheduler only asks for the lease now and then: a write every tick
            # from every worker would cost the store more than the jobs do.
            delay = self.lease_seconds / 4
            try:
                if self._hold_lease():
                    delay = self.tick()
            except Exception:  # the loop must outlive a failing tick (e.g. the store restarting)
                log.exception("scheduler tick failed")
                delay = 1.0
            if self._leader:
                self._wake.wait(delay)
                self._wake.clear()
                self._make_way()
            else:
                self._stop.wait(delay)

    # -- the lease --------------------------------------------------------------------
    def _hold_lease(self):
        now = time.time()
        if self._leader and now < self._lease_until - self.lease_seconds / 2:
            return True
        if self._leader and now < self._lease_until - self.lease_seconds / 4 and self._starts_near(now):
            # Renewing, beating and reaping cost the loop a few milliseconds of the interpreter,
            # which the runs starting now would wait for: done a moment later, within the lease.
            return True
        taken = self.datastore.acquire_lease(LEASE, self.holder, self.lease_seconds, now)
        became = taken and not self._leader
        self._leader, self._lease_until = taken, now + self.lease_seconds if taken else 0.0
        if not taken:
            self._pending.clear()  # claimed ahead but not ours to start: the new holder finds them
            self._give_back()
            return False
        self.datastore.heartbeat(self.holder, now)  # the runs this scheduler holds are alive
        if became:
            log.info("scheduler %s is now active", self.holder)
        if became or now >= self._next_reap:
            self._reap(now)
        return True

    def _next_start(self):
        """When the first run claimed ahead and not started yet is to start, or None."""
        with self._ahead_changed:
            return self._ahead[0][0] if self._ahead else None

    def _starts_near(self, now):
        """Whether runs claimed ahead start within ``QUIET`` seconds of ``now``, either way."""
        upcoming = self._next_start()
        return (upcoming is not None and upcoming - now < QUIET) or now - self._last_start < QUIET

    def _make_way(self):
        """Wait, at most ``MAKE_WAY``, while runs claimed ahead are about to start or still
        being taken by the pool's threads: a tick's store work holds the interpreter for
        milliseconds, which the last runs of a burst would wait for. The tick comes after."""
        depth = getattr(self.executor, "queue_depth", None)
        if depth is None:
            return
        deadline = time.time() + MAKE_WAY
        while not self._stop.is_set():
            now = time.time()
            if now >= deadline:
                return
            upcoming = self._next_start()
            about_to_start = upcoming is not None and upcoming - now < ABOUT_TO_START
            if not about_to_start and not (now - self._last_start < MAKE_WAY and depth()):
                return
            self._stop.wait(0.001)

    def _reap(self, now):
        """Fail the runs of holders (schedulers, workers) gone silent for a lease period."""
        self._next_reap = now + self.lease_seconds
        stale = self.datastore.reap_abandoned(now, grace=self.lease_seconds, keep=self.holder)
        if stale:
            log.warning("marked %d interrupted runs failed", len(stale))
        lost = self.datastore.expire_queued(now)
        if lost:
            log.warning("marked %d runs missed: handed to the workers, none started them in time", len(lost))

    # -- one tick ---------------------------------------------------------------------
    def tick(self):
        """Start what is due, then claim what falls due within the lookahead (recording
        finished runs on the way); return seconds until the next look.

        Two transactions, in this order, so that runs falling due never wait behind the
        claiming of the next second's occurrences."""
        now = time.time()
        with self.datastore.transaction() as tx:
            if self.recorder.waited() >= RECORD_DELAY or not self._starts_near(now):
                # Writing a batch of outcomes holds the interpreter for milliseconds, which the
                # runs starting now would wait for: written a moment later.
                self.recorder.write(tx, self.recorder.drain())
            start = self._dispatch(tx, now)
        self._submit(start)
        now = time.time()
        self._claimed_ahead = []
        try:
            with self.datastore.transaction() as tx:
                start = self._claim_due(tx, now)
                if now >= self._next_purge:
                    tx.purge_runs(now - self.retention)
                    self._next_purge = now + 60
                upcoming = tx.next_fire_time()
        except Exception:
            for _, _, run, _ in self._claimed_ahead:  # not claimed after all
                self._release(run["job_id"])
            raise
        self._hand_to_starter(self._claimed_ahead)
        self._submit(start)
        wake = [time.time() + self.poll]
        if upcoming is not None:
            wake.append(upcoming - self.lookahead)
        if self._pending:
            wake.append(self._pending[0][0])
        return max(0.0, min(wake) - time.time())

    def _submit(self, runs):
        if self.remote:
            self.executor.send_many(runs)
            return
        self.executor.submit_many([(self._execute, (run,)) for run in runs])

    # -- runs claimed ahead -----------------------------------------------------------
    def _start_ahead(self):
        """The starter: hands each run claimed ahead to the executor at its planned time."""
        while True:
            with self._ahead_changed:
                while not self._stop.is_set():
                    now = time.time()
                    if self._ahead and self._ahead[0][0] <= now and now < self._lease_until:
                        break
                    # Past the lease (not renewed yet, or lost): wait for the loop to decide.
                    delay = self.poll if not self._ahead or now >= self._lease_until else self._ahead[0][0] - now
                    self._ahead_changed.wait(delay)
                if self._stop.is_set():
                    return
                # Under the lock, the lease checked just now: a run given back (the lease lost,
                # see _give_back) is never started here as well.
                due = []
                while self._ahead and self._ahead[0][0] <= now:
                    due.append(heapq.heappop(self._ahead))
                calls = []
                for _, _, run, ready in due:
                    if now > run["deadline"]:  # the process stalled past the tolerance
                        self.recorder.finish(run, MISSED, now, error=(
                            f"missed: not started within the tolerance ({now - run['scheduled_for']:.3f} s late, "
                            f"tolerance {run['deadline'] - run['scheduled_for']:g} s)"))
                        self._release(run["job_id"])
                    else:
                        calls.append((self._execute_ready, (run, ready)))
                self.executor.submit_many(calls)
                self._last_start = now

    def _give_back(self):
        """Give the runs claimed ahead and not started back to the store, as Submitted."""
        with self._ahead_changed:
            ahead, self._ahead = self._ahead, []
        if not ahead:
            return
        for _, _, run, _ in ahead:
            self._release(run["job_id"])
        try:
            self.datastore.release_runs(self.holder, [entry[1] for entry in ahead])
        except Exception:  # the store is down: they go back to Submitted when this holder is reaped
            log.exception("could not give back %d runs claimed ahead", len(ahead))

    def _schedule(self, job):
        """The job's :class:`Schedule`, read once per stored form: jobs written together (a
        burst of one-offs for the same second, a group on the same rule) share one."""
        stored = job["schedule"]
        found = self._schedules.get(stored)
        if found is None:
            if len(self._schedules) >= 10_000:
                self._schedules.clear()  # forms no due job has any more: start afresh
            found = self._schedules[stored] = schedule_from_stored(json.loads(stored))
        return found

    def _claim_due(self, tx, now):
        """Claim the due occurrences of due jobs; returns the claimed runs to execute.

        A claimed occurrence that can start is inserted straight as Running (one write per run
        on the hot path); a late one as Missed; one that must wait for its job's previous run
        as Submitted, for :meth:`_dispatch`. Of several occurrences of a job owed at once (the
        scheduler was down or behind) only the latest is decided so; the others are Missed,
        coalesced into it."""
        horizon = now + self.lookahead
        due = tx.acquire_due_jobs(horizon, self.batch)
        if not due:
            return []
        if self.remote:
            self._token = f"{QUEUED}:{uuid.uuid4().hex}"
            self._busy = tx.busy_jobs([job["id"] for job in due if job["overlap"] != "allow"])
        rows, moves, drops = [], [], []
        with self._lock:
            for job in due:
                schedule = self._schedule(job)
                tolerance = schedule.tolerance
                occurrences, nxt = self._occurrences(schedule, job["next_run_at"], now, horizon, tolerance)
                if schedule.max_runs is not None:  # the job ends with its last allowed occurrence
                    left = schedule.max_runs - job["run_count"]
                    if len(occurrences) >= left:
                        occurrences, nxt = occurrences[:max(left, 0)], None
                owed = [when for when in occurrences if when <= now and when + tolerance >= now]
                coalesced = set(owed[:-1])     # owed at once: the scheduler was down or behind
                for when in occurrences:
                    if when > now:   # claimed ahead: started by the starter, or _dispatch, when due
                        status, error = self._decide_ahead(job["id"], job["overlap"]), None
                    elif when in coalesced:
                        status, error = MISSED, (f"missed: the scheduler was down or behind; coalesced into the "
                                                 f"occurrence of {iso(owed[-1])}")
                    else:            # the latest owed (run, skipped or waiting), or a late one
                        status, error = self._decide(job["id"], job["overlap"], when + tolerance < now,
                                                     now - when, tolerance)
                    rows.append({"id": str(uuid.uuid4()), "job_id": job["id"], "account_id": job["account_id"],
                                 "scheduled_for": when, "deadline": when + tolerance, "action": job["action"],
                                 "options": job["options"],
                                 "overlap": job["overlap"], "status": status, "submitted_at": now,
                                 "started_at": max(now, when) if status == RUNNING else None,
                                 "finished_at": now if status == MISSED else None, "error": error,
                                 "holder": self.holder if status == RUNNING else None})
                    if status == QUEUED:
                        rows[-1].update(status=SUBMITTED, holder=self._token)
                if nxt is None:
                    drops.append({"jid": job["id"], "old": job["next_run_at"]})
                elif nxt is STUCK:
                    log.warning("job %s stops: its next fire time takes too much work to compute; it fires "
                                "again once its schedule is changed", job["id"])
                    moves.append({"jid": job["id"], "old": job["next_run_at"], "nxt": None,
                                  "claimed": len(occurrences)})
                else:
                    moves.append({"jid": job["id"], "old": job["next_run_at"], "nxt": nxt,
                                  "claimed": len(occurrences)})
        start, ahead = [], []
        claimed = tx.add_runs(rows, now)
        for row in rows:
            if row["id"] in claimed:
                if row["status"] == RUNNING and row["scheduled_for"] > now:
                    ahead.append((row["scheduled_for"], row["id"], row,
                                  prepare(row, self.context_factory, record_events=self._recording(row))))
                elif row["status"] == RUNNING or (self.remote and row["holder"] == self._token):
                    start.append(row)
                elif row["scheduled_for"] > now:
                    heapq.heappush(self._pending, (row["scheduled_for"], row["id"], row))
            elif row["status"] == RUNNING and not self.remote:
                self._release(row["job_id"])  # another scheduler claimed this occurrence
        tx.move_jobs(moves)
        tx.drop_jobs(drops)
        self._claimed_ahead = ahead   # handed to the starter once the claim has committed
        return start

    def _hand_to_starter(self, ahead):
        if not ahead:
            return
        with self._ahead_changed:
            for entry in ahead:
                heapq.heappush(self._ahead, entry)
            self._ahead_changed.notify()

    def _decide_ahead(self, job_id, overlap):
        """Running (claimed ahead, counted as running) for an occurrence the local executor can
        start at its time whatever happens until then; Submitted, decided when it falls due,
        when the job has a run going that it may have to wait for or skip. Under ``_lock``."""
        if self.remote or self._starter is None or (self._active[job_id] > 0 and overlap != "allow"):
            return SUBMITTED
        self._active[job_id] += 1
        return RUNNING

    def _decide(self, job_id, overlap, late, lateness, tolerance):
        """(status, error) for an occurrence about to start; counts it as running. Under ``_lock``."""
        if late:
            return MISSED, f"missed: not started within the tolerance ({lateness:.3f} s late, tolerance {tolerance:g} s)"
        if self.remote:
            if job_id in self._busy and overlap != "allow":
                if overlap == "wait":
                    return SUBMITTED, None  # decided again at the next tick
                return MISSED, "missed: the previous run of this job is still running"
            self._busy.add(job_id)
            return QUEUED, None
        if self._active[job_id] > 0 and overlap != "allow":
            if overlap == "wait":
                return SUBMITTED, None
            return MISSED, "missed: the previous run of this job is still running"
        self._active[job_id] += 1
        return RUNNING, None

    def _release(self, job_id):
        with self._lock:
            self._active[job_id] -= 1
            if self._active[job_id] <= 0:
                self._active.pop(job_id, None)

    def _occurrences(self, schedule, first, now, horizon, tolerance):
        """Occurrences from ``first`` up to ``horizon`` and the one after them: None when there
        are no more, STUCK when it takes more work to find than the schedule may cost."""
        found, when = [], first
        try:
            while when is not None and when <= horizon:
                if len(found) >= self.max_missed:
                    # Down or paused for long: record what we kept, skip to what can still start.
                    when = _next(schedule, now - tolerance)
                    while when is not None and when <= horizon:
                        found.append(when)
                        when = _next(schedule, when)
                    break
                found.append(when)
                when = _next(schedule, when)
        except TooCostly:    # refused at creation; a rule whose times grow rarer may get here later
            return found, STUCK
        return found, when

    def _dispatch(self, tx, now):
        """Move the other Submitted runs (run now, waiting, left by a previous scheduler) to
        Running or Missed.

        The conditional UPDATE is the second half of the exactly-once guarantee: a run is
        executed only by the scheduler whose UPDATE moved it out of Submitted (recognised by
        this tick's own timestamp). Returns the runs to execute once the tick has committed."""
        due = []
        while self._pending and self._pending[0][0] <= now:
            due.append(heapq.heappop(self._pending)[2])
        ahead = {entry[1] for entry in self._pending}
        submitted = tx.submitted_runs(now, self.batch)
        seen = {run["id"] for run in due}
        due += [run for run in submitted if run["id"] not in seen and run["id"] not in ahead]
        if self.remote and due:
            self._token = f"{QUEUED}:{uuid.uuid4().hex}"
            self._busy = tx.busy_jobs({run["job_id"] for run in due if run["overlap"] != "allow"})
        decisions, handed = [], []
        with self._lock:
            for run in due:
                if run["id"] in self._queued:
                    continue
                status, message = self._decide(run["job_id"], run["overlap"], now > run["deadline"],
                                               now - run["scheduled_for"], run["deadline"] - run["scheduled_for"])
                if status == QUEUED:
                    handed.append(dict(run))
                elif status == SUBMITTED:  # waits for the job's running run
                    if not self.remote:
                        self._queued.add(run["id"])
                        self._waiting[run["job_id"]].append(dict(run))
                else:
                    decisions.append((dict(run), status, message))
        if handed:
            queued = tx.queue_runs(handed, self._token)
            return [run for run in handed if run["id"] in queued] + self._transition(tx, decisions, now)
        return self._transition(tx, decisions, now)

    def _transition(self, tx, decisions, now):
        """Record ``decisions``; returns the runs this scheduler is to start."""
        if not decisions:
            return []
        moved = tx.transition_runs(decisions, now, holder=self.holder)
        start = []
        for run, status, _ in decisions:
            if status == RUNNING:
                if run["id"] in moved:
                    start.append(run)
                else:  # another scheduler took it
                    self._release(run["job_id"])
        return start

    def _start_waiting(self, run):
        """Start a run that waited for the previous run of its job."""
        moved = self.datastore.start_run(run["id"], time.time(), "started after the previous run finished",
                                         holder=self.holder)
        self._queued.discard(run["id"])
        return moved is not None

    def _execute_ready(self, run, ready):
        """Execute a run claimed ahead, its action made ready; its start is written later."""
        self.recorder.started(run, time.time())
        self._finish(run, *ready())

    def _execute(self, run):
        self._finish(run, *execute(run, self.context_factory, record_events=self._recording(run)))

    def _recording(self, run):
        """Records the events of ``run``'s attempts as they happen."""
        return lambda events: self.datastore.record_events(run, events)

    def _finish(self, run, status, result, error):
        self.recorder.finish(run, status, time.time(), result=result, error=error)
        follower = None
        with self._lock:
            queued = self._waiting.get(run["job_id"])
            if queued:
                follower = queued.popleft()
            else:
                self._active[run["job_id"]] -= 1
                if self._active[run["job_id"]] <= 0:
                    self._active.pop(run["job_id"], None)
                self._waiting.pop(run["job_id"], None)
        if follower is not None:
            if self._start_waiting(follower):
                self._execute(follower)
            else:
                self._release(run["job_id"])


def _next(schedule, after):
    when = schedule.next_after(datetime.fromtimestamp(after, timezone.utc), steps=FOLLOW_STEPS)
    return None if when is None else when.timestamp()
