"""Rate-limit counters in our own store, so every gunicorn worker and host counts together.

A storage backend for the ``limits`` library, registered under the scheme
``orchestrator+sql://``: fixed windows kept by the data store. Set ``RATELIMIT_STORAGE_URI`` to
a ``redis://`` or ``memcached://`` URL to count elsewhere: :class:`BatchedStorage` sends the
counts there in the same batches.

A write transaction per request would cost more than the request (on SQLite it serialises every
worker), and a round trip to Redis costs about as much as serving a cached page, so each
process counts in memory and adds its counts to the store in batches, every
``sync_seconds`` (``RATELIMIT_SYNC_SECONDS``) from a background thread. The store's total comes
back with each batch. A process counts a caller in memory only while

* its view of the caller's total is younger than twice ``sync_seconds``,
* it holds at most the *slack* of unsent counts for that caller (1% of the limit, at least 1),
* and its view, this request and the slack stay within the limit.

Otherwise the request's count goes to the store at once, and the answer rests on the store's
total. So a caller far from its limit costs the store one write per process per period, and
near it each process sends at least every slack's worth of requests and learns the others'
counts in return: a caller may pass its limit by the slack of each other process counting it
at that moment (two workers and a limit of 1,200 a minute: 12 requests). ``RATELIMIT_SYNC_SECONDS = 0`` sends every count at once and holds the limit exactly.
A process that stops normally sends what it holds; one that is killed loses at most its slack
per caller.
"""
import atexit
import logging
import math
import os
import threading
import time

from limits.storage import Storage
from sqlalchemy.exc import SQLAlchemyError

from dispatcher.config import number_setting

SCHEME = "orchestrator+sql"
SLACK_SHARE = 0.01
IDLE_PERIODS = 100

log = logging.getLogger(__name__)


class Window:
    """A process's view of one key's fixed window: the store's total when last heard
    (``synced``), the counts on their way to it (``sending``) and those held (``pending``)."""

    __slots__ = ("synced", "sending", "pending", "expires_at", "synced_at")

    def __init__(self, synced, expires_at, synced_at):
        self.synced, self.expires_at, self.synced_at = synced, expires_at, synced_at
        self.sending = self.pending = 0

    def counted(self):
        return self.synced + self.sending + self.pending

    def learn(self, count, expires_at, now):
        """Take the store's total, unless an answer to a later write already came."""
        if expires_at > self.expires_at:
            self.synced, self.expires_at = count, expires_at
        elif expires_at == self.expires_at:
            self.synced = max(self.synced, count)
        self.synced_at = max(self.synced_at, now)


class Batches:
    """Counts held per process and sent in batches by a thread of its own; :meth:`add_counts`
    says how a batch reaches the shared counts."""

    def __init__(self, sync_seconds):
        self.sync_seconds = float(sync_seconds)
        self.windows = {}
        self.lock = threading.Lock()
        # One write to the shared counts at a time: each answer then includes every count this
        # process sent before it, and its view never goes back.
        self.send_lock = threading.Lock()
        self.sender_pid = None  # the process whose sender thread runs (a forked worker starts its own)
        self.stopping = threading.Event()
        self.stop_at_exit = False

    def add_counts(self, counts, now):
        """Add ``{key: (amount, expiry seconds)}`` to the shared counts; ``{key: (total,
        window's end)}``."""
        raise NotImplementedError

    def stored_count(self, key, now):
        raise NotImplementedError

    def stored_expiry(self, key, now):
        raise NotImplementedError

    def clear_stored(self, key=None):
        """Forget the shared count of ``key``, or of every key."""
        raise NotImplementedError

    def reset(self):
        with self.lock:
            self.windows.clear()
        return self.clear_stored()

    def clear(self, key):
        with self.lock:
            self.windows.pop(key, None)
        self.clear_stored(key)

    def incr(self, key, expiry, amount=1):
        now = time.time()
        limit = limit_of(key)
        if self.sync_seconds > 0 and limit:
            slack = max(1, int(limit * SLACK_SHARE))
            with self.lock:
                window = self.windows.get(key)
                if (window is not None and now < window.expires_at and now - window.synced_at < 2 * self.sync_seconds
                        and window.sending + window.pending + amount <= slack
                        and window.counted() + amount + slack <= limit):
                    window.pending += amount
                    self.start_sender()
                    return window.counted()
        return self.send(key, expiry, amount, now)

    def send(self, key, expiry, amount, now):
        """Add ``amount`` and what this process holds for ``key`` to the store; the total."""
        with self.send_lock:
            with self.lock:
                window = self.windows.get(key)
                taken = self._take(window, now)
            try:
                count, expires_at = self.add_counts({key: (taken + amount, expiry)}, now)[key]
            except Exception:
                self.hold_again({key: (window, taken)}, now)
                raise
            with self.lock:
                if window is not None:
                    window.sending -= taken
                current = self.windows.get(key)
                if current is None or current.expires_at <= now:
                    current = self.windows[key] = Window(count, expires_at, now)
                else:
                    current.learn(count, expires_at, now)
                return current.counted()

    @staticmethod
    def _take(window, now):
        """Move what ``window`` holds to its counts on their way (under the lock); how many."""
        if window is None:
            return 0
        taken = window.pending if now < window.expires_at else 0
        window.pending, window.sending = 0, window.sending + taken
        return taken

    def hold_again(self, taken, now):
        """Counts the store did not take (``{key: (window, amount)}``) stay with the process,
        for the next batch."""
        with self.lock:
            for key, (window, amount) in taken.items():
                if window is None or not amount:
                    continue
                window.sending -= amount
                if now < window.expires_at and self.windows.get(key) is window:
                    window.pending += amount

    def sync(self):
        """Send every count this process holds in one transaction, and learn the totals;
        whether there was anything to send."""
        with self.send_lock:
            now = time.time()
            with self.lock:
                held, taken = {}, {}
                for key, window in list(self.windows.items()):
                    if window.pending and now < window.expires_at:
                        held[key] = (window.pending, window.expires_at - now)
                        taken[key] = (window, self._take(window, now))
                    elif window.expires_at <= now:
                        del self.windows[key]  # a window gone by: the store starts the next one
            if not held:
                return False
            try:
                totals = self.add_counts(held, now)
            except Exception:
                self.hold_again(taken, now)
                raise
            with self.lock:
                for window, amount in taken.values():
                    window.sending -= amount
                for key, (count, expires_at) in totals.items():
                    window = self.windows.get(key)
                    if window is not None:
                        window.learn(count, expires_at, now)
            return True

    def start_sender(self):
        """Start this process's sender thread unless it runs (called under the lock)."""
        if self.sender_pid == os.getpid():
            return
        if not self.stop_at_exit:
            self.stop_at_exit = True
            atexit.register(self.stop)
        self.sender_pid = os.getpid()  # a forked worker has no thread yet: it starts its own
        self.stopping.clear()
        threading.Thread(target=self.send_batches, name="rate-limit-counts", daemon=True).start()

    def send_batches(self):
        """Send the counts every period; end after ``IDLE_PERIODS`` with nothing to send (the
        next count held starts the thread again)."""
        failing, idle = False, 0
        while not self.stopping.wait(self.sync_seconds):
            try:
                idle = 0 if self.sync() else idle + 1
                failing = False
            except Exception as exc:  # the store is away: keep the counts, say so once
                if not failing:
                    log.warning("rate-limit counts cannot reach the store, kept for the next batch: %s",
                                type(exc).__name__)
                failing, idle = True, 0
            if idle >= IDLE_PERIODS:
                with self.lock:
                    if not any(window.pending for window in self.windows.values()):
                        self.sender_pid = None if self.sender_pid == os.getpid() else self.sender_pid
                        return
                idle = 0

    def stop(self):
        """Stop the sender and send what is held (at exit)."""
        self.stopping.set()
        try:
            self.sync()
        except Exception as exc:
            log.warning("rate-limit counts of this process were not saved at exit: %s", type(exc).__name__)

    def get(self, key):
        now = time.time()
        with self.lock:
            window = self.windows.get(key)
            if window is not None and now < window.expires_at:
                return window.counted()
        return self.stored_count(key, now)

    def get_expiry(self, key):
        now = time.time()
        with self.lock:
            window = self.windows.get(key)
            if window is not None and now < window.expires_at:
                return window.expires_at
        return self.stored_expiry(key, now)


class SQLStorage(Batches, Storage):
    """Fixed-window counters in the data store's ``rate_limits`` table, sent in batches."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri=None, wrap_exceptions=False, datastore=None, sync_seconds=0.05, **options):
        Storage.__init__(self, uri, wrap_exceptions=wrap_exceptions, **options)
        Batches.__init__(self, sync_seconds)
        if datastore is None:
            raise ValueError(f"{SCHEME}:// needs the data store in the limiter's storage options")
        self.datastore = datastore

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def add_counts(self, counts, now):
        return self.datastore.incr_limits(counts, now)

    def stored_count(self, key, now):
        return self.datastore.get_limit(key, now)

    def stored_expiry(self, key, now):
        return self.datastore.limit_expiry(key, now)

    def check(self):
        self.datastore.ping()
        return True

    def clear_stored(self, key=None):
        return self.datastore.clear_limits(key)


class BatchedStorage(Batches):
    """Another storage of ``limits`` (``redis://``, ``memcached://``), its counts sent in
    batches as the store's are: one round trip per caller and period instead of one per
    request."""

    def __init__(self, storage, sync_seconds):
        super().__init__(sync_seconds)
        self.storage = storage

    def add_counts(self, counts, now):
        totals = {}
        for key, (amount, expiry) in counts.items():
            # A window the storage no longer holds starts again for what is left of ours.
            count = self.storage.incr(key, max(1, math.ceil(expiry)), amount)
            ends = self.storage.get_expiry(key)
            known = self.windows.get(key)
            if known is not None and abs(ends - known.expires_at) < 1:
                ends = known.expires_at  # the same window: its end is known to the second only
            totals[key] = (count, ends)
        return totals

    def stored_count(self, key, now):
        return self.storage.get(key)

    def stored_expiry(self, key, now):
        return self.storage.get_expiry(key)

    def check(self):
        return self.storage.check()

    def clear_stored(self, key=None):
        return self.storage.reset() if key is None else self.storage.clear(key)


def sync_seconds(config):
    """``RATELIMIT_SYNC_SECONDS``, checked: seconds from 0 (send every count at once) to 60."""
    return float(number_setting(config, "RATELIMIT_SYNC_SECONDS", 0, 60))


def limit_of(key):
    """The limit's amount, from the key ``limits`` builds (``.../<amount>/<multiples>/<unit>``)."""
    try:
        return int(key.rsplit("/", 3)[-3])
    except (IndexError, ValueError):
        return None
