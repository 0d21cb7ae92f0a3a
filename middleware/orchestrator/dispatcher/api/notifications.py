"""Notifications: what a job's notices were, where they went, and how each delivery ended."""
from flask import Blueprint, current_app, g

from dispatcher.api import job_schemas as schemas
from dispatcher.api.contract import operation
from dispatcher.api.schemas import PageQuery

bp = Blueprint("notifications", __name__, url_prefix="/api/v1")


@bp.get("/jobs/<job_id>/notifications")
@operation(query=PageQuery, response=schemas.NotificationList)
def list_notifications(job_id, query):
    """The deliveries of a job's notifications, newest first: one per notice and target.

    .. sourcecode:: json

       {"items": [{"id": "5f0c...", "job_id": "9b2e...", "run_id": "d1a4...", "event": "failure",
                   "channel": "webhook", "target": "https://hooks.example.com/orchestrator",
                   "status": "delivered", "attempts": 3, "last_error": null,
                   "created_at": "2027-01-04T03:00:00.412Z", "delivered_at": "2027-01-04T03:00:06.020Z"}],
        "total": 1, "limit": 100, "offset": 0}

    :param job_id: the job's id (its notifications stay listed after it is deleted)
    :query limit: items per page
    :query offset: items to skip
    :>json array items: ``id``, ``job_id``, ``run_id``, ``event`` (``failure``, ``recovery``,
        ``disabled``, ``missed``), ``channel`` (``webhook``, ``email``), ``target`` (the URL or
        the address; never the webhook's secret), ``status`` (``delivered``, ``failed``),
        ``attempts``, ``last_error``, ``created_at``, ``delivered_at``
    :>json int total: how many in all
    :statuscode 200: the notifications
    :statuscode 404: no such job (or a job of another account)
    """
    limit = query.get("limit") or current_app.config["PAGE_SIZE_DEFAULT"]
    items, total = current_app.extensions["orchestrator.jobs"].notifications(g.caller, job_id, limit,
                                                                             query["offset"])
    return {"items": items, "total": total, "limit": limit, "offset": query["offset"]}
