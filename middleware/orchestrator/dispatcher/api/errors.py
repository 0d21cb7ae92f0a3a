"""One JSON shape for every error the API answers."""
import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

from dispatcher.errors import DispatcherError

log = logging.getLogger(__name__)

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
               429: "rate_limited"}


def error_response(status, code, message, details=None, headers=None):
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def handle_dispatcher_error(exc):
    return error_response(exc.status, exc.code, exc.message, exc.details)


def handle_http_exception(exc):
    code = _HTTP_CODES.get(exc.code, "http_error")
    headers = {}
    if exc.code == 405 and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    if exc.code == 429:
        retry = (exc.get_headers() and dict(exc.get_headers()).get("Retry-After"))
        if retry:
            headers["Retry-After"] = retry
    return error_response(exc.code, code, exc.description or exc.name, headers=headers)


def handle_unexpected(exc):
    # The client learns only that it failed; the log gets the type, never the request body.
    log.exception("unhandled %s", type(exc).__name__)
    return error_response(500, "internal_error", "the server failed to answer this request")


def init_app(app):
    app.register_error_handler(DispatcherError, handle_dispatcher_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
