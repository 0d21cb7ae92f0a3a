"""Where runs execute: an interface, the local bounded thread pool of ``make run``, and Celery.

The scheduling loop only hands work over; a slow action occupies a pool thread or a worker,
never the loop. A local executor runs the callables the scheduler gives it in this process; a
remote one (``remote = True``) sends the runs themselves to workers, which move them from
Submitted to Running in the store before they execute anything.
"""
from abc import ABC, abstractmethod
from collections import deque
from concurrent.futures import ThreadPoolExecutor
import json
import logging
import threading

#: Actions that wait on a cloud: they go to the cloud queue, so that a slow provision never
#: delays url and method runs queued behind it.
CLOUD_ACTIONS = frozenset({"provision", "ping", "reboot", "destroy"})
RUN_TASK = "orchestrator.run"
PUBLISHERS = 8   # broker connections publishing at once (Celery's pool keeps up to 10)

log = logging.getLogger(__name__)


class Executor(ABC):
    """Runs work somewhere other than the scheduling loop."""

    remote = False

    def start(self):
        """Get ready before the first run is due (the local pool starts its threads)."""

    @abstractmethod
    def submit(self, fn, *args):
        """Start ``fn(*args)``; must not block on its completion."""

    def submit_many(self, calls):
        """Start each ``(fn, args)`` of ``calls``, in that order."""
        for fn, args in calls:
            self.submit(fn, *args)

    @abstractmethod
    def shutdown(self, wait=True):
        """Stop accepting work; with ``wait``, return once running work has finished."""


class LocalExecutor(Executor):
    """A bounded pool of threads in this process, fed in batches.

    When hundreds of runs fall due in the same second they are handed over at once
    (:meth:`submit_many`): one hand-over, after which each thread that takes a run wakes one
    more while runs are left. A future and a wake-up per run, as ``ThreadPoolExecutor`` does,
    cost several times more, paid while the last runs of the burst wait. A slow action holds
    only its own thread: the others go on taking runs.
    """

    def __init__(self, max_workers=16):
        self._max = max_workers
        self._work = deque()
        self._changed = threading.Condition()
        self._threads = []
        self._idle = 0
        self._closed = False

    def start(self):
        with self._changed:
            while len(self._threads) < self._max:
                self._spawn()

    def submit(self, fn, *args):
        self.submit_many([(fn, args)])

    def submit_many(self, calls):
        with self._changed:
            if self._closed:
                raise RuntimeError("the executor is shut down")
            self._work.extend(calls)
            self._wake_one()

    def _wake_one(self):
        # Under the lock, with work queued.
        if self._idle:
            self._changed.notify()
        elif len(self._threads) < self._max:
            self._spawn()

    def _spawn(self):
        thread = threading.Thread(target=self._take_work, name=f"orchestrator-run-{len(self._threads)}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _take_work(self):
        while True:
            with self._changed:
                self._idle += 1
                while not self._work and not self._closed:
                    self._changed.wait()
                self._idle -= 1
                if not self._work:
                    return  # shut down, nothing left
                fn, args = self._work.popleft()
                if self._work:
                    self._wake_one()
            try:
                fn(*args)
            except Exception:  # the callables handle their own failures; this one did not
                log.exception("work in the local executor failed")

    def queue_depth(self):
        """Work waiting for a free thread."""
        return len(self._work)

    def shutdown(self, wait=True):
        with self._changed:
            self._closed = True
            if not wait:
                self._work.clear()
            self._changed.notify_all()
            threads = list(self._threads)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()


class CeleryExecutor(Executor):
    """Sends each run to Celery workers (``orchestrator worker``), by its id.

    Messages are published with the broker's confirmation; the workers acknowledge a message
    only once its run is recorded, so delivery is at least once, and the store's conditional
    Submitted -> Running makes each run start at most once.
    """

    remote = True

    def __init__(self, config):
        from dispatcher.worker import make_celery

        self.celery = make_celery(config)
        self.queue = config["CELERY_QUEUE"]
        self.cloud_queue = config["CELERY_CLOUD_QUEUE"]
        self._publishers = None

    def queue_for(self, run):
        return self.cloud_queue if json.loads(run["action"]).get("type") in CLOUD_ACTIONS else self.queue

    def send(self, run):
        self.celery.send_task(RUN_TASK, args=[run["id"]], queue=self.queue_for(run))

    def send_many(self, runs):
        """Send ``runs``, oldest first, from several broker connections at once: a publish waits
        for the broker's confirmation, a round trip that one connection pays run after run
        (a few hundred a second at best). Raises the first failure, once all were tried."""
        if len(runs) <= 1:
            for run in runs:
                self.send(run)
            return
        if self._publishers is None:
            self._publishers = ThreadPoolExecutor(PUBLISHERS, thread_name_prefix="orchestrator-publish")
        list(self._publishers.map(self._send_each, [runs[n::PUBLISHERS] for n in range(PUBLISHERS)]))

    def _send_each(self, runs):
        for run in runs:
            self.send(run)

    def submit(self, fn, *args):
        raise TypeError("a remote executor takes runs (send), not callables")

    def shutdown(self, wait=True):
        if self._publishers is not None:
            self._publishers.shutdown(wait=True)
        self.celery.close()
