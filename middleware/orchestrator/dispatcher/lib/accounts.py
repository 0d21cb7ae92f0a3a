"""Accounts, API keys and plans.

Keys are long random tokens, shown once and stored as an HMAC-SHA-256 digest under a server
secret kept in the store (every worker and host sharing the store shares it). A fast keyed
hash is right for such tokens; a password KDF would cost milliseconds on every request.
"""
from dataclasses import dataclass
import hashlib
import hmac
import json
import re
import secrets as random
import time
import uuid

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from dispatcher.errors import Conflict, NotFound, QuotaExceeded, SettingsError, Unauthorized, ValidationFailed
from dispatcher.lib import store
from dispatcher.lib.jobs import iso, shown_options
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


def check_plans(plans, admin_plan):
    """Raise :class:`SettingsError` unless ``PLANS`` maps names to ``{"max_jobs": int | None}``
    and ``ADMIN_PLAN`` is one of them."""
    if not isinstance(plans, dict) or not plans:
        raise SettingsError("PLANS must be a non-empty dict of plan name -> limits")
    for name, limits in plans.items():
        if not isinstance(limits, dict) or "max_jobs" not in limits:
            raise SettingsError(f"plan {name!r}: max_jobs is required (a number, or None for no limit)")
        limit = limits["max_jobs"]
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise SettingsError(f"plan {name!r}: max_jobs must be a whole number >= 0 or None")
    if admin_plan not in plans:
        raise SettingsError(f"ADMIN_PLAN {admin_plan!r} is not a plan of PLANS ({', '.join(sorted(plans))})")


def _token_of(header):
    """The key a ``Bearer`` ``Authorization`` header value carries, or :class:`Unauthorized`."""
    if not header:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _TOKEN.match(token):
        raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'")
    return token


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
        """The account ``account_id``: id, name, plan, is_admin, created_at; :class:`NotFound` if none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(store.accounts).where(store.accounts.c.id == account_id)).mappings().first()
        if row is None:
            raise NotFound(f"no account {account_id!r}", {"account": account_id})
        return _account_dict(row)

    def describe(self, account_id):
        """The account with the jobs it holds and the jobs its plan allows."""
        account = self.account(account_id)
        return {**account, "jobs_scheduled": jobs_scheduled(self.engine, account_id),
                "jobs_allowed": self.job_limit(account["plan"])}

    def list_accounts(self):
        """Every account, oldest first, described as :meth:`describe` does."""
        a, j = store.accounts, store.jobs
        held = select(j.c.account_id, func.count().label("n")).group_by(j.c.account_id).subquery()
        query = (select(a, func.coalesce(held.c.n, 0).label("jobs_scheduled"))
                 .outerjoin(held, held.c.account_id == a.c.id).order_by(a.c.created_at, a.c.id))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**_account_dict(r), "jobs_scheduled": r["jobs_scheduled"], "jobs_allowed": self.job_limit(r["plan"])}
                for r in rows]

    def find(self, reference):
        """The account whose id, or else whose name, is ``reference`` (for the command line)."""
        a = store.accounts
        with self.engine.connect() as conn:
            rows = conn.execute(select(a.c.id, a.c.name).where(or_(a.c.id == reference, a.c.name == reference))).all()
        if not rows:
            raise NotFound(f"no account {reference!r}", {"account": reference})
        return self.account(min(rows, key=lambda row: row.id != reference).id)

    def admin_account(self):
        """The administrator's account."""
        with self.engine.connect() as conn:
            account_id = conn.execute(select(store.accounts.c.id).where(store.accounts.c.is_admin.is_(True))
                                      .order_by(store.accounts.c.created_at)).scalar()
        if account_id is None:
            raise NotFound("there is no administrator yet: start the service once to create it")
        return self.account(account_id)

    def update_account(self, account_id, name=None, plan=None):
        """Rename the account or move it to another plan; returns it as :meth:`describe` does.

        A plan whose limit is below the jobs the account holds is refused (:class:`Conflict`),
        as is a plan for the administrator other than ``ADMIN_PLAN``.
        """
        if plan is not None:
            self.check_plan(plan)
        a = store.accounts
        try:
            with self.engine.begin() as conn:
                # A no-op write takes the account's lock first, as a job creation does: no job
                # slips in between the count below and the new plan.
                if not conn.execute(update(a).where(a.c.id == account_id).values(plan=a.c.plan)).rowcount:
                    raise NotFound(f"no account {account_id!r}", {"account": account_id})
                row = conn.execute(select(a).where(a.c.id == account_id)).mappings().one()
                values = {}
                if plan is not None and plan != row["plan"]:
                    self._check_move(conn, row, plan)
                    values["plan"] = plan
                if name is not None and name != row["name"]:
                    values["name"] = name
                if values:
                    conn.execute(update(a).where(a.c.id == account_id).values(**values))
        except IntegrityError:
            raise Conflict(f"an account named {name!r} exists already", {"name": name}) from None
        self._forget(account_id)
        return self.describe(account_id)

    def set_defaults(self, account_id, defaults):
        """Replace the account's defaults for its jobs (``notify``, ``disable_after``; None: none);
        returns the account as :meth:`describe` does."""
        kept = {key: value for key, value in defaults.items() if value is not None}
        a = store.accounts
        with self.engine.begin() as conn:
            if not conn.execute(update(a).where(a.c.id == account_id).values(defaults=json.dumps(kept))).rowcount:
                raise NotFound(f"no account {account_id!r}", {"account": account_id})
        return self.describe(account_id)

    def _check_move(self, conn, row, plan):
        if row["is_admin"]:
            raise Conflict(f"the administrator's plan is ADMIN_PLAN ({self.admin_plan}); change that setting instead",
                           {"plan": plan, "admin_plan": self.admin_plan})
        limit = self.job_limit(plan)
        scheduled = conn.execute(select(func.count()).select_from(store.jobs)
                                 .where(store.jobs.c.account_id == row["id"])).scalar()
        if limit is not None and scheduled > limit:
            raise Conflict(f"account {row['name']!r} holds {scheduled} jobs and the {plan} plan holds at most "
                           f"{limit}; delete {scheduled - limit} of its jobs first",
                           {"plan": plan, "limit": limit, "scheduled": scheduled})

    def delete_account(self, account_id):
        """Delete an account with its jobs, keys and node ownership records; its runs stay in
        the history. Returns how many jobs and keys went with it."""
        account = self.account(account_id)
        if account["is_admin"]:
            raise Conflict("the administrator's account cannot be deleted", {"account": account_id})
        with self.engine.begin() as conn:
            removed = {table.name: conn.execute(delete(table).where(table.c.account_id == account_id)).rowcount
                       for table in (store.jobs, store.api_keys, store.node_owners)}
            if not conn.execute(delete(store.accounts).where(store.accounts.c.id == account_id)).rowcount:
                raise NotFound(f"no account {account_id!r}", {"account": account_id})
        self._forget(account_id)
        return {"jobs": removed["jobs"], "keys": removed["api_keys"]}

    def has_accounts(self):
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(store.accounts)).scalar() > 0

    def bootstrap_admin(self, admin_key=None):
        """On an empty store, create the administrator; returns the generated key, else None.

        On a store that has one, its plan follows ``ADMIN_PLAN`` (the API does not change it).
        """
        if self.has_accounts():
            a = store.accounts
            with self.engine.begin() as conn:
                conn.execute(update(a).where(a.c.is_admin.is_(True), a.c.plan != self.admin_plan)
                             .values(plan=self.admin_plan))
            return None
        try:
            _, _, token = self.create_account(ADMIN_NAME, self.admin_plan, is_admin=True, token=admin_key)
        except Conflict:  # another worker bootstrapped the same store
            return None
        return None if admin_key else token

    def is_admin_key(self, token):
        """Whether ``token`` is a valid (unrevoked) key of the administrator's account."""
        keys, accounts = store.api_keys, store.accounts
        with self.engine.connect() as conn:
            return conn.execute(select(func.count())
                                .select_from(keys.join(accounts, accounts.c.id == keys.c.account_id))
                                .where(keys.c.digest == self.digest(token), keys.c.revoked_at.is_(None),
                                       accounts.c.is_admin.is_(True))).scalar() > 0

    # -- keys -------------------------------------------------------------------------
    def create_key(self, account_id):
        self.account(account_id)
        token, key_id = new_token(), uuid.uuid4().hex[:16]
        digest = self.digest(token)
        with self.engine.begin() as conn:
            conn.execute(insert(store.api_keys).values(
                id=key_id, account_id=account_id, digest=digest, created_at=store.now()))
        return key_id, token

    def keys(self, account_id):
        """The account's keys, oldest first: id, created_at, revoked_at (never the digest)."""
        self.account(account_id)
        k = store.api_keys
        with self.engine.connect() as conn:
            rows = conn.execute(select(k.c.id, k.c.created_at, k.c.revoked_at).where(k.c.account_id == account_id)
                                .order_by(k.c.created_at, k.c.id)).mappings().all()
        return [{"id": r["id"], "created_at": iso(r["created_at"]), "revoked_at": iso(r["revoked_at"])} for r in rows]

    def key_owner(self, key_id):
        with self.engine.connect() as conn:
            return conn.execute(select(store.api_keys.c.account_id)
                                .where(store.api_keys.c.id == key_id)).scalar()

    def revoke_key(self, key_id):
        """Revoke a key (again, harmlessly); :class:`NotFound` if there is none of that id."""
        self._callers = {d: c for d, c in self._callers.items() if c[0].key_id != key_id}
        keys = store.api_keys
        with self.engine.begin() as conn:
            if conn.execute(select(func.count()).select_from(keys).where(keys.c.id == key_id)).scalar() == 0:
                raise NotFound(f"no key {key_id!r}", {"key": key_id})
            conn.execute(update(keys).where(keys.c.id == key_id, keys.c.revoked_at.is_(None))
                         .values(revoked_at=store.now()))

    def _forget(self, account_id):
        """Drop the account's keys from this process's cache (other processes: within
        ``cache_seconds``)."""
        self._callers = {d: c for d, c in self._callers.items() if c[0].account_id != account_id}

    def authenticate(self, header):
        """The :class:`Caller` for an ``Authorization`` header value, or :class:`Unauthorized`."""
        digest = self.digest(_token_of(header))
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

    def known_caller(self, header):
        """The :class:`Caller` for an ``Authorization`` header value if this process verified
        its key within ``cache_seconds``, without asking the store; else None."""
        try:
            cached = self._callers.get(self.digest(_token_of(header)))
        except Unauthorized:
            return None
        return cached[0] if cached is not None and cached[1] > time.monotonic() else None

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


def _account_dict(row):
    defaults = shown_options(json.loads(row.get("defaults") or "{}"))
    return {"id": row["id"], "name": row["name"], "plan": row["plan"], "is_admin": bool(row["is_admin"]),
            "created_at": iso(row["created_at"]),
            "defaults": {"notify": defaults.get("notify"), "disable_after": defaults.get("disable_after")}}


def jobs_scheduled(engine, account_id):
    """How many jobs ``account_id`` holds on the schedule (what its plan's quota counts)."""
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(store.jobs)
                            .where(store.jobs.c.account_id == account_id)).scalar()
