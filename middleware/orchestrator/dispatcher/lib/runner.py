"""Executing one run: its action, given the world a run sees; the same wherever it executes
(a thread of the scheduler's pool, or a Celery worker)."""
import json
import logging

from dispatcher.errors import DispatcherError
from dispatcher.lib.actions import ActionFailed, get_action

log = logging.getLogger(__name__)

COMPLETED, FAILED = "Completed", "Failed"


def execute(run, context_factory):
    """Run the action of ``run`` (a run row); returns ``(status, result, error)``, never raises."""
    try:
        action = json.loads(run["action"])
        plugin = get_action(action["type"])(action)
        return COMPLETED, plugin.run(context_factory(run)), None
    except ActionFailed as exc:
        return FAILED, exc.result, exc.message
    except DispatcherError as exc:
        return FAILED, None, exc.message
    except Exception as exc:
        log.exception("run %s of job %s failed unexpectedly", run["id"], run["job_id"])
        return FAILED, None, f"internal error: {type(exc).__name__}"
