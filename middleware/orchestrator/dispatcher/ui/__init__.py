"""The web dashboard at ``/ui/``: server-rendered pages over the services the API uses.

Every page applies the API's rules through the same calls (``g.caller`` is the signed-in
account, so another account's job, run or node is a 404 here too), and every form goes through
the API's schemas, so it answers the API's error messages. A request without a live session is
sent to the sign-in page; a POST without the session's CSRF token is refused with 403.
"""
import hashlib
import json
import logging
from pathlib import Path

from flask import Blueprint, current_app, g, redirect, render_template, request, send_from_directory, url_for
from werkzeug.exceptions import HTTPException

from dispatcher.errors import DispatcherError, Forbidden, SettingsError
from dispatcher.ui.forms import describe_schedule
from dispatcher.ui.sessions import SIGN_IN_COOKIE, Sessions, same_token

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
STATIC_MAX_AGE = 365 * 24 * 3600      # their URLs carry a digest of the files (static_version)
# What a page says once a form's POST has been done (``?done=`` of the redirect).
NOTICES = {"scheduled": "Job scheduled.", "changed": "Job changed.", "paused": "Job paused.",
           "resumed": "Job resumed.", "submitted": "Run submitted.", "deleted": "Job deleted.",
           "rebooting": "Node rebooting.", "destroyed": "Node destroyed.", "account": "Account changed.",
           "revoked": "Key revoked.", "account-deleted": "Account deleted.",
           "creating": "Creating the nodes: they show here as they boot."}
PUBLIC_ENDPOINTS = frozenset({"ui.sign_in", "ui.static_file", "ui.unknown_page"})

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates")
bp.add_app_template_filter(describe_schedule, "schedule")


def static_version():
    """A digest of the static files, in their URLs so that a new release is fetched anew."""
    found = hashlib.sha256()
    for path in sorted(STATIC.iterdir()):
        found.update(path.name.encode() + path.read_bytes())
    return found.hexdigest()[:12]


def init_app(app, datastore, accounts, limiter):
    """Register the dashboard on ``app`` and keep its sessions in ``datastore``."""
    seconds = app.config["UI_SESSION_SECONDS"]
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise SettingsError(f"UI_SESSION_SECONDS must be a number of seconds above 0, not {seconds!r}")
    app.extensions["orchestrator.ui_sessions"] = Sessions(datastore, accounts, seconds)
    app.extensions["orchestrator.ui_static_version"] = static_version()
    from dispatcher.ui import admin, auth, clouds, jobs  # noqa: F401 - their routes join bp
    app.register_blueprint(bp)
    limiter.exempt(static_file)


def done(notice, endpoint, **values):
    """Redirect after a POST, to a page that says what was done."""
    return redirect(url_for(endpoint, done=notice, **values))


@bp.before_request
def require_session():
    """Pages need a live session; every POST needs its form's CSRF token."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        if request.method == "POST" and request.endpoint == "ui.sign_in":
            check_csrf(request.cookies.get(SIGN_IN_COOKIE))
        return None
    if g.get("caller") is None:
        return redirect(url_for("ui.sign_in", next=request.full_path.rstrip("?") if request.method == "GET" else None))
    if request.method == "POST":
        check_csrf(g.ui_session.csrf)
    return None


def check_csrf(expected):
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    if not same_token(given, expected):
        raise Forbidden("this form has expired or did not come from this dashboard: reload the page and try again")


@bp.after_request
def page_headers(response):
    """Pages are private and never framed; scripts and styles come only from here."""
    if request.endpoint != "ui.static_file":
        response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; "
                                                   "frame-ancestors 'none'; form-action 'self'")
    return response


@bp.context_processor
def dashboard_globals():
    return {"caller": g.get("caller"), "csrf_token": g.ui_session.csrf if g.get("ui_session") else None,
            "static_version": current_app.extensions.get("orchestrator.ui_static_version"),
            "notice": NOTICES.get(request.args.get("done", ""))}


@bp.app_template_filter("pretty")
def pretty(value):
    """JSON laid out to be read (results, schedules, actions)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


@bp.get("/static/<path:filename>")
def static_file(filename):
    """The dashboard's stylesheet and script, cached for a year (their URLs carry a digest of
    the files, so a new release is fetched anew).

    :statuscode 200: the file
    :statuscode 404: no such file
    """
    return send_from_directory(STATIC, filename, max_age=STATIC_MAX_AGE)


@bp.route("/<path:unknown>", methods=["GET", "POST"])
def unknown_page(unknown):
    """Any other page under ``/ui/``: an HTML page that says so (the API keeps its JSON errors).

    :statuscode 404: no such page
    """
    return error_page(404, "Not found", "There is no such page.")


def error_page(status, title, message):
    return render_template("error.html", status=status, title=title, message=message), status


@bp.errorhandler(DispatcherError)
def dispatcher_error(exc):
    titles = {401: "Sign-in needed", 403: "Not allowed", 404: "Not found", 409: "Conflict",
              422: "Invalid", 502: "The cloud failed", 504: "The cloud did not answer in time"}
    return error_page(exc.status, titles.get(exc.status, "Error"), exc.message)


@bp.errorhandler(HTTPException)
def http_error(exc):
    return error_page(exc.code, exc.name, exc.description or exc.name)


@bp.errorhandler(Exception)
def unexpected_error(exc):
    log.exception("unhandled %s", type(exc).__name__)
    return error_page(500, "Error", "The server failed to answer this request.")
