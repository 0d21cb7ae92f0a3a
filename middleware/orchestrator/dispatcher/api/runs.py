"""Runs: one run with its events, and the status look-up by run id."""
from datetime import datetime

from flask import Blueprint, current_app, g

from dispatcher.api import job_schemas as schemas
from dispatcher.api.contract import operation

bp = Blueprint("runs", __name__, url_prefix="/api/v1")


@bp.get("/runs/<run_id>")
@operation(response=schemas.RunWithEvents)
def show_run(run_id):
    """One run with its events (Submitted, Running, Completed | Failed | Missed).

    :param run_id: the run's id
    :>json string status: the run's status
    :>json object result: what the action returned (HTTP status, nodes created, ping answers)
    :>json string error: why it failed or was missed
    :>json array events: each step with its time
    :statuscode 200: the run
    :statuscode 404: no such run (or a run of another account)
    """
    return current_app.extensions["orchestrator.jobs"].run(g.caller, run_id)


@bp.get("/last-events/<run_id>")
@operation(response=schemas.LastEvent)
def last_event(run_id):
    """The status of a run, in the shape job submitters poll.

    .. sourcecode:: json

       {"state": {"status": "Completed", "uuid": "ebbff967-...", "completion_date": "1415988131640"}}

    :param run_id: the run's id
    :>json object state: ``status``, ``uuid`` and, once Completed or Failed, ``completion_date``
        (milliseconds since the epoch, as a string); a Missed run has none
    :statuscode 200: the state
    :statuscode 404: no such run
    """
    run = current_app.extensions["orchestrator.jobs"].run(g.caller, run_id)
    state = {"status": run["status"], "uuid": run["id"]}
    if run["finished_at"] and run["status"] in ("Completed", "Failed"):
        finished = datetime.fromisoformat(run["finished_at"].replace("Z", "+00:00"))
        state["completion_date"] = str(int(finished.timestamp() * 1000))
    return {"state": state}
