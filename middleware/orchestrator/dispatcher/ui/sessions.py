"""Signed-in sessions of the dashboard, kept in the store.

Signing in exchanges an API key for a session: the browser's cookie holds only a random id
(256 bits; the store keeps its SHA-256 digest, so a copy of the store signs nobody in) and
each session has its own CSRF token, which every form and every script's POST carries. The
session lives at most ``UI_SESSION_SECONDS`` and no longer than its key: a revoked or deleted
key signs its sessions out on their next request.
"""
import hashlib
import hmac
import secrets as random

from dispatcher.lib import store
from dispatcher.lib.accounts import Caller

COOKIE = "orchestrator_session"
SIGN_IN_COOKIE = "orchestrator_sign_in"   # the CSRF token of the sign-in form, before a session


def digest(session_id):
    return hashlib.sha256(session_id.encode()).hexdigest()


def same_token(given, expected):
    """Whether the token a request carries is the expected one (in constant time)."""
    return bool(given and expected) and hmac.compare_digest(given.encode(), expected.encode())


class Session:
    """The signed-in session of a request: who it signs in, and its CSRF token."""

    def __init__(self, row):
        self.digest = row["digest"]
        self.csrf = row["csrf"]
        self.caller = Caller(row["account_id"], row["name"], row["plan"], bool(row["is_admin"]), row["key_id"])


class Sessions:
    """Sign in with a key, find the session of a cookie, sign out."""

    def __init__(self, datastore, accounts, seconds):
        self.datastore = datastore
        self.accounts = accounts
        self.seconds = seconds

    def sign_in(self, api_key):
        """A new session for ``api_key``: returns the cookie's id; :class:`Unauthorized` (the
        API's message) when the key is unknown or revoked."""
        caller = self.accounts.authenticate(f"Bearer {api_key.strip()}")
        session_id, now = random.token_urlsafe(32), store.now()
        self.datastore.purge_sessions(now)   # sign-ins are rare: the moment to drop dead sessions
        self.datastore.add_session({"digest": digest(session_id), "key_id": caller.key_id,
                                    "csrf": random.token_urlsafe(32), "created_at": now,
                                    "expires_at": now + self.seconds})
        return session_id

    def find(self, session_id):
        """The live :class:`Session` of a cookie's id, or None."""
        if not session_id or len(session_id) > 128:
            return None
        row = self.datastore.session(digest(session_id), store.now())
        return Session(row) if row is not None else None

    def of_request(self, request):
        """The live :class:`Session` of the request's cookie, or None."""
        return self.find(request.cookies.get(COOKIE))

    def sign_out(self, session):
        self.datastore.delete_session(session.digest)
