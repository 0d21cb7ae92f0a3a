"""The served OpenAPI document is the contract: schemathesis calls every operation it lists.

The document is read from ``/api/v1/openapi.json`` of the application, so a route added later
with ``@operation`` is fuzzed here without a change to this file. Every operation runs as the
administrator (schemathesis' examples and coverage phases, then fuzzing) and, for a smaller
share of fuzzed cases, as a free-plan account. A case fails on a 5xx; on a status, content
type, header or body the document does not describe; on a schema-valid request refused or an
invalid one accepted; and on a request served without a valid key.

A schema-valid request is refused only where the document says why a JSON schema cannot tell:
a node's image, size and location come from the cloud's catalog (REFUSES_VALID), and a schedule
with no fire time ahead, or too costly to compute, is refused with its own code (DOCUMENTED).
The strings the document gives a ``format`` of its own (a time, a timezone, a cron line, an
RRULE, a URL) are generated valid by FORMATS.
"""
from collections import Counter
import copy
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote
import zoneinfo

from hypothesis import HealthCheck, Phase, settings, strategies as st
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from conftest import ADMIN_KEY
from dispatcher.application import create_app
from dispatcher.errors import NeverFires, TooCostly
from dispatcher.lib import Provider
from dispatcher.lib.actions.method import register_method
from dispatcher.lib.validation import CRON_FORMAT, RRULE_FORMAT, TIME_FORMAT, URL_FORMAT, ZONE_FORMAT

OPENAPI = "/api/v1/openapi.json"
FARM = {"default": {"ENGINE": Provider.DUMMY, "EXTRA_PARAMS": {"nodes": 3}}}
ADMIN_EXAMPLES = 12     # fuzzed cases per operation as the administrator (coverage cases come on top)
ACCOUNT_EXAMPLES = 5    # fuzzed cases per operation as a free-plan account
# Reproducible in CI; schema-shaped data is legitimately slow to make and often filtered.
FUZZ = dict(deadline=None, derandomize=True, database=None, print_blob=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])

#: Values that exist in a fresh application, by path parameter or body field. A positive case
#: takes one of them (the newest first) seven times in eight instead of the generated value, so
#: that it gets past 404 and 422 into the view.
SEEDED = {
    "cloud": ["default"],
    "node_id": ["1", "2", "3"],                 # the Dummy cloud's seeded nodes
    "image": ["1", "2", "3"], "size": ["1", "2", "3", "4"], "location": ["1", "2", "3"],
    "plan": ["free", "standard", "unlimited"],
    "account_id": [], "key_id": [], "job_id": [], "run_id": [], "group": [],
}
#: The same for the application under test: SEEDED, plus the ids and names the API hands out
#: during the run, less what a DELETE answered 2xx for.
EXISTING = {}
#: An object's ``id`` names a resource of this path parameter when the object has this field.
ID_OF = {"state": "node_id", "schedule": "job_id", "scheduled_for": "run_id", "plan": "account_id"}

#: Operations whose schema-valid requests the API may still refuse with 422, because it checks
#: what exists only at run time, with the reason.
REFUSES_VALID = {
    "POST /api/v1/clouds/{cloud}/nodes": "image, size and location ids come from the cloud's catalog",
}
#: The codes of the 422s the document's schedule forms describe as the rules no JSON schema can
#: state (whether a schedule fires again depends on when it is given). Any other 422 to a
#: schema-valid request fails its case.
DOCUMENTED = {NeverFires.code, TooCostly.code}


@register_method("openapi.echo")
def echo(context, word, times=1):
    """A registered method: the document lists it with the parameters it takes."""
    return word * times


def _future_time(seconds):
    """A time ``seconds`` from now, read when a case is made: the document's times are read then."""
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rrule(freq, interval, hours, minutes):
    return f"FREQ={freq};INTERVAL={interval};BYHOUR={','.join(map(str, sorted(hours)))};BYMINUTE={minutes}"


#: Valid values of the document's own formats. Times run from 5 minutes to 2 years ahead; URLs
#: name loopback addresses, the network URL_ALLOW_NETWORKS permits here (nothing is called: no
#: run executes without the scheduler).
FORMATS = {
    TIME_FORMAT: st.integers(300, 2 * 365 * 86400).map(_future_time),
    ZONE_FORMAT: st.sampled_from(sorted(name for name in zoneinfo.available_timezones() if "/" in name) + ["UTC"]),
    CRON_FORMAT: st.one_of(
        st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly", "@yearly"]),
        st.tuples(st.sampled_from(["*", "0", "*/5", "15,45", "10-20"]), st.sampled_from(["*", "3", "9-17", "*/6"]),
                  st.sampled_from(["*", "1", "15", "1-7"]), st.sampled_from(["*", "1", "6-8", "*/3"]),
                  st.sampled_from(["*", "mon-fri", "0", "sat,sun"])).map(" ".join)),
    RRULE_FORMAT: st.one_of(
        st.builds(_rrule, st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]), st.integers(1, 3),
                  st.sets(st.integers(0, 23), min_size=1, max_size=3), st.sampled_from(["0", "0,30", "15"])),
        st.tuples(st.sampled_from(["HOURLY", "MINUTELY"]), st.integers(1, 30)).map(
            lambda p: f"FREQ={p[0]};INTERVAL={p[1]}")),
    URL_FORMAT: st.builds("http://127.0.0.{}:{}/{}".format, st.integers(1, 254), st.integers(1024, 65535),
                          st.sampled_from(["", "cron", "hook?x=1"])),
}
for _name, _strategy in FORMATS.items():
    schemathesis.openapi.format(_name, _strategy)


def _settings(**overrides):
    # No scheduler: a run asked for stays Submitted, so no fuzzed action ever executes. Small
    # pages: the lists of the many jobs the cases create stay quick to answer and to check.
    return {"ORCHESTRATOR_ADMIN_KEY": ADMIN_KEY, "CLOUD_FARM": FARM, "RATE_LIMIT": "", "TESTING": True,
            "SCHEDULER_ENABLED": False, "URL_ALLOW_NETWORKS": ["127.0.0.0/8"], "SMTP_URL": "smtp://127.0.0.1:2525",
            "PAGE_SIZE_DEFAULT": 10, "PAGE_SIZE_MAX": 20,
            **overrides}


def _config():
    """Keys come from the tests, not from generation; REFUSES_VALID operations may answer 422.

    Built here rather than discovered, so that no ``schemathesis.toml`` changes what CI runs.
    """
    accepted = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
    return schemathesis.Config.from_dict({
        "generation": {"with-security-parameters": False},
        "operations": [{"include-name": name, "checks": {"positive_data_acceptance": {"expected-statuses": accepted}}}
                       for name in REFUSES_VALID],
    })


# Collection needs the operations, so an app over an in-memory store serves the document at
# import (schemathesis.pytest.from_fixture would wait for a fixture, but it reads the
# ``Function._nodeid`` that pytest 9.2 removed). The cases run against the ``app`` fixture.
schema = schemathesis.openapi.from_wsgi(OPENAPI, create_app(_settings(DATABASE_URL="sqlite://")),
                                        config=_config())
CASES = Counter()


@schema.hook
def filter_path_parameters(context, path_parameters):
    """Leave out a value with a percent-escape: it is sent as it is, and the API reads it decoded,
    a value other than the one generated (a negative ``addr%3A`` arrives as the valid ``addr:``)."""
    return all(unquote(str(value)) == str(value) for value in (path_parameters or {}).values())


@schema.hook
def flatmap_case(context, case):
    """Point positive cases at things that exist (see SEEDED)."""
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return st.just(case)     # a negative case must stay invalid
    params = case.path_parameters or {}
    deleted = list(params)[-1] if params and case.method.upper() == "DELETE" else None
    path = {name: _existing_or(name, value, spare=name == deleted) for name, value in params.items()}
    body = case.body if isinstance(case.body, dict) else {}
    fields = {name: _existing_or(name, value) for name, value in body.items()}
    return st.tuples(st.fixed_dictionaries(path), st.fixed_dictionaries(fields)).map(
        lambda picked: _with(case, *picked))


def _existing_or(name, generated, spare=False):
    if name not in SEEDED:
        return st.just(generated)
    # The draws never depend on what EXISTING holds (Hypothesis replays them); the pick does.
    return st.tuples(st.integers(0, 7), st.integers(0, 15)).map(
        lambda drawn: _pick(name, generated, spare, *drawn))


def _pick(name, generated, spare, odds, index):
    """Mostly the ``index``-th newest existing value of the generated value's kind.

    What a DELETE deletes spares the oldest, so that the operations after it still find one.
    """
    same_kind = [value for value in EXISTING[name] if type(value) is type(generated)][spare:]
    return same_kind[-1 - index % len(same_kind)] if odds and same_kind else generated


def _with(case, path, fields):
    if path:
        case.path_parameters = path
    if fields:
        case.body = {**case.body, **fields}
    return case


def _remember(data):
    """Keep the ids and names the API hands out, for later cases to name."""
    if isinstance(data, list):
        for item in data:
            _remember(item)
    elif isinstance(data, dict):
        found = [(key, value) for key, value in data.items() if key in SEEDED]
        found += [(ID_OF[key], data.get("id")) for key in ID_OF if key in data]
        for name, value in found:
            if isinstance(value, str) and value not in EXISTING[name]:
                EXISTING[name].append(value)
        for value in data.values():
            _remember(value)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The application the cases run against: a fresh store, three Dummy nodes, no scheduler."""
    app = create_app(_settings(INSTANCE_PATH=str(tmp_path_factory.mktemp("openapi") / "instance")))
    EXISTING.clear()
    EXISTING.update(copy.deepcopy(SEEDED))
    EXISTING["account_id"].append(app.extensions["orchestrator.accounts"].authenticate(
        f"Bearer {ADMIN_KEY}").account_id)
    return app


@pytest.fixture(scope="module")
def account(app):
    """Headers of a free-plan account (whose id cases may name)."""
    created, _, token = app.extensions["orchestrator.accounts"].create_account("openapi-fuzz", "free")
    EXISTING["account_id"].append(created["id"])
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module", autouse=True)
def _count_cases(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and CASES:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nopenapi: {sum(CASES.values())} cases "
                                f"({', '.join(f'{n} as {role}' for role, n in sorted(CASES.items()))})")


def call_and_validate(case, app, headers, role):
    """Send the case as ``role`` and run every check (but the acceptance of a schema-valid
    request refused for a DOCUMENTED reason); note what the API created or deleted."""
    CASES[role] += 1
    response = case.call(app=app, headers=headers)
    excluded = [positive_data_acceptance] if _documented_refusal(response) else []
    case.validate_response(response, headers=headers, excluded_checks=excluded,
                           transport_kwargs={"app": app, "headers": headers})
    if response.status_code < 300 and response.content:
        _remember(response.json())
    if response.status_code < 300 and case.method.upper() == "DELETE" and case.path_parameters:
        _forget(*list(case.path_parameters.items())[-1])


def _documented_refusal(response):
    return response.status_code == 422 and response.json()["error"]["code"] in DOCUMENTED


def _forget(name, value):
    """A resource just deleted (the last path parameter of a DELETE) is no longer worth naming."""
    if value in EXISTING.get(name, ()):
        EXISTING[name].remove(value)


@schema.parametrize()
@settings(max_examples=ADMIN_EXAMPLES, **FUZZ)
def test_operation_as_admin(case, app):
    call_and_validate(case, app, {"Authorization": f"Bearer {ADMIN_KEY}"}, "admin")


@schema.parametrize()
@settings(max_examples=ACCOUNT_EXAMPLES, phases=[Phase.generate, Phase.shrink], **FUZZ)
def test_operation_as_account(case, app, account):
    call_and_validate(case, app, account, "account")


def test_schedule_and_action_are_typed_by_their_forms(client):
    """``schedule`` and ``action`` are ``oneOf`` their forms, built from what checks them."""
    from dispatcher.lib.actions import known_aliases

    document = client.get("/api/v1/openapi.json").get_json()
    components = document["components"]["schemas"]
    for schema in ("JobCreate", "JobPatch", "Job"):
        action = components[schema]["properties"]["action"]
        assert action["discriminator"]["propertyName"] == "type"
        assert set(action["discriminator"]["mapping"]) == set(known_aliases())
        forms = [ref["$ref"].rsplit("/", 1)[1] for ref in components[schema]["properties"]["schedule"]["oneOf"]]
        assert forms == ["AtSchedule", "RecurrenceSchedule", "RRuleSchedule", "CronSchedule"]
    url = components["UrlAction"]
    assert url["properties"]["type"]["enum"] == ["url"] and {"type", "url"} <= set(url["required"])
    assert components["MethodAction"]["properties"]["type"]["enum"] == ["method"]
    recurrence = components["RecurrenceSchedule"]
    assert recurrence["required"] == ["frequency"] and recurrence["additionalProperties"] is False
    assert "secondly" in recurrence["properties"]["frequency"]["enum"]
    assert recurrence["properties"]["byhour"]["items"] == {"type": "integer", "minimum": 0, "maximum": 23}
    assert components["CronSchedule"]["properties"]["tolerance"]["minimum"] == 1
    preview = components["PreviewRequest"]["properties"]["schedule"]
    assert len(preview["oneOf"]) == 4


def test_what_a_json_schema_can_say_of_a_job_is_said(client):
    """Formats for what a pattern cannot say; the rules between fields; the settings' limits."""
    components = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    at, cron = components["AtSchedule"]["properties"], components["CronSchedule"]["properties"]
    assert (at["at"]["format"], at["timezone"]["format"], cron["cron"]["format"]) == \
        (TIME_FORMAT, ZONE_FORMAT, CRON_FORMAT)
    assert components["RRuleSchedule"]["properties"]["rrule"]["format"] == RRULE_FORMAT
    for form in ("AtSchedule", "RecurrenceSchedule", "RRuleSchedule", "CronSchedule"):
        assert "never_fires" in components[form]["description"] and "too_costly" in components[form]["description"]
    by_frequency = components["RecurrenceSchedule"]["oneOf"]
    weekly = next(branch for branch in by_frequency if branch["properties"]["frequency"]["enum"] == ["weekly"])
    assert weekly["not"] == {"required": ["bymonthday"]}
    assert components["UrlAction"]["properties"]["url"]["format"] == URL_FORMAT
    assert components["Webhook"]["properties"]["url"]["format"] == URL_FORMAT
    assert components["PingAction"]["oneOf"] == [{"required": ["nodes"]}, {"required": ["selector"]}]
    assert components["PingAction"]["properties"]["cloud"]["enum"] == ["default"]
    echo = next(form for form in components["MethodAction"]["anyOf"]
                if form["properties"]["name"]["enum"] == ["openapi.echo"])
    assert echo["required"] == ["parameters"]
    assert echo["properties"]["parameters"] == {
        "type": "object", "properties": {"word": {}, "times": {}, "context": {"not": {}}},
        "additionalProperties": False, "required": ["word"]}
    assert components["Notify"]["properties"]["email"]["maxItems"] == 20
    # Without an SMTP_URL, no e-mail address is valid.
    without_smtp = create_app(_settings(DATABASE_URL="sqlite://", SMTP_URL="")).test_client()
    notify = without_smtp.get(OPENAPI).get_json()["components"]["schemas"]["Notify"]
    assert notify["properties"]["email"]["maxItems"] == 0
    # A nullable nested object is that object or null, not any object.
    webhook = components["Notify"]["properties"]["webhook"]["anyOf"]
    assert webhook[1] == {"type": "object", "nullable": True, "enum": [None]}
    assert components["Retry"]["properties"]["attempts"]["type"] == "integer"


def test_a_path_parameter_checked_beyond_its_converter_is_documented_and_checked(client, admin):
    document = client.get("/api/v1/openapi.json").get_json()
    group = document["paths"]["/api/v1/groups/{group}"]["put"]["parameters"][0]["schema"]
    assert group == {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"}
    answer = client.put("/api/v1/groups/-bad", json={"jobs": []}, headers=admin)
    assert answer.status_code == 422 and list(answer.get_json()["error"]["details"]) == ["group"]
