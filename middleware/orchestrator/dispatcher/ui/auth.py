"""Signing in with an API key, and out."""
import secrets as random
from urllib.parse import urlsplit

from flask import current_app, g, redirect, render_template, request, url_for

from dispatcher.errors import Unauthorized
from dispatcher.ui import bp
from dispatcher.ui.sessions import COOKIE, SIGN_IN_COOKIE


def sessions():
    return current_app.extensions["orchestrator.ui_sessions"]


def safe_next(target):
    """Where to go after signing in: a page of the dashboard, never another site."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/") or target.startswith("//"):
        return url_for("ui.home")
    return target


def cookie(response, name, value, max_age):
    response.set_cookie(name, value, max_age=max_age, path="/ui/", httponly=True, samesite="Lax",
                        secure=request.is_secure)


def forget(response, name):
    response.delete_cookie(name, path="/ui/", httponly=True, samesite="Lax", secure=request.is_secure)


@bp.get("/")
def home():
    """The dashboard's front page: the jobs.

    :statuscode 302: to :http:get:`/ui/jobs` (or to sign in)
    """
    return redirect(url_for("ui.jobs"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """The sign-in form; a valid API key opens a session and goes on to the page asked for.

    The key is checked as the API checks it, and never kept in the browser: the cookie
    (``HttpOnly``, ``SameSite=Lax``, ``Secure`` over https) holds a random session id.

    :form api_key: an API key
    :form next: the page to go on to (a page under ``/ui/``; anything else goes to the jobs)
    :form csrf_token: the sign-in form's token (also in its cookie)
    :statuscode 200: the form
    :statuscode 302: signed in: on to ``next``
    :statuscode 401: the key is unknown or revoked: the form again, with the API's message
    :statuscode 403: the form's token is missing or wrong
    """
    error, status = None, 200
    if request.method == "POST":
        try:
            session_id = sessions().sign_in(request.form.get("api_key", ""))
        except Unauthorized as exc:
            error, status = exc.message, 401
        else:
            response = redirect(safe_next(request.form.get("next")))
            cookie(response, COOKIE, session_id, int(current_app.config["UI_SESSION_SECONDS"]))
            forget(response, SIGN_IN_COOKIE)
            return response
    token = random.token_urlsafe(32)
    response = current_app.make_response((render_template(
        "sign_in.html", sign_in_token=token, error=error, next=request.values.get("next", "")), status))
    cookie(response, SIGN_IN_COOKIE, token, 3600)
    return response


@bp.post("/sign-out")
def sign_out():
    """Sign out: the session ends in the store, not only in this browser.

    :form csrf_token: the session's token
    :statuscode 302: to the sign-in form
    :statuscode 403: the form's token is missing or wrong
    """
    sessions().sign_out(g.ui_session)
    response = redirect(url_for("ui.sign_in"))
    forget(response, COOKIE)
    return response
