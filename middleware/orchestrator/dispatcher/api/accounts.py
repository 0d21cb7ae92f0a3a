"""Accounts and their API keys."""
from flask import Blueprint, current_app, g
from marshmallow import Schema, fields, validate

from dispatcher.api.auth import require_admin
from dispatcher.api.contract import operation
from dispatcher.errors import NotFound
from dispatcher.lib.accounts import jobs_scheduled
from dispatcher.lib.validation import FullMatch

bp = Blueprint("accounts", __name__, url_prefix="/api/v1")


class AccountCreate(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=120),
                                                  FullMatch(r"^[A-Za-z0-9_.@+-]+$",
                                                                  error="letters, digits and ._@+-")])
    plan = fields.String(required=True, validate=validate.Length(min=1, max=64),
                         metadata={"description": "a plan of the PLANS setting", "choices_from": "PLANS"})


class AccountCreated(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    plan = fields.String(required=True)
    key_id = fields.String(required=True)
    api_key = fields.String(required=True, metadata={"description": "shown this once; store it now"})


class AccountMe(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    plan = fields.String(required=True)
    is_admin = fields.Boolean(required=True)
    jobs_scheduled = fields.Integer(required=True)
    jobs_allowed = fields.Integer(allow_none=True, required=True, metadata={"description": "null: no limit"})


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


@bp.get("/accounts/me")
@operation(response=AccountMe)
def show_me():
    """The caller's account: its plan, jobs scheduled and jobs allowed.

    :>json string plan: the account's plan
    :>json int jobs_scheduled: jobs the account has on the schedule
    :>json int jobs_allowed: the plan's limit (null when unlimited)
    :statuscode 200: the account
    :statuscode 401: no valid API key
    """
    account = accounts().account(g.caller.account_id)
    scheduled = jobs_scheduled(current_app.extensions["orchestrator.engine"], g.caller.account_id)
    return {**account, "jobs_scheduled": scheduled, "jobs_allowed": accounts().job_limit(account["plan"])}


def _own_or_admin(account_id):
    """The account, if the caller is it or the administrator; 404 otherwise."""
    if not g.caller.is_admin and account_id != g.caller.account_id:
        raise NotFound(f"no account {account_id!r}", {"account": account_id})
    return accounts().account(account_id)


@bp.post("/accounts/<account_id>/keys")
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
