"""The ``/v2`` routes: openbrokerapi's blueprint, inside one of ours that guards it.

openbrokerapi parses the requests and maps the broker's answers and errors onto the spec's
statuses (201, 200 for a repeat, 409, 410, 404, 400). Around it, ours:

- answers 404 for every ``/v2`` route while ``BROKER_USERNAME``/``BROKER_PASSWORD`` are unset,
  as if the routes did not exist;
- checks the platform's basic-auth credentials (401) before anything else is read, then the
  ``X-Broker-API-Version`` header: 412 without it or below 2.13, 400 when it is not a version
  (openbrokerapi's own check answers 500 for that);
- renders every error of these routes in the spec's shape ``{"error", "description"}``;
- answers the platform's ``X-Broker-API-Request-Identity`` back;
- is rate limited per broker credentials (one platform, one count), or per address for requests
  without valid ones, so the password cannot be guessed at the API's pace;
- gives each route the docstring the documentation is built from.
"""
import base64
import hmac
import logging

from flask import Blueprint, current_app, jsonify, request
from openbrokerapi import api as osb_api, settings as osb_settings
from openbrokerapi.auth import BrokerAuthenticator
from openbrokerapi.helper import version_tuple
from werkzeug.exceptions import HTTPException, NotFound

from dispatcher.api import errors as api_errors
from dispatcher.broker.errors import BadBrokerRequest, BrokerError, BrokerUnauthorized, UnsupportedVersion, body
from dispatcher.errors import DispatcherError

log = logging.getLogger("dispatcher.broker")

NAME = "broker"
CREDENTIALS = "orchestrator.broker.credentials"
REALM = 'Basic realm="Orchestrator service broker"'


class Credentials:
    """The platform's credentials, compared in constant time."""

    def __init__(self, username, password):
        self.username, self.password = username, password

    @property
    def enabled(self):
        return bool(self.username and self.password)

    def match(self, authorization):
        if not self.enabled or authorization is None or authorization.type != "basic":
            return False
        user_ok = hmac.compare_digest((authorization.username or "").encode(), self.username.encode())
        password_ok = hmac.compare_digest((authorization.password or "").encode(), self.password.encode())
        return user_ok and password_ok

    def encoded(self):
        """The header value's token, which the secrets registry scrubs from logs as it does the password."""
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


class _CheckedByGate(BrokerAuthenticator):
    """openbrokerapi's authentication hook: :func:`gate` has checked the credentials already."""

    def authenticate(self):
        return None


class _LibraryLog(logging.LoggerAdapter):
    """openbrokerapi logs each refusal it answers (409, 410, 400) with a traceback at ERROR:
    those are the platform's requests answered as the spec says, not our failures."""

    def exception(self, msg, *args, exc_info=True, **kwargs):
        self.info("broker: refused: %s", msg)


def gate():
    """``before_request`` of every ``/v2`` route, before openbrokerapi's own filters."""
    credentials = current_app.extensions[CREDENTIALS]
    if not credentials.enabled:
        raise NotFound()
    if not credentials.match(request.authorization):
        raise BrokerUnauthorized("the platform's credentials are missing or wrong: "
                                 "send the broker's BROKER_USERNAME and BROKER_PASSWORD as HTTP basic auth")
    version = request.headers.get("X-Broker-API-Version")
    if not version:
        raise UnsupportedVersion(f"the X-Broker-API-Version header is required: this broker speaks version "
                                 f"{osb_settings.MIN_VERSION_STR} to 2.x of the Open Service Broker API")
    try:
        asked = version_tuple(version.strip())
    except ValueError:
        raise BadBrokerRequest(f"X-Broker-API-Version {version[:20]!r}: expected MAJOR.MINOR, e.g. 2.17") from None
    if asked < osb_settings.MIN_VERSION or asked[0] != osb_settings.MIN_VERSION[0]:
        raise UnsupportedVersion(f"this broker speaks version {osb_settings.MIN_VERSION_STR} to 2.x of the "
                                 f"Open Service Broker API, not {version[:20]}")
    if request.method == "DELETE":
        # openbrokerapi answers their absence with werkzeug's message, which names neither.
        missing = [name for name in ("service_id", "plan_id") if not request.args.get(name)]
        if missing:
            raise BadBrokerRequest(f"the query parameters service_id and plan_id are required; "
                                   f"missing: {', '.join(missing)}")


def echo_request_identity(response):
    """``after_request``: the platform's ``X-Broker-API-Request-Identity`` back, as the spec asks."""
    value = request.headers.get("X-Broker-API-Request-Identity")
    if value:
        response.headers["X-Broker-API-Request-Identity"] = value[:200]
    return response


def rate_key():
    """What the broker routes' rate limit counts: the platform, when its credentials are right;
    else the client's address."""
    credentials = current_app.extensions[CREDENTIALS]
    if credentials.match(request.authorization):
        return "broker:" + credentials.username
    return "addr:" + (request.remote_addr or "-")


def handle_error(exc):
    """Every error of a ``/v2`` route, in the spec's shape; the app's own shape while the broker
    is off (its routes then answer as unknown paths do)."""
    if isinstance(exc, HTTPException) and not current_app.extensions[CREDENTIALS].enabled:
        return api_errors.handle_http_exception(exc)
    headers = {}
    if isinstance(exc, BrokerError):
        status, payload = exc.status, exc.to_dict()
        if exc.status == 401:
            headers["WWW-Authenticate"] = REALM
    elif isinstance(exc, HTTPException):
        status, payload = exc.code, body(exc.code, exc.description or exc.name)
        headers = {k: v for k, v in exc.get_headers() if k.lower() in ("retry-after", "allow")}
    elif isinstance(exc, DispatcherError):
        status, payload = exc.status, body(exc.status, exc.message)
    else:
        log.exception("broker: unhandled %s", type(exc).__name__)
        status, payload = 500, body(500, "the broker failed to answer this request", "InternalError")
    response = jsonify(payload)
    response.status_code = status
    response.headers.update(headers)
    return response


def make_blueprint(broker):
    """Our ``broker`` blueprint, openbrokerapi's inside it."""
    inner = osb_api.get_blueprint(broker, None, _LibraryLog(log, {}), authenticator=_CheckedByGate())
    # Replaces the library's catch-all (a bare 500 for anything it did not expect).
    inner.register_error_handler(Exception, handle_error)
    outer = Blueprint(NAME, __name__)
    outer.before_request(gate)
    outer.after_request(echo_request_identity)
    outer.register_blueprint(inner)
    return outer


def document(app):
    """Give the library's views the docstrings the HTTP reference is built from."""
    from dispatcher.broker.reference import DOCSTRINGS

    for endpoint, view in app.view_functions.items():
        if endpoint.startswith(NAME + "."):
            view.__doc__ = DOCSTRINGS.get(endpoint.rsplit(".", 1)[1], view.__doc__)
