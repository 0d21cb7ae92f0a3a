"""Liveness and the OpenAPI document."""
from flask import Blueprint, current_app, jsonify

from dispatcher.api import schemas
from dispatcher.api.contract import operation

bp = Blueprint("meta", __name__)


@bp.get("/healthz")
@operation(response=schemas.Health)
def healthz():
    """Liveness: answers while the process serves requests; needs no key.

    :>json string status: ``ok``
    :statuscode 200: alive
    """
    return {"status": "ok"}


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
