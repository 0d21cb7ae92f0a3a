"""Who is calling and what they may touch: resolved once per request, in one place."""
from flask import current_app, g, request

from dispatcher.errors import Forbidden, NotFound, Unauthorized
from dispatcher.lib import logs

PUBLIC_PATHS = frozenset({"/healthz", "/api/v1/openapi.json"})


def resolve_caller():
    """``before_request``, before the rate limiter: who is calling, if the key is valid.

    A refused key is not answered here but by :func:`require_caller`, after the limiter has
    counted the request against the client's address."""
    here, asked = g._get_current_object(), request._get_current_object()  # one proxy lookup each
    here.caller, here.refusal = None, None
    path = asked.path
    if path.startswith("/ui/") and not path.startswith("/ui/static/"):
        # The dashboard signs in through its session cookie; it sends to the sign-in page
        # whoever has none (dispatcher.ui), after the limiter has counted the request.
        here.ui_session = current_app.extensions["orchestrator.ui_sessions"].of_request(asked)
        if here.ui_session is not None:
            here.caller = here.ui_session.caller
            here.setdefault("log_tokens", []).append((logs.account_id, logs.account_id.set(here.caller.account_id)))
    elif path.startswith("/api/") and path not in PUBLIC_PATHS:
        try:
            here.caller = current_app.extensions["orchestrator.accounts"].authenticate(asked.headers.get("Authorization"))
            here.setdefault("log_tokens", []).append((logs.account_id, logs.account_id.set(here.caller.account_id)))
        except Unauthorized as exc:
            here.refusal = exc


def require_caller():
    """``before_request``, after the rate limiter: every ``/api/v1`` call but the OpenAPI
    document needs a valid key."""
    if g.refusal is not None:
        raise g.refusal


def rate_key():
    """What the rate limit counts: the caller's account, however its key is spelled or however
    many keys it has; requests without a valid key, per client address."""
    caller = g.get("caller")
    if caller is not None:
        return caller_rate_key(caller)
    return "addr:" + (request.remote_addr or "-")


def caller_rate_key(caller):
    """What the rate limit counts a known caller's requests under: its account."""
    return "account:" + caller.account_id


def require_admin():
    if not g.caller.is_admin:
        raise Forbidden("only the administrator may do this")


class Access:
    """Answers, for the current caller, which clouds and nodes it may use."""

    def __init__(self, owners):
        self.owners = owners

    def may_use_cloud(self, cloud):
        who = g.caller
        return cloud.allows(who.plan, who.name, who.is_admin)

    def check_cloud(self, cloud):
        if not self.may_use_cloud(cloud):
            raise Forbidden(f"the {g.caller.plan} plan may not use cloud {cloud.name!r}", {"cloud": cloud.name})

    def sees_all_nodes(self, cloud, caller):
        """Whether ``caller`` may use ``cloud`` and sees every node on it (the administrator)."""
        return caller.is_admin and cloud.allows(caller.plan, caller.name, caller.is_admin)

    def visible_nodes(self, cloud, nodes):
        """The nodes the caller may see: all for the administrator, its own for the others."""
        if g.caller.is_admin:
            return nodes
        mine = self.owners.owned(cloud.name, g.caller.account_id)
        return [n for n in nodes if n.id in mine]

    def check_node(self, cloud, node_id):
        """404, not 403, for a node of another account: its existence is not ours to reveal."""
        if g.caller.is_admin:
            return
        if self.owners.owner(cloud.name, node_id) != g.caller.account_id:
            raise NotFound(f"cloud {cloud.name!r} has no node {node_id!r}", {"cloud": cloud.name, "node": node_id})
