"""For the administrator: accounts, their keys, the plans. Others get the API's 403."""
from flask import current_app, render_template, request, url_for

from dispatcher.api.accounts import AccountCreate, AccountUpdate
from dispatcher.api.auth import require_admin
from dispatcher.api.contract import load
from dispatcher.errors import Conflict, NotFound, ValidationFailed
from dispatcher.ui import bp, done


@bp.before_request
def administrator_only():
    if request.endpoint and request.endpoint.startswith("ui.admin_"):
        require_admin()


def accounts():
    return current_app.extensions["orchestrator.accounts"]


def accounts_page(error=None, created=None, fields=None, status=200):
    return render_template("admin_accounts.html", accounts=accounts().list_accounts(),
                           plans=sorted(current_app.config["PLANS"]), error=error, created=created,
                           fields=fields or {}), status


@bp.get("/admin/accounts")
def admin_accounts():
    """Every account, with its plan and jobs, and the form that creates one (administrator only).

    :statuscode 200: the page
    :statuscode 403: the caller is not the administrator
    """
    return accounts_page()


@bp.post("/admin/accounts")
def admin_create_account():
    """Create an account; its first API key is shown on this answer only.

    :form name: a unique name
    :form plan: a plan of ``PLANS``
    :statuscode 201: created: the page, with the key
    :statuscode 403: the caller is not the administrator
    :statuscode 409: an account of that name exists
    :statuscode 422: a field is invalid
    """
    fields = {"name": request.form.get("name", "").strip(), "plan": request.form.get("plan", "")}
    try:
        body = load(AccountCreate, fields, "body")
        account, key_id, token = accounts().create_account(body["name"], body["plan"])
    except (ValidationFailed, Conflict) as exc:
        return accounts_page(error=exc, fields=fields, status=exc.status)
    return accounts_page(created={"account": account, "key_id": key_id, "api_key": token}, status=201)


def account_page(account_id, error=None, created_key=None, status=200):
    return render_template("admin_account.html", account=accounts().describe(account_id),
                           keys=accounts().keys(account_id), plans=sorted(current_app.config["PLANS"]),
                           error=error, created_key=created_key), status


@bp.get("/admin/accounts/<account_id>")
def admin_account(account_id):
    """One account with its API keys (their ids and dates, never the keys).

    :statuscode 200: the page
    :statuscode 403: the caller is not the administrator
    :statuscode 404: no such account
    """
    return account_page(account_id)


@bp.post("/admin/accounts/<account_id>")
def admin_update_account(account_id):
    """Move the account to another plan, or rename it, as
    :http:patch:`/api/v1/accounts/(string:account_id)` does.

    :statuscode 302: changed: to the account's page
    :statuscode 404: no such account
    :statuscode 409: the name is taken, or the account holds more jobs than the plan allows
    :statuscode 422: a field is invalid
    """
    fields = {key: request.form[key].strip() for key in ("name", "plan") if request.form.get(key, "").strip()}
    try:
        accounts().update_account(account_id, **load(AccountUpdate, fields, "body"))
    except (ValidationFailed, Conflict) as exc:
        return account_page(account_id, error=exc, status=exc.status)
    return done("account", "ui.admin_account", account_id=account_id)


@bp.post("/admin/accounts/<account_id>/keys")
def admin_create_key(account_id):
    """A new API key for the account, shown on this answer only.

    :statuscode 201: the account's page, with the key
    :statuscode 404: no such account
    """
    key_id, token = accounts().create_key(account_id)
    return account_page(account_id, created_key={"key_id": key_id, "api_key": token}, status=201)


@bp.post("/admin/keys/<key_id>/revoke")
def admin_revoke_key(key_id):
    """Revoke a key: the API refuses it, and the dashboard's sessions opened with it end.

    :statuscode 302: to its account's page
    :statuscode 404: no such key
    """
    owner = accounts().key_owner(key_id)
    if owner is None:
        raise NotFound(f"no key {key_id!r}", {"key": key_id})
    accounts().revoke_key(key_id)
    return done("revoked", "ui.admin_account", account_id=owner)


@bp.route("/admin/accounts/<account_id>/delete", methods=["GET", "POST"])
def admin_delete_account(account_id):
    """Ask first; delete the account, its jobs and keys on the confirmation's POST.

    :statuscode 200: the confirmation
    :statuscode 302: deleted: to the accounts
    :statuscode 404: no such account
    :statuscode 409: the account is the administrator's
    """
    account = accounts().account(account_id)
    if request.method == "GET":
        return render_template("confirm.html", title=f"Delete account {account['name']}?",
                               message="Its jobs and keys go with it; its runs stay in the history and its "
                                       "nodes in their clouds.",
                               action=url_for("ui.admin_delete_account", account_id=account_id),
                               button="Delete account", back=url_for("ui.admin_account", account_id=account_id))
    accounts().delete_account(account_id)
    return done("account-deleted", "ui.admin_accounts")


@bp.get("/admin/plans")
def admin_plans():
    """The plans of ``PLANS``, their quotas and how many accounts each has.

    :statuscode 200: the page
    :statuscode 403: the caller is not the administrator
    """
    listed = accounts().list_accounts()
    plans = [{"name": name, "max_jobs": limits.get("max_jobs"),
              "accounts": sum(1 for a in listed if a["plan"] == name),
              "admin": name == current_app.config["ADMIN_PLAN"]}
             for name, limits in sorted(current_app.config["PLANS"].items())]
    return render_template("admin_plans.html", plans=plans)
