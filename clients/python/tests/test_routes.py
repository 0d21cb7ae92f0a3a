"""Every operation of the live service's OpenAPI document has a client method that calls it.

``METHODS`` maps each operation (method and path template) to the client method that calls it,
with arguments for one call. The test fetches the document from the running service, so a route
added to the API without a client method (and a row here) fails it, and so does a row whose
route is gone. Each method is then called once against the service and must send its request to
that route; the answer may be an error (a made-up id is not found), the request is what counts.
"""
import itertools
import re

import pytest

from orchestrator_client import OrchestratorError

_names = itertools.count()
MISSING = "no-such-id"
FAR = {"cron": "0 3 1 1 *"}

METHODS = {
    ("GET", "/healthz"): ("health", (), {}),
    ("GET", "/api/v1/openapi.json"): ("openapi", (), {}),
    ("GET", "/api/v1/clouds"): ("clouds", (), {}),
    ("GET", "/api/v1/clouds/{cloud}"): ("cloud", ("default",), {}),
    ("GET", "/api/v1/clouds/{cloud}/images"): ("images", ("default",), {}),
    ("GET", "/api/v1/clouds/{cloud}/sizes"): ("sizes", ("default",), {}),
    ("GET", "/api/v1/clouds/{cloud}/locations"): ("locations", ("default",), {}),
    ("GET", "/api/v1/clouds/{cloud}/nodes"): ("nodes", ("default",), {}),
    ("POST", "/api/v1/clouds/{cloud}/nodes"): ("create_nodes", ("n", "1", "1"), {"cloud": "no-such-cloud"}),
    ("GET", "/api/v1/clouds/{cloud}/nodes/{node_id}"): ("node", (MISSING,), {}),
    ("DELETE", "/api/v1/clouds/{cloud}/nodes/{node_id}"): ("destroy_node", (MISSING,), {}),
    ("POST", "/api/v1/clouds/{cloud}/nodes/{node_id}/reboot"): ("reboot_node", (MISSING,), {}),
    ("POST", "/api/v1/clouds/{cloud}/nodes/{node_id}/ping"): ("ping_node", (MISSING,), {}),
    ("GET", "/api/v1/jobs"): ("jobs", (), {}),
    ("POST", "/api/v1/jobs"): ("create_job", ({"at": "not a time"}, {"type": "url"}), {}),
    ("GET", "/api/v1/jobs/{job_id}"): ("job", (MISSING,), {}),
    ("PATCH", "/api/v1/jobs/{job_id}"): ("update_job", (MISSING,), {"name": "x"}),
    ("DELETE", "/api/v1/jobs/{job_id}"): ("delete_job", (MISSING,), {}),
    ("POST", "/api/v1/jobs/{job_id}/run"): ("run_job", (MISSING,), {}),
    ("GET", "/api/v1/jobs/{job_id}/runs"): ("job_runs", (MISSING,), {}),
    ("GET", "/api/v1/jobs/{job_id}/notifications"): ("notifications", (MISSING,), {}),
    ("GET", "/api/v1/runs"): ("runs", (), {"status": "Failed"}),
    ("GET", "/api/v1/runs/{run_id}"): ("run", (MISSING,), {}),
    ("GET", "/api/v1/last-events/{run_id}"): ("last_event", (MISSING,), {}),
    ("GET", "/api/v1/groups"): ("groups", (), {}),
    ("PUT", "/api/v1/groups/{group}"): ("replace_group", ("routes", [{"schedule": FAR}]), {}),
    ("DELETE", "/api/v1/groups/{group}"): ("delete_group", ("no-such-group",), {}),
    ("POST", "/api/v1/schedules/preview"): ("preview_schedule", ({"cron": "*/5 * * * *"},), {}),
    ("GET", "/api/v1/accounts/me"): ("me", (), {}),
    ("GET", "/api/v1/accounts"): ("accounts", (), {}),
    ("POST", "/api/v1/accounts"): ("create_account", (None, "free"), {}),
    ("GET", "/api/v1/accounts/{account_id}"): ("account", (MISSING,), {}),
    ("PATCH", "/api/v1/accounts/{account_id}"): ("update_account", (MISSING,), {"plan": "free"}),
    ("DELETE", "/api/v1/accounts/{account_id}"): ("delete_account", (MISSING,), {}),
    ("PUT", "/api/v1/accounts/{account_id}/defaults"): ("set_account_defaults", (MISSING,), {"disable_after": 3}),
    ("GET", "/api/v1/accounts/{account_id}/keys"): ("keys", (MISSING,), {}),
    ("POST", "/api/v1/accounts/{account_id}/keys"): ("create_key", (MISSING,), {}),
    ("DELETE", "/api/v1/keys/{key_id}"): ("revoke_key", (MISSING,), {}),
}
HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


@pytest.fixture(scope="module")
def operations(service):
    """``(METHOD, path)`` of every operation the live service's OpenAPI document lists."""
    from orchestrator_client import Client

    with Client(service.url, "no key needed for the document") as anonymous:
        document = anonymous.openapi()
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS}


def test_every_operation_has_a_client_method(operations):
    missing = sorted(operations - set(METHODS))
    assert not missing, f"operations without a client method (add one, and a row to METHODS): {missing}"
    gone = sorted(set(METHODS) - operations)
    assert not gone, f"rows of METHODS whose operation the API no longer has: {gone}"


def _template(path):
    return re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$")


@pytest.mark.parametrize("operation", sorted(METHODS), ids=lambda op: f"{op[0]} {op[1]}")
def test_the_method_calls_its_route(make_user, operation):
    _, client = make_user()
    name, args, kwargs = METHODS[operation]
    if name == "create_account":
        args = (f"routes-{next(_names)}",) + args[1:]
    sent = []
    client._http.event_hooks["request"].append(lambda request: sent.append((request.method, request.url.path)))
    try:
        answer = getattr(client, name)(*args, **kwargs)
        if hasattr(answer, "__next__"):
            list(answer)
    except OrchestratorError as error:
        assert error.status is not None, error  # an answer came: the request reached the service
    method, path = operation
    assert any(m == method and _template(path).match(p) for m, p in sent), (name, sent)
