"""Accounts, API keys and plans.

Keys are long random tokens, shown once and stored as an HMAC-SHA-256 digest under a server
secret kept in the store (every worker and host sharing the store shares it). A fast keyed
hash is right for such tokens; a password KDF would cost milliseconds on every request.
"""
from dataclasses import dataclass
import hashlib
import hmac
import re
import secrets as random
import time
import uuid

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from dispatcher.errors import Conflict, NotFound, QuotaExceeded, SettingsError, Unauthorized, ValidationFailed
from dispatcher.lib import store
from dispatcher.lib.secrets import registry as secret_registry

ADMIN_NAME = "admin"
KEY_PREFIX = "orc_"
_TOKEN = re.compile(r"^[A-Za-z0-9_\-.~+/=]{16,256}$")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the account behind the API key of this request."""

    account_id: str
    name: str
    plan: str
    is_admin: bool
    key_id: str


def new_token():
    """A fresh API key: 256 random bits, URL-safe."""
    return KEY_PREFIX + random.token_urlsafe(32)


def check_plans(plans):
    """Raise :class:`SettingsError` unless ``PLANS`` maps names to ``{"max_jobs": int | None}``."""
    if not isinstance(plans, dict) or not plans:
        raise SettingsError("PLANS must be a non-empty dict of plan name -> limits")
    for name, limits in plans.items():
        if not isinstance(limits, dict) or "max_jobs" not in limits:
            raise SettingsError(f"plan {name!r}: max_jobs is required (a number, or None for no limit)")
        limit = limits["max_jobs"]
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise SettingsError(f"plan {name!r}: max_jobs must be a whole number >= 0 or None")


class Accounts:
    """Account and key operations over the store."""

    def __init__(self, engine, plans, admin_plan, cache_seconds=2.0):
        self.engine = engine
        self.plans = plans
        self.admin_plan = admin_plan
        self._secret = None
        # digest -> (Caller, valid until): a key is looked up in the store at most once per
        # ``cache_seconds`` in each process; revoking it here drops it at once, elsewhere
        # within that time.
        self.cache_seconds = cache_seconds
        self._callers = {}

    # -- the server secret ------------------------------------------------------------
    def _server_secret(self):
        if self._secret is None:
            with self.engine.begin() as conn:
                value = conn.execute(select(store.meta.c.value).where(store.meta.c.key == "key_secret")).scalar()
                if value is None:
                    try:
                        with conn.begin_nested():
                            value = random.token_hex(32)
                            conn.execute(insert(store.meta).values(key="key_secret", value=value))
                    except IntegrityError:  # another worker made it first
                        value = conn.execute(select(store.meta.c.value)
                                             .where(store.meta.c.key == "key_secret")).scalar()
            self._secret = value.encode()
            secret_registry.add(value)
        return self._secret

    def digest(self, token):
        return hmac.new(self._server_secret(), token.encode(), hashlib.sha256).hexdigest()

    # -- accounts ---------------------------------------------------------------------
    def check_plan(self, plan):
        if plan not in self.plans:
            known = ", ".join(sorted(self.plans))
            raise ValidationFailed(f"unknown plan {plan!r}; the plans are {known}", {"plan": [f"one of: {known}"]})

    def create_account(self, name, plan, is_admin=False, token=None):
        """Create an account and its first key; returns (account, key_id, token)."""
        self.check_plan(plan)
        account_id = uuid.uuid4().hex
        token = token or new_token()
        key_id, digest = uuid.uuid4().hex[:16], self.digest(token)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(store.accounts).values(
                    id=account_id, name=name, plan=plan, is_admin=is_admin, created_at=store.now()))
                conn.execute(insert(store.api_keys).values(
                    id=key_id, account_id=account_id, digest=digest, created_at=store.now()))
        except IntegrityError:
            raise Conflict(f"an account named {name!r} exists already", {"name": name}) from None
        return self.account(account_id), key_id, token

    def account(self, account_id):
        with self.engine.connect() as conn:
            row = conn.execute(select(store.accounts).where(store.accounts.c.id == account_id)).mappings().first()
        if row is None:
            raise NotFound(f"no account {account_id!r}", {"account": account_id})
        return {"id": row["id"], "name": row["name"], "plan": row["plan"], "is_admin": row["is_admin"]}

    def has_accounts(self):
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(store.accounts)).scalar() > 0

    def bootstrap_admin(self, admin_key=None):
        """On an empty store, create the administrator; returns the generated key, else None."""
        if self.has_accounts():
            return None
        try:
            _, _, token = self.create_account(ADMIN_NAME, self.admin_plan, is_admin=True, token=admin_key)
        except Conflict:  # another worker bootstrapped the same store
            return None
        return None if admin_key else token

    # -- keys -------------------------------------------------------------------------
    def create_key(self, account_id):
        self.account(account_id)
        token, key_id = new_token(), uuid.uuid4().hex[:16]
        digest = self.digest(token)
        with self.engine.begin() as conn:
            conn.execute(insert(store.api_keys).values(
                id=key_id, account_id=account_id, digest=digest, created_at=store.now()))
        return key_id, token

    def key_owner(self, key_id):
        with self.engine.connect() as conn:
            return conn.execute(select(store.api_keys.c.account_id)
                                .where(store.api_keys.c.id == key_id)).scalar()

    def revoke_key(self, key_id):
        self._callers = {d: c for d, c in self._callers.items() if c[0].key_id != key_id}
        with self.engine.begin() as conn:
            conn.execute(update(store.api_keys).where(store.api_keys.c.id == key_id,
                                                      store.api_keys.c.revoked_at.is_(None))
                         .values(revoked_at=store.now()))

    def authenticate(self, header):
        """The :class:`Caller` for an ``Authorization`` header value, or :class:`Unauthorized`."""
        if not header:
            raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not _TOKEN.match(token):
            raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'")
        digest = self.digest(token)
        cached = self._callers.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        keys, accounts = store.api_keys, store.accounts
        with self.engine.connect() as conn:
            row = conn.execute(
                select(keys.c.id, keys.c.digest, keys.c.revoked_at, accounts.c.id.label("account_id"),
                       accounts.c.name, accounts.c.plan, accounts.c.is_admin)
                .join(accounts, accounts.c.id == keys.c.account_id)
                .where(keys.c.digest == digest)).mappings().first()
        # The lookup is by keyed digest, which an attacker cannot steer; the final check is
        # constant-time all the same.
        if row is None or not hmac.compare_digest(row["digest"], digest):
            raise Unauthorized("unknown API key")
        if row["revoked_at"] is not None:
            raise Unauthorized("this API key has been revoked")
        caller = Caller(row["account_id"], row["name"], row["plan"], bool(row["is_admin"]), row["id"])
        if len(self._callers) > 10_000:  # bound the memory many distinct keys could take
            self._callers = {}
        self._callers[digest] = (caller, time.monotonic() + self.cache_seconds)
        return caller

    # -- quotas -----------------------------------------------------------------------
    def job_limit(self, plan):
        return self.plans.get(plan, {}).get("max_jobs")

    def check_quota(self, caller, scheduled, adding=1):
        """Raise :class:`QuotaExceeded` when ``adding`` more jobs would pass the plan's limit."""
        limit = self.job_limit(caller.plan)
        if limit is not None and scheduled + adding > limit:
            raise QuotaExceeded(
                f"the {caller.plan} plan holds at most {limit} jobs and this account has {scheduled}; "
                f"delete jobs or ask the administrator to move the account to a larger plan",
                {"plan": caller.plan, "limit": limit, "scheduled": scheduled, "requested": adding})


def jobs_scheduled(engine, account_id):
    """How many jobs ``account_id`` holds on the schedule (what its plan's quota counts)."""
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(store.jobs)
                            .where(store.jobs.c.account_id == account_id)).scalar()
