"""Notifications and auto-disabling: a data store listener, and the threads behind it.

Every process subscribes a :class:`Notifier` to its data store, so the process that commits a
run's transition is the one that acts on it: the scheduler for the runs it executes with the
local executor, each Celery worker for its own. For each finished run it:

* **counts**: a Failed run adds one to its job's ``failures`` (failed runs in a row), with a
  conditional UPDATE in the store; at ``disable_after`` (the job's, else its account's
  default, else ``DISABLE_AFTER``) the job is paused with ``paused_reason`` and a ``disabled``
  notice goes out. A Completed run sets the count back to 0, and is a ``recovery`` when the
  count was above 0. Missed runs neither count nor reset: the action did not run, so they say
  nothing of whether it works;
* **notifies**: the notices the job's ``notify`` (else its account's) asks for in ``on`` go to
  its webhook and to each of its e-mail addresses, each target a delivery of its own, retried
  and recorded in the ``notifications`` table (``GET /api/v1/jobs/{id}/notifications``).

Guarantees:

* **Never in the scheduler's way.** :meth:`Notifier.enqueue` runs on the committing thread and
  only appends to a buffer; one thread counts (in the store) and decides what to send;
  ``NOTIFY_WORKERS`` threads deliver, so one slow webhook does not hold up the others.
* **Bounded.** At most ``NOTIFY_BUFFER`` transitions wait to be counted, and as many
  deliveries wait to be sent; beyond that the oldest transitions (the newest deliveries) are
  dropped, counted in :attr:`Notifier.dropped` and logged once per burst.
* **Retried, bounded.** A delivery makes up to ``NOTIFY_ATTEMPTS`` attempts, waiting
  ``NOTIFY_BACKOFF`` seconds doubling (with jitter, at most 60 s) in between; an answer that
  another attempt cannot change (a 4xx, an address refused, a mailbox that does not exist)
  ends it at once. Either way one row records it: ``delivered`` or ``failed``, with the
  attempts made and the last error.
* **Lost at exit, said so.** What is still waiting when the process stops gets
  ``STOP_SECONDS``; what is left is counted in the log.
"""
from collections import deque
from dataclasses import dataclass, field
import logging
import os
import queue
import random
import threading
import time
import uuid

from dispatcher import settings as defaults
from dispatcher.config import number_setting
from dispatcher.errors import ValidationFailed
from dispatcher.lib.channels import get_channel
from dispatcher.lib.channels.base import DeliveryFailed
from dispatcher.lib.channels.email import smtp_server
from dispatcher.lib.channels.webhook import refusal
from dispatcher.lib.jobs import COMPLETED, FAILED, MISSED
from dispatcher.lib.notices import (Delivery, Notice, disable_after_of, disabled_reason, fold, message,
                                    notify_of)
from dispatcher.lib.secrets import registry as secrets, shown_url

log = logging.getLogger(__name__)

BATCH = 1000                # transitions counted together
STOP_SECONDS = 2.0
MAX_BACKOFF = 60.0
PURGE_EVERY = 3600.0        # seconds between two purges of old notification records
DEFAULT_ON = ("failure", "disabled")


# -- settings and validation ----------------------------------------------------------------

def from_settings(config):
    """The notifier the settings ask for (not started: it starts with the first finished run);
    :class:`SettingsError` naming a setting that is unusable."""
    return Notifier(
        smtp=smtp_server(config), settings=config,
        disable_after=number_setting(config, "DISABLE_AFTER", 1, 1_000_000, whole=True),
        attempts=number_setting(config, "NOTIFY_ATTEMPTS", 1, 20, whole=True),
        backoff=number_setting(config, "NOTIFY_BACKOFF", 0, MAX_BACKOFF),
        buffer=number_setting(config, "NOTIFY_BUFFER", 1, 10_000_000, whole=True),
        workers=number_setting(config, "NOTIFY_WORKERS", 1, 64, whole=True),
        retention=float(config.get("RUN_RETENTION_DAYS", defaults.RUN_RETENTION_DAYS)) * 86400)


def check_notify(notify, settings, where="notify"):
    """Raise :class:`ValidationFailed` naming the field (``notify.webhook.url``,
    ``notify.email``) when ``notify`` cannot be delivered: a webhook URL the network policy
    refuses, e-mail while ``SMTP_URL`` is not set. Registers the webhook's secret."""
    if not notify:
        return
    errors = {}
    webhook = notify.get("webhook")
    if webhook:
        secrets.add(webhook.get("secret"))
        reason = refusal(webhook["url"], settings)
        if reason:
            errors[f"{where}.webhook.url"] = [reason]
    if notify.get("email") and not settings.get("SMTP_URL"):
        errors[f"{where}.email"] = ["e-mail notifications need SMTP_URL, which is not set on this service"]
    if errors:
        key = sorted(errors)[0]
        raise ValidationFailed(f"{key}: {errors[key][0]}", errors)


# -- what goes out ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Outbound:
    """One notice to one target."""

    id: str
    kind: Notice
    channel: str
    target: object = field(repr=False)   # the webhook (with its secret) or an address
    shown: str                           # the target as recorded: never the secret
    body: dict
    job_id: str
    account_id: str
    run_id: str
    created_at: float = field(default_factory=time.time)


def outbound(kind, job, event, notify):
    """The deliveries of one notice, by ``notify`` (one per target)."""
    body = message(kind, job, event)
    found = []
    webhook = notify.get("webhook")
    if webhook:
        secrets.add(webhook.get("secret"))  # a process that did not validate the job knows it now
        found.append(("webhook", webhook, shown_url(webhook["url"])))
    found += [("email", address, address) for address in notify.get("email") or ()]
    return [Outbound(uuid.uuid4().hex, kind, channel, target, shown, body, job["id"], job["account_id"],
                     event["run_id"]) for channel, target, shown in found]


# -- the notifier: the edge ---------------------------------------------------------------------

class Notifier:
    """Counts failed runs, pauses jobs at their limit, and delivers notices, off the committing
    thread. ``dropped`` counts transitions and deliveries given up on for want of room; ``lost``
    transitions that could not be counted (the store failed)."""

    def __init__(self, smtp=None, settings=None, disable_after=defaults.DISABLE_AFTER,
                 attempts=defaults.NOTIFY_ATTEMPTS, backoff=defaults.NOTIFY_BACKOFF, buffer=defaults.NOTIFY_BUFFER,
                 workers=defaults.NOTIFY_WORKERS, retention=30 * 86400):
        settings = settings or {}
        self.disable_after = disable_after
        self.attempts = attempts
        self.backoff = backoff
        self.limit = buffer
        self.workers = workers
        self.retention = retention
        self.datastore = None
        self.channels = {"webhook": get_channel("webhook")(settings)}
        if smtp is not None:
            self.channels["email"] = get_channel("email")(smtp, settings.get("NOTIFY_TIMEOUT",
                                                                             defaults.NOTIFY_TIMEOUT))
        self.dropped = self.lost = self.delivered = self.failed = 0
        self._waiting = deque()          # transitions to count, oldest first
        self._outbox = queue.SimpleQueue()
        self._sending = 0                # deliveries queued or being sent
        self._burst = 0
        self._cond = threading.Condition()
        self._stopped = threading.Event()
        self._stopping = False
        self._deadline = None
        self._pid = None
        self._thread = None
        self._next_purge = 0.0

    def attach(self, datastore):
        """Listen to ``datastore``'s committed transitions (and count and record in it)."""
        self.datastore = datastore
        datastore.subscribe(self.enqueue)

    # -- any thread -------------------------------------------------------------------------
    def enqueue(self, events):
        """The data store's listener: buffer the finished runs among ``events``, never blocking."""
        finished = [event for event in events if event["status"] in (COMPLETED, FAILED, MISSED)]
        if not finished:
            return
        with self._cond:
            if self._stopping and self._thread is None:
                return
            if self._pid != os.getpid():     # the first finished run here, or a forked child
                self._start()
            self._waiting.extend(finished)
            excess = len(self._waiting) - self.limit
            for _ in range(max(0, excess)):
                self._waiting.popleft()
            started = self._dropping(excess)
            self._cond.notify()
        if started:
            log.warning("notifications: %d finished runs are waiting to be counted, the most NOTIFY_BUFFER lets "
                        "us keep; dropping the oldest", self.limit)

    def _dropping(self, excess):
        """Count ``excess`` drops (with the lock held); True when they start a burst."""
        if excess <= 0:
            return False
        self.dropped += excess
        self._burst += excess
        return self._burst == excess

    def _start(self):
        self._pid = os.getpid()
        self._waiting.clear()
        self._thread = threading.Thread(target=self._run, name="orchestrator-notify", daemon=True)
        self._thread.start()
        for n in range(self.workers):
            threading.Thread(target=self._send_loop, name=f"orchestrator-notify-send-{n}", daemon=True).start()

    def stop(self, timeout=STOP_SECONDS):
        """Count what is buffered and send what is due for at most ``timeout`` seconds."""
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify_all()
        self._stopped.set()   # back-offs end: no more retries
        if self._thread is None:
            return
        self._thread.join(timeout + 1)
        for _ in range(self.workers):
            self._outbox.put(None)    # each sending thread ends once what was queued before is sent
        with self._cond:
            while self._sending and time.monotonic() < self._deadline:
                self._cond.wait(max(0.0, self._deadline - time.monotonic()))
            left, sending = len(self._waiting), self._sending
        if left or sending:
            log.warning("notifications: %d finished runs were not counted and %d deliveries not sent before the "
                        "process stopped", left, sending)

    # -- the counting thread ------------------------------------------------------------------
    def _run(self):
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if not self._waiting or (self._stopping and time.monotonic() >= self._deadline):
                    return
                batch = [self._waiting.popleft() for _ in range(min(BATCH, len(self._waiting)))]
                burst = self._burst if not self._waiting else 0
                if burst:
                    self._burst = 0
            if burst:
                log.warning("notifications: %d finished runs were dropped in all, not counted nor notified "
                            "(%d since start)", burst, self.dropped)
            try:
                self.process(batch)
            except Exception:  # the store failing: these are lost, the next batch may do better
                self.lost += len(batch)
                log.exception("notifications: %d finished runs could not be counted", len(batch))

    def process(self, events):
        """Count, reset and notify for a batch of transitions (in the order they happened)."""
        store = self.datastore
        folded = fold(events)
        now = time.time()
        notices = []                    # (kind, job id, event)

        def count(failed):
            counted = store.count_failures(failed, self._limit_of, disabled_reason, now)
            for job_id, (_, paused) in counted.items():
                step = current[job_id]
                notices.extend((Notice.FAILURE, job_id, event) for event in step.events)
                if paused:
                    notices.append((Notice.DISABLED, job_id, step.events[-1]))

        def reset(job_ids):
            for job_id in store.reset_failures(job_ids):
                notices.append((Notice.RECOVERY, job_id, current[job_id].events[0]))

        # Jobs with one kind of step (nearly all) are counted or reset together; the others step
        # by step, in order.
        current = {job_id: steps[0] for job_id, steps in folded.steps.items()}
        alone = {job_id: step for job_id, step in current.items() if len(folded.steps[job_id]) == 1}
        reset([job_id for job_id, step in alone.items() if step.kind == COMPLETED])
        failed = {job_id: len(step.events) for job_id, step in alone.items() if step.kind == FAILED}
        if failed:
            count(failed)
        for job_id, steps in folded.steps.items():
            if job_id in alone:
                continue
            for step in steps:
                current[job_id] = step
                if step.kind == COMPLETED:
                    reset([job_id])
                else:
                    count({job_id: len(step.events)})
        notices += [(Notice.MISSED, job_id, event) for job_id, event in folded.missed.items()]
        if notices:
            self._notify(notices)
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            store.purge_notifications(now - self.retention)

    def _limit_of(self, job):
        return disable_after_of(job, self.disable_after)

    def _notify(self, notices):
        jobs = self.datastore.notice_jobs({job_id for _, job_id, _ in notices})
        for kind, job_id, event in notices:
            job = jobs.get(job_id)
            notify = notify_of(job) if job is not None else None
            if not notify or kind.value not in notify.get("on", DEFAULT_ON):
                continue
            for item in outbound(kind, job, event, notify):
                self._queue(item)

    def _queue(self, item):
        with self._cond:
            if self._sending >= self.limit:
                started = self._dropping(1)
            else:
                self._sending += 1
                started = None
        if started is None:
            self._outbox.put(item)
        elif started:
            log.warning("notifications: %d deliveries are waiting, the most NOTIFY_BUFFER lets us keep; dropping "
                        "new ones", self.limit)

    # -- the sending threads --------------------------------------------------------------------
    def _send_loop(self):
        while True:
            item = self._outbox.get()
            if item is None:
                return
            try:
                self._deliver(item)
            except Exception:  # recording failed: said, and the thread goes on
                log.exception("notifications: delivery %s of job %s could not be recorded", item.id, item.job_id)
            finally:
                with self._cond:
                    self._sending -= 1
                    self._cond.notify_all()

    def _deliver(self, item):
        channel = self.channels.get(item.channel)
        attempts, error, delivered_at = 0, None, None
        while True:
            attempts += 1
            try:
                if channel is None:
                    raise DeliveryFailed("SMTP_URL is not set: this service sends no e-mail", retry=False)
                channel.send(item.target, item.body, item.id)
            except DeliveryFailed as exc:
                error, again = secrets.redact(exc.message), exc.retry
            except Exception as exc:
                log.exception("notifications: sending %s to %s failed unexpectedly", item.kind.value, item.shown)
                error, again = f"internal error: {type(exc).__name__}", False
            else:
                error, delivered_at = None, time.time()
                break
            if not again or attempts >= self.attempts:
                break
            if self._stopped.wait(min(self.backoff * 2 ** (attempts - 1), MAX_BACKOFF) * random.uniform(0.5, 1.0)):
                error += "; not retried: the process stopped"
                break
        status = Delivery.FAILED if error else Delivery.DELIVERED
        if error:
            self.failed += 1
            log.warning("notifications: %s of job %s to %s failed after %d attempts: %s", item.kind.value,
                        item.job_id, item.shown, attempts, error)
        else:
            self.delivered += 1
            log.info("notifications: %s of job %s delivered to %s (%d attempts)", item.kind.value, item.job_id,
                     item.shown, attempts)
        self.datastore.add_notification({
            "id": item.id, "job_id": item.job_id, "account_id": item.account_id, "run_id": item.run_id,
            "event": item.kind.value, "channel": item.channel, "target": item.shown[:2048], "status": status.value,
            "attempts": attempts, "last_error": error, "created_at": item.created_at, "delivered_at": delivered_at})
