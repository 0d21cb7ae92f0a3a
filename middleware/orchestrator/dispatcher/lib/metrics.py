"""Prometheus metrics of the service, served at ``/metrics`` in the text format.

Under gunicorn each worker is a process: the shipped ``gunicorn.conf.py`` points
``PROMETHEUS_MULTIPROC_DIR`` at a folder of its own before the workers start, every process
writes its values there, and ``/metrics`` answers what they add up to (prometheus-client's
multiprocess mode). Without that variable (``make run``, a scheduler or worker process) the
process's own values are served.

What is measured: requests by route, method and status, with their latency; runs finished by
action type and status, and how late runs start (from the run transitions the data store
announces); how many runs wait in the executor's queue and whether this process holds the
scheduler's lease (sampled every second); which scheduler holds the lease, read from the store
at each scrape (so every API server tells the same, whichever process holds it); cloud calls by
cloud and operation, with their latency and errors.
"""
import atexit
import json
import logging
import os
import threading
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_LATE = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

requests_total = Counter("orchestrator_http_requests_total", "HTTP requests answered",
                         ["route", "method", "status"])
request_seconds = Histogram("orchestrator_http_request_seconds", "Seconds to answer an HTTP request",
                            ["route", "method"], buckets=_FAST)
runs_total = Counter("orchestrator_runs_total", "Runs finished, by action type and status", ["action", "status"])
run_lateness = Histogram("orchestrator_run_lateness_seconds", "Seconds between a run's scheduled time and its start",
                         buckets=_LATE)
queue_depth = Gauge("orchestrator_executor_queue_depth", "Runs waiting in this process's executor for a thread",
                    multiprocess_mode="livesum")
leader = Gauge("orchestrator_scheduler_leader", "1 in the process whose scheduler holds the lease",
               multiprocess_mode="livemax")
cloud_seconds = Histogram("orchestrator_cloud_call_seconds", "Seconds a cloud call took", ["cloud", "operation"],
                          buckets=_FAST)
cloud_errors = Counter("orchestrator_cloud_errors_total", "Cloud calls that failed, by error code",
                       ["cloud", "operation", "code"])

FINISHED = ("Completed", "Failed", "Missed")
_exit_registered = False
_types = {}  # an action's JSON -> its type, for the few distinct actions a store holds


def _action_type(action):
    if not action:
        return "unknown"
    found = _types.get(action)
    if found is None:
        try:
            found = str(json.loads(action).get("type", "unknown"))
        except (ValueError, AttributeError):
            found = "unknown"
        if len(_types) > 10_000:
            _types.clear()
        _types[action] = found
    return found


def observe_transitions(events):
    """A data store listener: count finished runs and time how late runs start."""
    for event in events:
        status = event["status"]
        if status in FINISHED:
            runs_total.labels(_action_type(event.get("action")), status).inc()
        elif status == "Running" and event.get("message") is None:  # a start, not a retry's attempt
            run_lateness.observe(max(0.0, event["at"] - event["scheduled_for"]))


_request_children = {}  # (route, method, status) -> its counter and histogram: few, looked up per request


def observe_request(route, method, status, seconds):
    children = _request_children.get((route, method, status))
    if children is None:
        children = _request_children[(route, method, status)] = (
            requests_total.labels(route, method, str(status)), request_seconds.labels(route, method))
    children[0].inc()
    children[1].observe(seconds)


def observe_cloud_call(cloud, operation, seconds, code=None):
    cloud_seconds.labels(cloud, operation).observe(seconds)
    if code is not None:
        cloud_errors.labels(cloud, operation, code).inc()


def _process_exits():
    """This process's gauges leave the sum: zero here, and under multiprocess mode its files of
    live gauges removed (gunicorn's master does that for its workers, but a process started on
    its own, such as ``orchestrator scheduler``, sharing the folder must do it itself)."""
    leader.set(0)
    queue_depth.set(0)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())


def start_sampler(scheduler, interval=1.0):
    """Sample the scheduler's lease and its executor's queue every ``interval`` seconds, until
    the scheduler stops or the process exits."""
    global _exit_registered
    if not _exit_registered:
        atexit.register(_process_exits)
        _exit_registered = True

    def sample():
        while not scheduler.stopped:
            leader.set(1 if scheduler.is_leader else 0)
            depth = getattr(scheduler.executor, "queue_depth", None)
            queue_depth.set(depth() if callable(depth) else 0)
            time.sleep(interval)
        leader.set(0)
    threading.Thread(target=sample, name="orchestrator-metrics", daemon=True).start()


class LeaseHolder:
    """``orchestrator_scheduler_lease_holder{holder}``: 1 for the scheduler that holds the lease
    now, as the store says; no sample while nobody holds it (or the store does not answer)."""

    def __init__(self, datastore, lease):
        self.datastore, self.lease = datastore, lease

    def collect(self):
        family = GaugeMetricFamily("orchestrator_scheduler_lease_holder",
                                   "1 for the scheduler holding the lease (host:pid:tag), read from the store",
                                   labels=["holder"])
        try:
            holder = self.datastore.lease_holder(self.lease, time.time())
        except Exception:  # a scrape still answers the rest while the store is away
            log.warning("metrics: the store did not say who holds the scheduler's lease", exc_info=True)
            holder = None
        if holder:
            family.add_metric([holder], 1)
        yield family


def exposition(*collectors):
    """The metrics in the Prometheus text format, and its content type: the values this process
    (or, under gunicorn, every worker) recorded, then what ``collectors`` read at this scrape."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        recorded = CollectorRegistry()
        multiprocess.MultiProcessCollector(recorded)
    else:
        from prometheus_client import REGISTRY as recorded
    now = CollectorRegistry(auto_describe=False)
    for collector in collectors:
        now.register(collector)
    return generate_latest(recorded) + generate_latest(now), CONTENT_TYPE_LATEST
