"""Every operation of the live service's OpenAPI document has a client method that calls it.

``METHODS`` maps each operation (method and path template) to the client method that calls it,
with arguments for one call. The test fetches the document from the running service, so a route
added to the API without a client method (and a row here) fails it, and so does a row whose
route is gone. Each method is then called once against the service and must send its request to
that route; the answer may be an error (a made-up id is not found), the request is what counts.
Each method's return type (a ``TypedDict`` of :mod:`orchestrator_client.types`) must also say
what the document says the route answers, field for field, and mypy must find the client sound.
"""
import collections.abc
import itertools
import pathlib
import re
import subprocess
import sys
import types
import typing

import pytest

from orchestrator_client import Client, OrchestratorError

CLIENT = pathlib.Path(__file__).resolve().parents[1]

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
#: Methods that answer one field of the route's answer rather than all of it.
UNWRAPPED = {"run_job": "run_id", "last_event": "state"}
HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
PRIMITIVES = {"string": str, "integer": int, "number": float, "boolean": bool}
PAGE = {"items", "total", "limit", "offset"}


@pytest.fixture(scope="module")
def document(service):
    """The live service's OpenAPI document."""
    with Client(service.url, "no key needed for the document") as anonymous:
        return anonymous.openapi()


@pytest.fixture(scope="module")
def operations(document):
    """``(METHOD, path)`` of every operation the live service's OpenAPI document lists."""
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


def _resolve(document, schema):
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _members(annotation):
    """The types of a union (one type: itself)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return list(typing.get_args(annotation))
    return [annotation]


def _mismatches(document, annotation, schema, where):
    """How ``annotation`` differs from the OpenAPI ``schema`` (an empty list: it does not)."""
    schema = _resolve(document, schema)
    parts = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    nullable = schema.get("nullable") or any(_resolve(document, p).get("nullable") for p in parts or ())
    members = _members(annotation)
    if annotation is typing.Any:
        return []
    if nullable != (type(None) in members):
        return [f"{where}: {'nullable' if nullable else 'never null'} in the API, {annotation} here"]
    [kind] = [m for m in members if m is not type(None)] or [None]
    if parts:
        if kind == dict[str, typing.Any]:
            return []  # a composite (a schedule, an action) stays a plain dict
        found = [_mismatches(document, kind, part, where) for part in parts
                 if not _resolve(document, part).get("nullable")]
        return [] if any(not f for f in found) else found[0]
    if schema.get("type") in PRIMITIVES:
        wanted = PRIMITIVES[schema["type"]]
        return [] if kind is wanted else [f"{where}: {schema['type']} in the API, {kind} here"]
    if schema.get("type") == "array":
        if typing.get_origin(kind) is not list:
            return [f"{where}: an array in the API, {kind} here"]
        return _mismatches(document, typing.get_args(kind)[0], schema["items"], f"{where}[]")
    if "properties" in schema:
        if not typing.is_typeddict(kind):
            return [f"{where}: an object with fields in the API, {kind} here"]
        fields = typing.get_type_hints(kind)
        if set(fields) != set(schema["properties"]):
            return [f"{where}: fields {sorted(schema['properties'])} in the API, {sorted(fields)} in {kind.__name__}"]
        if set(kind.__required_keys__) != set(schema.get("required", ())):
            return [f"{where}: required {sorted(schema.get('required', ()))} in the API, "
                    f"{sorted(kind.__required_keys__)} in {kind.__name__}"]
        return [problem for name, field in schema["properties"].items()
                for problem in _mismatches(document, fields[name], field, f"{kind.__name__}.{name}")]
    if schema.get("type") == "object" or not schema:
        return [] if kind == dict[str, typing.Any] else [f"{where}: any object in the API, {kind} here"]
    return [] if "type" not in schema else [f"{where}: {schema} is not understood by this test"]


def _answers(document, method, path):
    """The schemas of the route's 2xx answers (None for an answer without a body)."""
    found = []
    for status, answer in document["paths"][path][method.lower()]["responses"].items():
        if status.startswith("2"):
            found.append(answer.get("content", {}).get("application/json", {}).get("schema"))
    return found


@pytest.mark.parametrize("operation", sorted(METHODS), ids=lambda op: f"{op[0]} {op[1]}")
def test_the_method_returns_the_type_of_the_answer(document, operation):
    name = METHODS[operation][0]
    returned = typing.get_type_hints(getattr(Client, name))["return"]
    answers = _answers(document, *operation)
    if answers == [None]:
        assert returned is type(None), f"{name} answers nothing (204), yet says {returned}"
        return
    if name in UNWRAPPED:
        [schema] = answers
        answers = [_resolve(document, schema)["properties"][UNWRAPPED[name]]]
    page = [_resolve(document, a) for a in answers if set(_resolve(document, a).get("properties", ())) == PAGE]
    if page:
        assert typing.get_origin(returned) is collections.abc.Iterator, f"{name} lists pages, yet says {returned}"
        problems = _mismatches(document, typing.get_args(returned)[0], page[0]["properties"]["items"]["items"], name)
    else:
        members = _members(returned) if len(answers) > 1 else [returned]
        assert len(members) == len(answers), f"{name}: {len(answers)} kinds of answer, {returned} here"
        problems = [p for member, answer in zip(members, answers)
                    for p in _mismatches(document, member, answer, name)]
    assert not problems, "\n".join(problems)


def test_the_client_type_checks():
    """mypy, strict, over the client (the ``orch`` command is not part of its typed interface)."""
    checked = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-warn-return-any", "--no-incremental",
                              "orchestrator_client/__init__.py", "orchestrator_client/client.py",
                              "orchestrator_client/errors.py", "orchestrator_client/types.py"],
                             cwd=CLIENT, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
