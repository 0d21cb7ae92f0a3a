"""Executing one run: its action, given the world a run sees; the same wherever it executes
(a thread of the scheduler's pool, or a Celery worker)."""
from functools import partial
import json
import logging

from dispatcher.errors import DispatcherError
from dispatcher.lib.actions import ActionFailed, get_action

log = logging.getLogger(__name__)

COMPLETED, FAILED = "Completed", "Failed"


def prepare(run, context_factory):
    """``run`` (a run row) ready to start: a callable returning ``(status, result, error)`` that
    never raises. Loading the action and building its context happen here, so a scheduler
    can do them before the run's time comes and start it with nothing left to do."""
    try:
        action = json.loads(run["action"])
        plugin = get_action(action["type"])(action)
        context = context_factory(run)
    except Exception as exc:
        outcome = _failure(run, exc)
        return lambda: outcome
    return partial(_run, run, plugin, context)


def execute(run, context_factory):
    """Run the action of ``run`` (a run row); returns ``(status, result, error)``, never raises."""
    return prepare(run, context_factory)()


def _run(run, plugin, context):
    try:
        return COMPLETED, plugin.run(context), None
    except Exception as exc:
        return _failure(run, exc)


def _failure(run, exc):
    if isinstance(exc, ActionFailed):
        return FAILED, exc.result, exc.message
    if isinstance(exc, DispatcherError):
        return FAILED, None, exc.message
    log.error("run %s of job %s failed unexpectedly", run["id"], run["job_id"], exc_info=exc)
    return FAILED, None, f"internal error: {type(exc).__name__}"
