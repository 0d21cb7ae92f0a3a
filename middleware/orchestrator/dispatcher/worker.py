"""The Celery application: where runs execute when ``EXECUTOR = "celery"``.

Start workers with ``orchestrator worker`` (or ``celery -A dispatcher.worker worker``), on any
host that reaches the store and the broker (``CELERY_BROKER_URL``), with the service's
settings. Each task carries a run id; the worker:

1. moves it from Submitted to Running in the store, in one conditional statement, if its
   deadline has not passed: a message delivered twice (delivery is at least once) finds it
   Running or finished and does nothing, and a run whose deadline passed while it waited in
   the queue is recorded Missed;
2. executes its action, records the outcome, then acknowledges the message.

While it holds runs, each worker process says it is alive in the store; if it dies mid-run
(kill -9, a lost host), the active scheduler records its runs Failed (``interrupted``) once
it has been silent for ``SCHEDULER_LEASE_SECONDS``, and at worst twice that after the death.
Importing this module reads the settings and opens nothing.
"""
import logging
import os
import socket
import threading
import time
import uuid

from celery import Celery
from kombu import Queue

from dispatcher.config import load_config
from dispatcher.lib.executor import RUN_TASK

log = logging.getLogger(__name__)

MISSED = "Missed"


def make_celery(config):
    """A Celery application for these settings (the scheduler's side and the workers')."""
    celery = Celery("orchestrator", broker=config["CELERY_BROKER_URL"], set_as_current=False)
    celery.conf.update(
        task_queues=[Queue(config["CELERY_QUEUE"], durable=True), Queue(config["CELERY_CLOUD_QUEUE"], durable=True)],
        task_default_queue=config["CELERY_QUEUE"],
        # Acknowledged once the run is recorded; a worker lost mid-task leaves its message to
        # be delivered again (the store then keeps it from running twice).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"confirm_publish": True},
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    celery.task(name=RUN_TASK, bind=True, ignore_result=True)(_run_task)
    return celery


class Runtime:
    """What a worker process needs to execute runs, built on its first task: the store, the
    clouds, the accounts (through the application factory), and a heartbeat."""

    _lock = threading.Lock()
    _current = None

    def __init__(self):
        from dispatcher.application import create_app

        app = create_app({"SCHEDULER_ENABLED": False})
        self.config = app.config
        self.datastore = app.extensions["orchestrator.datastore"]
        self.context_factory = app.extensions["orchestrator.scheduler"].context_factory
        self.holder = f"worker:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.interval = float(app.config["SCHEDULER_LEASE_SECONDS"]) / 2
        self.datastore.heartbeat(self.holder, time.time())
        threading.Thread(target=self._beat, name="orchestrator-heartbeat", daemon=True).start()

    def _beat(self):
        while True:
            time.sleep(self.interval)
            try:
                self.datastore.heartbeat(self.holder, time.time())
            except Exception:  # the store restarting: say it again at the next beat
                log.exception("worker heartbeat failed")

    @classmethod
    def get(cls):
        pid = os.getpid()
        with cls._lock:
            if cls._current is None or cls._current[0] != pid:  # a forked child builds its own
                cls._current = (pid, cls())
            return cls._current[1]


def execute_run(run_id):
    """Start, execute and record the run ``run_id``; returns its status (None: not ours to run)."""
    from dispatcher.lib.runner import execute

    runtime = Runtime.get()
    store = runtime.datastore
    now = time.time()
    run = store.start_run(run_id, now, holder=runtime.holder, in_time=True)
    if run is None:
        run = store.get_run_row(run_id)
        if run is None or run["status"] != "Submitted":
            return None     # delivered twice, or taken by another worker: it runs once
        late = now - run["scheduled_for"]
        message = (f"missed: not started within the tolerance ({late:.3f} s late, "
                   f"tolerance {run['deadline'] - run['scheduled_for']:g} s)")
        with store.transaction() as tx:
            tx.transition_runs([(dict(run), MISSED, message)], now)
        return MISSED
    status, result, error = execute(run, runtime.context_factory,
                                    record_events=lambda events: store.record_events(run, events))
    with store.transaction() as tx:
        tx.finish_runs([(run, status, time.time(), result, error)])
    return status


def _run_task(task, run_id):
    return execute_run(run_id)


#: ``celery -A dispatcher.worker worker`` finds this application.
app = make_celery(load_config())
