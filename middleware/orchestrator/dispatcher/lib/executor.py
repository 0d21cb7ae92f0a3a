"""Where runs execute: an interface, the local bounded thread pool of ``make run``, and Celery.

The scheduling loop only hands work over; a slow action occupies a pool thread or a worker,
never the loop. A local executor runs the callables the scheduler gives it in this process; a
remote one (``remote = True``) sends the runs themselves to workers, which move them from
Submitted to Running in the store before they execute anything.
"""
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
import json

#: Actions that wait on a cloud: they go to the cloud queue, so that a slow provision never
#: delays url and method runs queued behind it.
CLOUD_ACTIONS = frozenset({"provision", "ping", "reboot", "destroy"})
RUN_TASK = "orchestrator.run"


class Executor(ABC):
    """Runs work somewhere other than the scheduling loop."""

    remote = False

    @abstractmethod
    def submit(self, fn, *args):
        """Start ``fn(*args)``; must not block on its completion."""

    @abstractmethod
    def shutdown(self, wait=True):
        """Stop accepting work; with ``wait``, return once running work has finished."""


class LocalExecutor(Executor):
    """A bounded pool of threads in this process."""

    def __init__(self, max_workers=16):
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="orchestrator-run")

    def submit(self, fn, *args):
        self._pool.submit(fn, *args)

    def queue_depth(self):
        """Work waiting for a free thread."""
        return self._pool._work_queue.qsize()

    def shutdown(self, wait=True):
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


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

    def queue_for(self, run):
        return self.cloud_queue if json.loads(run["action"]).get("type") in CLOUD_ACTIONS else self.queue

    def send(self, run):
        self.celery.send_task(RUN_TASK, args=[run["id"]], queue=self.queue_for(run))

    def submit(self, fn, *args):
        raise TypeError("a remote executor takes runs (send), not callables")

    def shutdown(self, wait=True):
        self.celery.close()
