"""Run events on AMQP: every transition of a run this process records, published for other systems.

With ``EVENTS_URL`` set, each process subscribes an :class:`EventPublisher` to its data store.
Every transition the process commits (Submitted, Running, Completed, Failed, Missed) is sent to
the durable topic exchange ``EVENTS_EXCHANGE`` with the routing key ``run.<status>`` in lower
case, as a persistent JSON message (see :func:`message_of` for the body). The process that
records a transition is the one that publishes it: the scheduler its claims, starts and
outcomes, an API process the runs asked for through the API.

Guarantees:

* **Never in the scheduler's way.** The store calls :meth:`EventPublisher.enqueue` after each
  commit, on the committing thread; it only appends to an in-memory buffer. One background
  thread connects, declares the exchange and publishes.
* **At least once, while the buffer holds.** A message leaves the buffer only once the broker
  has confirmed it (publisher confirms, one wait per batch of up to ``BATCH`` messages). A
  batch that fails (the broker unreachable or restarting, a confirm that does not come within
  ``CONFIRM_TIMEOUT``, a nack) goes back to the front of the buffer and is sent again after a
  back-off (0.1 s doubling to 5 s); a batch sent again may be delivered twice, so consumers
  deduplicate on ``(state.uuid, state.status)``.
* **Bounded.** The buffer holds at most ``EVENTS_BUFFER`` events, the batch being sent
  included. When a new event finds it full, the *oldest* waiting event is dropped: during a
  long outage the recent transitions are the ones worth having (a consumer following the
  state of runs needs their latest status, and the full history stays in the store, at
  ``/api/v1/runs/{run}``), while keeping the oldest would keep a prefix that only grows
  staler. Drops are counted in :attr:`EventPublisher.dropped` (an event given up on without a
  confirm, whether or not an earlier failed attempt reached the broker) and logged once per
  burst: a warning when dropping starts, another with the count once everything kept has
  gone out.
* **In order.** One thread publishes on one channel, in the order the transitions were
  announced, and a failed batch is re-sent before anything newer, so a consumer sees this
  process's transitions of a run in the order they happened (drops leave gaps, never swaps).
  Two processes publish independently: a run asked for through an API host and executed by
  the scheduler's host has its ``run.submitted`` sent by one and the rest by the other; the
  ``at`` field orders them.
* **Lost at exit, said so.** Events still buffered when the process stops get a last
  ``STOP_SECONDS`` to go out; what is left is counted in the log.

The connection is opened when the first event is due, not at start: a process that records no
transition (an administration command) never connects.
"""
from collections import deque
import logging
import random
import socket
import threading
import time

import orjson

from dispatcher.errors import SettingsError
from dispatcher.lib.jobs import COMPLETED, FAILED, MISSED, iso
from dispatcher.lib.secrets import registry as secrets, shown_url, url_setting

log = logging.getLogger(__name__)

SCHEMES = ("amqp", "amqps")
BATCH = 500                 # messages published before waiting for their confirms
CONFIRM_TIMEOUT = 10.0      # seconds the broker may take to confirm a batch
CONNECT_TIMEOUT = 5.0
RETRY_FIRST, RETRY_MAX = 0.1, 5.0
STOP_SECONDS = 2.0


# -- the message: pure ------------------------------------------------------------------

def routing_key(status):
    """``run.<status>``, lower case."""
    return f"run.{str(status).lower()}"


def message_of(event):
    """The body of one transition (an event of the data store): ``state`` is the shape of
    ``/api/v1/last-events/{run}``; times are ISO 8601 UTC; ``error`` is the event's message for
    Failed and Missed runs, else null."""
    status = event["status"]
    state = {"status": status, "uuid": event["run_id"]}
    if status in (COMPLETED, FAILED):
        state["completion_date"] = str(int(event["at"] * 1000))
    return {"state": state, "job_id": event["job_id"], "account_id": event["account_id"],
            "scheduled_for": iso(event["scheduled_for"]), "at": iso(event["at"]),
            "error": event["message"] if status in (FAILED, MISSED) else None}


def check_settings(config):
    """``(url, exchange, buffer)`` from the settings, None when ``EVENTS_URL`` is empty;
    :class:`SettingsError` naming the setting when one is unusable."""
    parts = url_setting(config, "EVENTS_URL", SCHEMES, "an AMQP URL",
                        "amqp://user:password@host:port/vhost (or amqps://)")
    if parts is None:
        return None
    url = config["EVENTS_URL"]
    exchange = config.get("EVENTS_EXCHANGE")
    if not isinstance(exchange, str) or not exchange or exchange.startswith("amq."):
        raise SettingsError(f"EVENTS_EXCHANGE {exchange!r} must be a name of our own (not empty, not amq.*)")
    limit = config.get("EVENTS_BUFFER")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise SettingsError(f"EVENTS_BUFFER {limit!r} must be a whole number of events >= 1")
    return url, exchange, limit


def from_settings(config):
    """The publisher the settings ask for (not started), or None when events are off."""
    checked = check_settings(config)
    if checked is None:
        return None
    try:
        import kombu  # noqa: F401 -- an optional dependency, needed only here
    except ImportError:
        raise SettingsError("EVENTS_URL needs kombu: pip install 'orchestrator[events]'") from None
    return EventPublisher(*checked)


# -- the publisher: the edge ------------------------------------------------------------

class EventPublisher:
    """Publishes the transitions handed to :meth:`enqueue` from one background thread.

    ``published``, ``dropped`` and ``retried`` count events: confirmed by the broker, given
    up on because the buffer was full, and sent again after an attempt that failed.
    """

    def __init__(self, url, exchange="orchestrator.events", buffer=10_000):
        self.url = url
        self.shown_url = shown_url(url)
        self.exchange = exchange
        self.limit = buffer
        self.published = self.dropped = self.retried = 0
        self._waiting = deque()     # events not yet taken into a batch, oldest first
        self._sending = 0           # events taken into the batch being sent now
        self._tried = 0             # how many at the front of _waiting were sent once already
        self._burst = 0             # dropped since dropping last started (0: not dropping)
        self._cond = threading.Condition()
        self._wakeup = threading.Event()   # set by stop: cut a back-off short
        self._stopping = False
        self._deadline = None
        self._thread = None
        self._conn = self._producer = None
        self._tag = self._first_tag = 0    # delivery tags on the current channel
        self._unconfirmed = set()
        self._nacked = False
        self._outage = False

    @property
    def pending(self):
        """Events waiting or being sent."""
        return len(self._waiting) + self._sending

    # -- any thread -----------------------------------------------------------------
    def enqueue(self, events):
        """The data store's listener: buffer ``events``, dropping the oldest beyond the bound."""
        with self._cond:
            self._waiting.extend(events)
            started = self._bound()
            self._cond.notify()
        if started:
            self._warn_dropping()

    def _bound(self):
        """Drop the oldest waiting events beyond the bound (with the lock held); True when this
        starts a burst of drops."""
        excess = len(self._waiting) + self._sending - self.limit
        if excess <= 0:
            return False
        for _ in range(excess):
            self._waiting.popleft()
        self._tried = max(0, self._tried - excess)
        self.dropped += excess
        self._burst += excess
        return self._burst == excess

    def _warn_dropping(self):
        log.warning("run events: %d events are waiting for %s, the most EVENTS_BUFFER lets us keep; "
                    "dropping the oldest until they can be published", self.limit, self.shown_url)

    def start(self):
        """Start the publishing thread (it connects when the first event is due)."""
        self._thread = threading.Thread(target=self._run, name="orchestrator-events", daemon=True)
        self._thread.start()

    def stop(self, timeout=STOP_SECONDS):
        """Publish what is buffered for at most ``timeout`` seconds, then close."""
        with self._cond:
            if self._stopping:
                return
            self._stopping = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify()
        self._wakeup.set()  # a retry waiting out its back-off tries once more now
        if self._thread is not None:
            self._thread.join(timeout + CONNECT_TIMEOUT)
        left = self.pending
        if left:
            log.warning("run events: %d events were not published to %s before the process stopped",
                        left, self.shown_url)

    # -- the publishing thread ----------------------------------------------------------
    def _run(self):
        delay = RETRY_FIRST
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if not self._waiting or self._giving_up():
                    break
            try:
                if self._conn is None:
                    self._connect()
                self._publish_batch()
            except Exception as exc:  # whatever the broker or the network did: keep, retry
                self._failed(exc)
                self._pause(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, RETRY_MAX)
            else:
                delay = RETRY_FIRST
                self._recovered()
        self._close(clean=True)

    def _giving_up(self):
        return self._stopping and time.monotonic() >= self._deadline

    def _pause(self, seconds):
        if self._stopping:
            seconds = min(seconds, max(0.0, self._deadline - time.monotonic()))
        if self._wakeup.wait(seconds):
            self._wakeup.clear()

    def _connect(self):
        from kombu import Connection, Exchange, Producer

        conn = Connection(self.url, connect_timeout=CONNECT_TIMEOUT)
        try:
            conn.ensure_connection(max_retries=0)  # one attempt: the back-off here is ours
            channel = conn.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            exchange = Exchange(self.exchange, type="topic", durable=True)
            exchange(channel).declare()
        except BaseException:
            conn.collect()
            raise
        self._conn = conn
        self._producer = Producer(channel, exchange=exchange, auto_declare=False)
        self._tag = 0               # the channel's last delivery tag

    def _on_ack(self, tag, multiple):
        if multiple:
            self._unconfirmed.difference_update(range(self._first_tag, tag + 1))
        else:
            self._unconfirmed.discard(tag)

    def _on_nack(self, tag, multiple):
        self._nacked = True

    def _publish_batch(self):
        with self._cond:
            batch = [self._waiting.popleft() for _ in range(min(BATCH, len(self._waiting)))]
            self._sending = len(batch)
            again = min(self._tried, len(batch))
            self._tried -= again
            self.retried += again
        try:
            self._send(batch)
        except BaseException:
            with self._cond:  # back to the front, still the oldest: sent again before the rest
                self._waiting.extendleft(reversed(batch))
                self._sending = 0
                self._tried += len(batch)
                started = self._bound()
            if started:
                self._warn_dropping()
            raise
        with self._cond:
            self._sending = 0
            self.published += len(batch)

    def _send(self, batch):
        self._first_tag = self._tag + 1
        self._unconfirmed = set(range(self._first_tag, self._first_tag + len(batch)))
        self._nacked = False
        for event in batch:
            self._producer.publish(orjson.dumps(message_of(event)), routing_key=routing_key(event["status"]),
                                   content_type="application/json", content_encoding="utf-8",
                                   delivery_mode=2, retry=False)
            self._tag += 1
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while self._unconfirmed and not self._nacked:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the broker did not confirm {len(self._unconfirmed)} messages "
                                   f"within {CONFIRM_TIMEOUT:g} s")
            try:
                self._conn.drain_events(timeout=remaining)
            except socket.timeout:
                pass
        if self._nacked:
            raise RuntimeError("the broker refused (nack) a message of the batch")

    def _failed(self, exc):
        self._close(clean=False)
        reason = f"{type(exc).__name__}: {secrets.redact(exc) or 'no detail'}"
        if not self._outage:
            self._outage = True
            log.warning("run events: cannot publish to %s (%s); keeping up to %d events (EVENTS_BUFFER) "
                        "and retrying", self.shown_url, reason, self.limit)
        else:
            log.debug("run events: still cannot publish to %s (%s)", self.shown_url, reason)

    def _recovered(self):
        if self._outage:
            self._outage = False
            log.info("run events: publishing to %s again", self.shown_url)
        with self._cond:  # a burst of drops ends once everything kept has gone out
            burst = self._burst if not self.pending else 0
            if burst:
                self._burst = 0
        if burst:
            log.warning("run events: %d events were dropped in all while they could not be published "
                        "(%d since start)", burst, self.dropped)

    def _close(self, clean):
        conn, self._conn, self._producer = self._conn, None, None
        if conn is None:
            return
        try:
            conn.release() if clean else conn.collect()  # collect: no network I/O on a dead socket
        except Exception:
            pass
