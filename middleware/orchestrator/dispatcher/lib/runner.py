"""Executing one run: its action's attempts, given the world a run sees; the same wherever it
executes (a thread of the scheduler's pool, or a Celery worker). :func:`prepare` does the work
that needs no waiting (loading the action, building its context) ahead of the run's time.

Retries. A job's ``retry`` (``attempts`` after the first, ``backoff``, ``factor``,
``max_backoff``, ``on``) runs a failed attempt again after ``backoff`` × ``factor`` **
(attempt - 1) seconds, at most ``max_backoff``, of which a random half is jitter; a url
answer's ``Retry-After`` is waited for when it asks for longer. ``on`` says which failures are
retried: ``failure`` (any), and for url actions a status class (``5xx``), a status code
(``429``), ``timeout`` or ``connection``. The run stays Running through its attempts, so its
job's next occurrence meets it as any running run (``overlap``: skipped, waiting, or
alongside); every attempt after the first is recorded as an event (``Running``, "attempt 2 of
4"), every failed attempt that is retried as ``Retrying`` with its error and the wait; the run's
status, result and error are its last attempt's.

Timeouts. A job's ``timeout`` bounds each attempt of any action. An attempt past it is
recorded Failed ("timed out after N s") and may be retried; the action's thread cannot be
killed, so it is told (``context.cancelled`` is set, for methods that look) and counted as
overrunning until it returns (:func:`overrunning`); whatever it returns then is discarded.
"""
from dataclasses import replace
from functools import partial
import contextvars
import email.utils
import json
import logging
import random
import threading
import time

from dispatcher.errors import DispatcherError
from dispatcher.lib import logs
from dispatcher.lib.actions import ActionFailed, get_action

log = logging.getLogger(__name__)

COMPLETED, FAILED, RUNNING, RETRYING = "Completed", "Failed", "Running", "Retrying"
MAX_RETRY_AFTER = 3600.0   # the longest Retry-After honoured (seconds)

_overrunning = set()
_overrunning_lock = threading.Lock()


def overrunning():
    """How many attempts are still running past their timeout, in this process."""
    with _overrunning_lock:
        return len(_overrunning)


def prepare(run, context_factory, record_events=None, sleep=time.sleep):
    """``run`` (a run row) ready to start: a callable returning ``(status, result, error)`` that
    never raises, with the job's retries and timeout. Loading the action and building its
    context happen here, so a scheduler can do them before the run's time comes.
    ``record_events(events)`` records each attempt's events as they happen
    (``[(status, at, message)]``)."""
    try:
        action = json.loads(run["action"])
        plugin = get_action(action["type"])(action)
        context = context_factory(run)
    except Exception as exc:
        outcome = _failure(run, exc)[:3]
        return lambda: outcome
    return partial(_execute, run, plugin, context, record_events, sleep)


def execute(run, context_factory, record_events=None, sleep=time.sleep):
    """Run the action of ``run`` (a run row), with its retries and timeout; returns
    ``(status, result, error)`` and never raises."""
    return prepare(run, context_factory, record_events, sleep)()


def _execute(run, plugin, context, record_events, sleep):
    with logs.run_scope(run):
        return _attempts(run, plugin, context, record_events, sleep)


def _attempts(run, plugin, context, record_events, sleep):
    options = json.loads(run.get("options") or "{}")
    retry = options.get("retry") or {}
    attempts = 1 + int(retry.get("attempts") or 0)
    timeout = options.get("timeout")
    for attempt in range(1, attempts + 1):
        if attempt > 1 and record_events is not None:
            record_events([(RUNNING, time.time(), f"attempt {attempt} of {attempts}")])
        status, result, error, failure = _attempt(run, plugin, replace(context, cancelled=threading.Event()),
                                                  timeout)
        if status == COMPLETED or attempt == attempts or not _retried(failure, result, retry.get("on") or ["failure"]):
            if status != COMPLETED:
                log.warning("run %s of job %s failed: %s", run["id"], run["job_id"], error)
            return status, result, error
        wait = _backoff(retry, attempt, result)
        log.info("run %s of job %s: attempt %d of %d failed: %s; next attempt in %.1f s", run["id"], run["job_id"],
                 attempt, attempts, error, wait)
        if record_events is not None:
            record_events([(RETRYING, time.time(), f"attempt {attempt} of {attempts} failed: {error}; "
                                                   f"next attempt in {wait:.1f} s")])
        sleep(wait)
    raise AssertionError("unreachable: the last attempt returns")


def _attempt(run, plugin, context, timeout):
    """One attempt: ``(status, result, error, failure kind)``."""
    if not timeout:
        return _call(run, plugin, context)
    outcome, done = [], threading.Event()
    key = (run["id"], object())

    def work():
        outcome.append(_call(run, plugin, context))
        done.set()
        with _overrunning_lock:
            late = key in _overrunning
            _overrunning.discard(key)
        if late:
            log.warning("run %s of job %s: its action returned after its timeout; what it returned is discarded",
                        run["id"], run["job_id"])

    # A daemon thread: an action that never returns must not hold the process at exit either.
    # In a copy of this context: the attempt's log lines say the run too.
    threading.Thread(target=contextvars.copy_context().run, args=(work,), name=f"orchestrator-attempt-{run['id'][:8]}",
                     daemon=True).start()
    if done.wait(timeout):
        return outcome[0]
    with _overrunning_lock:
        if done.is_set():           # it returned just now
            return outcome[0]
        _overrunning.add(key)
    context.cancelled.set()
    log.warning("run %s of job %s: its action is still running after the job's timeout of %g s; counted as "
                "overrunning until it returns", run["id"], run["job_id"], timeout)
    return FAILED, None, f"timed out after {timeout:g} s", "timeout"


def _call(run, plugin, context):
    try:
        return COMPLETED, plugin.run(context), None, None
    except Exception as exc:
        return _failure(run, exc)


def _failure(run, exc):
    """``(status, result, error, failure kind)`` of an attempt that raised ``exc``."""
    if isinstance(exc, ActionFailed):
        return FAILED, exc.result, exc.message, exc.kind
    if isinstance(exc, DispatcherError):
        return FAILED, None, exc.message, None
    log.error("run %s of job %s failed unexpectedly", run["id"], run["job_id"], exc_info=exc)
    return FAILED, None, f"internal error: {type(exc).__name__}", None


def _retried(kind, result, rules):
    """Whether a failure of ``kind`` (with ``result``) is one ``rules`` retry."""
    status = (result or {}).get("status") if kind == "status" else None
    for rule in rules:
        if rule == "failure" or rule == kind:
            return True
        if status is not None and (rule == str(status) or (rule.endswith("xx") and rule[0] == str(status)[0])):
            return True
    return False


def _backoff(retry, attempt, result):
    """Seconds before the next attempt: exponential, capped, half of it jitter, or longer when
    the answer's ``Retry-After`` asks."""
    base = float(retry.get("backoff", 1.0)) * float(retry.get("factor", 2.0)) ** (attempt - 1)
    capped = min(base, float(retry.get("max_backoff", 300.0)))
    wait = capped / 2 + random.uniform(0, capped / 2)
    asked = _retry_after(((result or {}).get("headers") or {}).get("retry-after"))
    return max(wait, asked) if asked is not None else wait


def _retry_after(value):
    """Seconds a ``Retry-After`` header asks for (delta seconds or an HTTP date), bounded."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
