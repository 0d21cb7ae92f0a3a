"""Accounts and their API keys."""
from flask import Blueprint, current_app, g
from marshmallow import Schema, fields, validate

from dispatcher.api.auth import require_admin
from dispatcher.api.contract import operation, page
from dispatcher.api.job_schemas import Defaults, DefaultsShown
from dispatcher.api.schemas import PageQuery, page_of
from dispatcher.errors import NotFound
from dispatcher.lib.notify import check_notify
from dispatcher.lib.validation import CHOICES_FROM, FullMatch

bp = Blueprint("accounts", __name__, url_prefix="/api/v1")

# An account id is 32 characters: "me" is never one, so /accounts/me answers only its own methods.
ACCOUNT = "<string(length=32):account_id>"

ACCOUNT_NAME = [validate.Length(min=1, max=120),
                FullMatch(r"^[A-Za-z0-9_.@+-]+$", error="letters, digits and ._@+-")]
PLAN = {"validate": validate.Length(min=1, max=64),
        "metadata": {"description": "a plan of the PLANS setting", CHOICES_FROM: "PLANS"}}


class AccountCreate(Schema):
    name = fields.String(required=True, validate=ACCOUNT_NAME)
    plan = fields.String(required=True, **PLAN)


class AccountUpdate(Schema):
    name = fields.String(validate=ACCOUNT_NAME)
    plan = fields.String(**PLAN)


class AccountCreated(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    plan = fields.String(required=True)
    key_id = fields.String(required=True)
    api_key = fields.String(required=True, metadata={"description": "shown this once; store it now"})


class Account(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    plan = fields.String(required=True)
    is_admin = fields.Boolean(required=True)
    created_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    jobs_scheduled = fields.Integer(required=True)
    jobs_allowed = fields.Integer(allow_none=True, required=True, metadata={"description": "null: no limit"})
    defaults = fields.Nested(DefaultsShown, required=True, metadata={
        "description": "notify and disable_after for the account's jobs that do not say their own"})


class Key(Schema):
    id = fields.String(required=True)
    created_at = fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
    revoked_at = fields.String(allow_none=True, required=True, metadata={"description": "null: in use"})


class KeyCreated(Schema):
    key_id = fields.String(required=True)
    api_key = fields.String(required=True)


def accounts():
    return current_app.extensions["orchestrator.accounts"]


@bp.post("/accounts")
@operation(body=AccountCreate, response=AccountCreated, status=201)
def create_account(body):
    """Create an account with a plan and its first API key (administrator only).

    :<json string name: unique account name
    :<json string plan: a plan of ``PLANS`` (e.g. ``free``, ``unlimited``)
    :>json string id: the account's id
    :>json string key_id: the id of its first key (to revoke it later)
    :>json string api_key: the key itself, shown this once
    :statuscode 201: created
    :statuscode 403: the caller is not the administrator
    :statuscode 409: an account of that name exists
    :statuscode 422: a field is invalid, or the plan is unknown
    """
    require_admin()
    account, key_id, token = accounts().create_account(body["name"], body["plan"])
    return {"id": account["id"], "name": account["name"], "plan": account["plan"],
            "key_id": key_id, "api_key": token}, 201


@bp.get("/accounts")
@operation(query=PageQuery, response=page_of(Account))
def list_accounts(query):
    """Every account, oldest first (administrator only).

    :query limit: items per page
    :query offset: items to skip
    :>json array items: accounts, as :http:get:`/api/v1/accounts/(string:account_id)` shows them
    :>json int total: how many accounts in all
    :statuscode 200: the accounts
    :statuscode 403: the caller is not the administrator
    """
    require_admin()
    return page(accounts().list_accounts(), query)


@bp.get("/accounts/me")
@operation(response=Account)
def show_me():
    """The caller's account: its plan, jobs scheduled and jobs allowed.

    :>json string plan: the account's plan
    :>json int jobs_scheduled: jobs the account has on the schedule
    :>json int jobs_allowed: the plan's limit (null when unlimited)
    :>json object defaults: ``notify`` and ``disable_after`` for the account's jobs that do not
        say their own (the webhook's secret is never shown)
    :statuscode 200: the account
    :statuscode 401: no valid API key
    """
    return accounts().describe(g.caller.account_id)


def _own_or_admin(account_id):
    """404 unless the caller is the account or the administrator."""
    if not g.caller.is_admin and account_id != g.caller.account_id:
        raise NotFound(f"no account {account_id!r}", {"account": account_id})


@bp.get(f"/accounts/{ACCOUNT}")
@operation(response=Account)
def show_account(account_id):
    """One account: the caller's own, or any for the administrator.

    :param account_id: the account's id
    :>json string id: the account's id
    :>json string name: its unique name
    :>json string plan: its plan, one of ``PLANS``
    :>json boolean is_admin: whether it is the administrator's account
    :>json string created_at: when it was created (ISO 8601, UTC)
    :>json int jobs_scheduled: jobs it has on the schedule
    :>json int jobs_allowed: its plan's limit (null when unlimited)
    :>json object defaults: ``notify`` and ``disable_after`` for its jobs that do not say their own
    :statuscode 200: the account
    :statuscode 404: no such account (or another account's)
    """
    _own_or_admin(account_id)
    return accounts().describe(account_id)


@bp.put(f"/accounts/{ACCOUNT}/defaults")
@operation(body=Defaults, response=Account)
def set_defaults(account_id, body):
    """Set the defaults of an account's jobs: one setting for every job that does not say its own.

    .. sourcecode:: http

       PUT /api/v1/accounts/9f1c.../defaults HTTP/1.1
       Content-Type: application/json

       {"notify": {"on": ["failure", "recovery", "disabled"],
                   "webhook": {"url": "https://hooks.example.com/orchestrator", "secret": "..."},
                   "email": ["ops@example.com"]},
        "disable_after": 10}

    Both are replaced: a field left out or null means no default (``disable_after`` then falls
    back to the service's ``DISABLE_AFTER``). They apply at once to every job of the account
    whose own ``notify`` or ``disable_after`` is null. Answers the account as
    :http:get:`/api/v1/accounts/(string:account_id)` shows it.

    :param account_id: the account's id (one's own, or any for the administrator)
    :<json object notify: ``on``, ``webhook`` (``url``, ``secret``), ``email``, as a job's
    :<json int disable_after: pause a job after this many failed runs in a row
    :statuscode 200: set
    :statuscode 404: no such account (or another account's)
    :statuscode 422: a field is invalid: ``notify.webhook.url`` in a denied network,
        ``notify.email`` while ``SMTP_URL`` is not set
    """
    _own_or_admin(account_id)
    check_notify(body.get("notify"), current_app.config)
    return accounts().set_defaults(account_id, body)


@bp.patch(f"/accounts/{ACCOUNT}")
@operation(body=AccountUpdate, response=Account)
def update_account(account_id, body):
    """Move an account to another plan, or rename it (administrator only).

    Answers the account as :http:get:`/api/v1/accounts/(string:account_id)` shows it. A plan takes
    effect at once on the worker that answers, and on the others within ``AUTH_CACHE_SECONDS``.
    The administrator's account keeps ``ADMIN_PLAN`` and stays the administrator's.

    :param account_id: the account's id
    :<json string plan: a plan of ``PLANS``
    :<json string name: a new unique name
    :statuscode 200: changed
    :statuscode 403: the caller is not the administrator
    :statuscode 404: no such account
    :statuscode 409: the name is taken; or the account holds more jobs than the plan allows
        (``details``: ``plan``, ``limit``, ``scheduled``): delete some first; or the account
        is the administrator's and the plan is not ``ADMIN_PLAN``
    :statuscode 422: a field is invalid, or the plan is unknown
    """
    require_admin()
    return accounts().update_account(account_id, **body)


@bp.delete(f"/accounts/{ACCOUNT}")
@operation(status=204)
def delete_account(account_id):
    """Delete an account with its jobs and keys (administrator only).

    Its keys are refused at once by the worker that answers, and by the others within
    ``AUTH_CACHE_SECONDS``. Its runs stay in the history (``RUN_RETENTION_DAYS``), visible to
    the administrator; the nodes it created stay in their clouds, visible to the administrator.

    :param account_id: the account's id
    :statuscode 204: deleted
    :statuscode 403: the caller is not the administrator
    :statuscode 404: no such account
    :statuscode 409: the account is the administrator's
    """
    require_admin()
    accounts().delete_account(account_id)
    return "", 204


@bp.get(f"/accounts/{ACCOUNT}/keys")
@operation(query=PageQuery, response=page_of(Key))
def list_keys(account_id, query):
    """An account's API keys, oldest first: their ids and dates, never the keys themselves.

    :param account_id: the account's id (one's own, or any for the administrator)
    :query limit: items per page
    :query offset: items to skip
    :>json array items: ``id``, ``created_at`` and ``revoked_at`` (null while the key is valid)
    :>json int total: how many keys in all
    :statuscode 200: the keys
    :statuscode 404: no such account (or another account's)
    """
    _own_or_admin(account_id)
    return page(accounts().keys(account_id), query)


@bp.post(f"/accounts/{ACCOUNT}/keys")
@operation(response=KeyCreated, status=201)
def create_key(account_id):
    """Add an API key to an account (rotation: the old keys stay valid until revoked).

    :param account_id: the account's id (one's own, or any for the administrator)
    :>json string key_id: the new key's id
    :>json string api_key: the key, shown this once
    :statuscode 201: created
    :statuscode 404: no such account (or another account's)
    """
    _own_or_admin(account_id)
    key_id, token = accounts().create_key(account_id)
    return {"key_id": key_id, "api_key": token}, 201


@bp.delete("/keys/<key_id>")
@operation(status=204)
def revoke_key(key_id):
    """Revoke an API key; it is refused from the next request on.

    :param key_id: the key's id
    :statuscode 204: revoked (or already revoked)
    :statuscode 404: no such key (or a key of another account)
    """
    owner = accounts().key_owner(key_id)
    if owner is None or (not g.caller.is_admin and owner != g.caller.account_id):
        raise NotFound(f"no key {key_id!r}", {"key": key_id})
    accounts().revoke_key(key_id)
    return "", 204
