"""Liveness, metrics and the OpenAPI document."""
import hmac

from flask import Blueprint, current_app, jsonify, request

from dispatcher.api import schemas
from dispatcher.api.contract import operation
from dispatcher.errors import Unauthorized
from dispatcher.lib import metrics as measured
from dispatcher.lib.scheduler import LEASE

bp = Blueprint("meta", __name__)


@bp.get("/healthz")
@operation(response=schemas.Health)
def healthz():
    """Liveness: answers while the process serves requests; needs no key.

    :>json string status: ``ok``
    :statuscode 200: alive
    """
    return {"status": "ok"}


@bp.get("/metrics")
def metrics():
    """The service's metrics in the Prometheus text format (every gunicorn worker's together).

    Not counted against the rate limit. With ``METRICS_TOKEN`` set, only a scrape that sends
    ``Authorization: Bearer <METRICS_TOKEN>`` is answered.

    :reqheader Authorization: ``Bearer <METRICS_TOKEN>``, when that setting is set
    :statuscode 200: the metrics, ``text/plain; version=0.0.4``
    :statuscode 401: ``METRICS_TOKEN`` is set and the request does not carry it
    """
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            raise Unauthorized("the metrics need 'Authorization: Bearer <METRICS_TOKEN>'")
    datastore = current_app.extensions["orchestrator.datastore"]
    body, content_type = measured.exposition(measured.LeaseHolder(datastore, LEASE))
    return current_app.response_class(body, content_type=content_type)


@bp.get("/api/v1/openapi.json")
@operation()
def openapi():
    """The OpenAPI 3 document of this API, built from the schemas that validate requests.

    Public, like this documentation: it holds no secret and clients read it before they
    have a key.

    :statuscode 200: the document
    """
    from dispatcher.api.openapi import build_spec

    cached = current_app.extensions.get("orchestrator.openapi")
    if cached is None:
        cached = current_app.extensions["orchestrator.openapi"] = build_spec(current_app)
    return jsonify(cached)
