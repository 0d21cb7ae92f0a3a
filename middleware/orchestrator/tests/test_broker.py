"""The Open Service Broker routes (/v2): the catalog from the settings, the lifecycle of an
instance (an account) and its bindings (API keys) against the running service, repeated and
conflicting requests, plan changes under the quota rules, the broker's own authentication and
version check, and the broker off when its credentials are unset."""
import base64
import json
import time
import urllib.error
import urllib.request
import uuid

import pytest
from sqlalchemy import select

from conftest import ADMIN_KEY
from dispatcher.broker.catalog import build_catalog, check_settings, is_free, plan_id
from dispatcher.config import load_config
from dispatcher.errors import SettingsError
from dispatcher.lib import store
from service import Service

USER, PASSWORD = "platform", "broker-password-0123456789"
SERVICE_ID = "7044b22d-6c5e-4a88-9182-10be68abb411"
VERSION = {"X-Broker-API-Version": "2.17"}
JOB = {"schedule": {"cron": "0 3 * * *"}, "action": {"type": "url", "url": "http://127.0.0.1:9/"}}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def identity(platform="cloudfoundry", **value):
    """An ``X-Broker-API-Originating-Identity`` header."""
    encoded = base64.b64encode(json.dumps(value or {"user_id": "683ea748"}).encode()).decode()
    return {"X-Broker-API-Originating-Identity": f"{platform} {encoded}"}


class Platform:
    """What a platform sends: basic auth, the version header, the spec's bodies."""

    def __init__(self, client, plans):
        self.client, self.plans = client, plans

    def call(self, method, path, body=None, headers=None, auth=(USER, PASSWORD), **query):
        return self.client.open(path, method=method, json=body, query_string=query or None, auth=auth,
                                headers={**VERSION, **(headers or {})})

    def provision(self, instance, plan="free", headers=None, **fields):
        body = {"service_id": SERVICE_ID, "plan_id": self.plans[plan], "organization_guid": "org-1",
                "space_guid": "space-1", **fields}
        return self.call("PUT", f"/v2/service_instances/{instance}", body, headers)

    def update(self, instance, plan=None, **fields):
        body = {"service_id": SERVICE_ID, **({"plan_id": self.plans[plan]} if plan else {}), **fields}
        return self.call("PATCH", f"/v2/service_instances/{instance}", body)

    def deprovision(self, instance, plan="free"):
        return self.call("DELETE", f"/v2/service_instances/{instance}", service_id=SERVICE_ID,
                         plan_id=self.plans[plan])

    def bind(self, instance, binding, plan="free", headers=None, **fields):
        body = {"service_id": SERVICE_ID, "plan_id": self.plans[plan], **fields}
        return self.call("PUT", f"/v2/service_instances/{instance}/service_bindings/{binding}", body, headers)

    def unbind(self, instance, binding, plan="free"):
        return self.call("DELETE", f"/v2/service_instances/{instance}/service_bindings/{binding}",
                         service_id=SERVICE_ID, plan_id=self.plans[plan])


@pytest.fixture
def broker_app(make_app):
    return make_app(BROKER_USERNAME=USER, BROKER_PASSWORD=PASSWORD)


@pytest.fixture
def platform(broker_app):
    client = broker_app.test_client()
    catalog = client.get("/v2/catalog", auth=(USER, PASSWORD), headers=VERSION).json
    return Platform(client, {p["name"]: p["id"] for p in catalog["services"][0]["plans"]})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def account_named(client, name):
    return next((a for a in client.get("/api/v1/accounts", headers=ADMIN).json["items"] if a["name"] == name), None)


# -- the catalog (pure) ---------------------------------------------------------------------------

def test_catalog_offers_the_plans_with_stable_ids():
    catalog = build_catalog(load_config(environ={}))
    service = catalog.service
    assert (service.id, service.name) == (SERVICE_ID, "orchestrator-jobs")
    assert service.bindable and service.plan_updateable
    assert service.instances_retrievable and service.bindings_retrievable
    plans = {p.name: p for p in service.plans}
    assert set(plans) == {"free", "standard", "unlimited"}
    assert {name: p.free for name, p in plans.items()} == {"free": True, "standard": False, "unlimited": False}
    assert {name: p.metadata["max_jobs"] for name, p in plans.items()} == {"free": 10, "standard": 1000,
                                                                           "unlimited": None}
    # Derived, not stored: the same on every host and after every restart, distinct per offering.
    assert plans["free"].id == plan_id(SERVICE_ID, "free") == str(uuid.UUID(plans["free"].id))
    assert plan_id("another-service", "free") != plans["free"].id
    assert len({p.id for p in service.plans}) == 3


def test_catalog_settings_choose_the_plans_and_which_are_free():
    config = load_config({"BROKER_PLANS": ["free", "standard"], "BROKER_FREE_PLANS": ["standard"]}, environ={})
    plans = {p.name: p.free for p in build_catalog(config).service.plans}
    assert plans == {"free": False, "standard": True}
    assert is_free("tiny", {"max_jobs": 0}) and not is_free("big", {"max_jobs": None})


@pytest.mark.parametrize("settings, named", [
    ({"BROKER_USERNAME": "platform"}, "set both"),
    ({"BROKER_PASSWORD": "secret-secret"}, "set both"),
    ({"BROKER_USERNAME": "a:b", "BROKER_PASSWORD": "secret-secret"}, "may not hold ':'"),
    ({"BROKER_PLANS": ["gold"]}, "BROKER_PLANS names plans that PLANS does not have: gold"),
    ({"BROKER_PLANS": []}, "BROKER_PLANS is empty"),
    ({"BROKER_FREE_PLANS": "free"}, "BROKER_FREE_PLANS must be None or a list"),
    ({"BROKER_API_URL": "orchestrator.example.com"}, "BROKER_API_URL"),
    ({"BROKER_SERVICE_NAME": "orchestrator jobs"}, "BROKER_SERVICE_NAME"),
])
def test_bad_settings_stop_the_start(settings, named):
    with pytest.raises(SettingsError, match=named):
        check_settings(load_config(settings, environ={}))


# -- the lifecycle ----------------------------------------------------------------------------------

def test_lifecycle(broker_app, platform):
    api = broker_app.test_client()
    instance, binding = str(uuid.uuid4()), str(uuid.uuid4())

    answer = platform.provision(instance, headers=identity(user_id="683ea748"))
    assert (answer.status_code, answer.json) == (201, {})
    account = account_named(api, f"osb-{instance}")
    assert account["plan"] == "free" and account["jobs_allowed"] == 10
    shown = platform.call("GET", f"/v2/service_instances/{instance}")
    assert (shown.status_code, shown.json) == (200, {"service_id": SERVICE_ID, "plan_id": platform.plans["free"],
                                                     "parameters": {}})

    bound = platform.bind(instance, binding, bind_resource={"app_guid": "app-1"})
    assert bound.status_code == 201
    credentials = bound.json["credentials"]
    assert set(credentials) == {"url", "api_key"} and credentials["url"] == "http://localhost"
    key = bearer(credentials["api_key"])
    me = api.get("/api/v1/accounts/me", headers=key).json
    assert (me["id"], me["plan"]) == (account["id"], "free")
    job = api.post("/api/v1/jobs", json=JOB, headers=key)
    assert job.status_code == 201, job.json
    run_id = api.post(f"/api/v1/jobs/{job.json['id']}/run", headers=key).json["run_id"]
    fetched = platform.call("GET", f"/v2/service_instances/{instance}/service_bindings/{binding}")
    assert (fetched.status_code, fetched.json) == (200, {"parameters": {}})   # the key was shown once

    assert platform.unbind(instance, binding).status_code == 200
    assert platform.unbind(instance, binding).status_code == 410
    refused = api.get("/api/v1/accounts/me", headers=key)
    assert refused.status_code == 401 and refused.json["error"]["message"] == "this API key has been revoked"

    second = platform.bind(instance, str(uuid.uuid4())).json["credentials"]["api_key"]
    assert platform.deprovision(instance).status_code == 200
    assert api.get("/api/v1/jobs", headers=bearer(second)).status_code == 401
    assert account_named(api, f"osb-{instance}") is None
    assert api.get(f"/api/v1/accounts/{account['id']}", headers=ADMIN).status_code == 404
    assert platform.call("GET", f"/v2/service_instances/{instance}").status_code == 404
    assert platform.deprovision(instance).status_code == 410
    with broker_app.extensions["orchestrator.engine"].connect() as conn:
        # The account's runs stay in the history for RUN_RETENTION_DAYS; its jobs and records go.
        assert conn.execute(select(store.runs.c.id).where(store.runs.c.id == run_id)).scalar() == run_id
        assert conn.execute(select(store.jobs.c.id).where(store.jobs.c.account_id == account["id"])).first() is None
        assert conn.execute(select(store.broker_bindings)).first() is None


def test_originating_identity_is_recorded_with_the_instance(broker_app, platform):
    instance = str(uuid.uuid4())
    assert platform.provision(instance, headers=identity("kubernetes", username="alice", uid="42"),
                              context={"platform": "kubernetes", "namespace": "ops"}).status_code == 201
    instances = store.broker_instances
    with broker_app.extensions["orchestrator.engine"].connect() as conn:
        row = conn.execute(select(instances).where(instances.c.id == instance)).mappings().one()
    assert row["origin_platform"] == "kubernetes"
    assert json.loads(row["origin_identity"]) == {"username": "alice", "uid": "42"}
    assert json.loads(row["context"]) == {"platform": "kubernetes", "namespace": "ops"}
    assert platform.bind(instance, "b1", headers=identity("kubernetes", username="bob")).status_code == 201
    with broker_app.extensions["orchestrator.engine"].connect() as conn:
        bound = conn.execute(select(store.broker_bindings)).mappings().one()
    assert (bound["origin_platform"], json.loads(bound["origin_identity"])) == ("kubernetes", {"username": "bob"})
    malformed = platform.provision(str(uuid.uuid4()), headers={"X-Broker-API-Originating-Identity": "kubernetes !!"})
    assert malformed.status_code == 400 and "Originating-Identity" in malformed.json["description"]


def test_account_name_from_the_parameters(broker_app, platform):
    api = broker_app.test_client()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    assert platform.provision(first, parameters={"name": "team-a"}).status_code == 201
    assert account_named(api, "team-a")["plan"] == "free"
    taken = platform.provision(second, parameters={"name": "team-a"})
    assert taken.status_code == 400 and "exists already" in taken.json["description"]
    assert platform.update(first, parameters={"name": "team-b"}).status_code == 200
    assert account_named(api, "team-b") is not None and account_named(api, "team-a") is None
    assert platform.call("GET", f"/v2/service_instances/{first}").json["parameters"] == {"name": "team-b"}


# -- repeats, conflicts, quotas --------------------------------------------------------------------

def test_repeated_and_conflicting_requests(broker_app, platform, caplog):
    api = broker_app.test_client()
    instance, binding = str(uuid.uuid4()), str(uuid.uuid4())
    assert platform.provision(instance).status_code == 201
    again = platform.provision(instance)
    assert (again.status_code, again.json) == (200, {})
    other = platform.provision(instance, plan="standard")
    assert other.status_code == 409 and "plan_id" in other.json["description"]
    assert platform.provision(instance, parameters={"name": "someone"}).status_code == 409

    first = platform.bind(instance, binding, bind_resource={"app_guid": "app-1"})
    assert first.status_code == 201
    repeat = platform.bind(instance, binding, bind_resource={"app_guid": "app-1"})
    assert repeat.status_code == 200
    # The first key is stored only as a digest: the repeat brings a new key, and the one the
    # platform did not receive is revoked.
    old, new = first.json["credentials"]["api_key"], repeat.json["credentials"]["api_key"]
    assert old != new
    assert api.get("/api/v1/accounts/me", headers=bearer(old)).status_code == 401
    assert api.get("/api/v1/accounts/me", headers=bearer(new)).status_code == 200
    assert platform.bind(instance, binding, bind_resource={"app_guid": "app-2"}).status_code == 409
    other_instance = str(uuid.uuid4())
    assert platform.provision(other_instance).status_code == 201
    elsewhere = platform.bind(other_instance, binding, bind_resource={"app_guid": "app-1"})
    assert elsewhere.status_code == 409 and "another instance" in elsewhere.json["description"]
    assert platform.unbind(other_instance, binding).status_code == 410    # not this instance's
    assert api.get("/api/v1/accounts/me", headers=bearer(new)).status_code == 200

    # Refusals are the platform's requests answered, not failures: no traceback in the logs.
    assert not [r for r in caplog.records if r.name.startswith("dispatcher.broker") and r.levelname == "ERROR"]


def test_plan_change_and_a_refused_downgrade(broker_app, platform):
    api = broker_app.test_client()
    instance = str(uuid.uuid4())
    assert platform.provision(instance, plan="standard").status_code == 201
    key = bearer(platform.bind(instance, "b1", plan="standard").json["credentials"]["api_key"])
    jobs = [api.post("/api/v1/jobs", json=JOB, headers=key).json["id"] for _ in range(12)]

    refused = platform.update(instance, plan="free")
    assert refused.status_code == 422
    assert refused.json["error"] == "UnprocessableEntity"
    assert "holds 12 jobs and the free plan holds at most 10; delete 2 of its jobs first" in refused.json["description"]
    assert api.get("/api/v1/accounts/me", headers=key).json["plan"] == "standard"

    for job in jobs[:2]:
        assert api.delete(f"/api/v1/jobs/{job}", headers=key).status_code == 204
    assert (platform.update(instance, plan="free").status_code, platform.update(instance).status_code) == (200, 200)
    assert api.get("/api/v1/accounts/me", headers=key).json["plan"] == "free"
    assert platform.call("GET", f"/v2/service_instances/{instance}").json["plan_id"] == platform.plans["free"]
    over = api.post("/api/v1/jobs", json=JOB, headers=key)
    assert over.status_code == 403 and over.json["error"]["code"] == "quota_exceeded"
    # A plan change by the administrator shows in the instance too.
    account = api.get("/api/v1/accounts/me", headers=key).json["id"]
    assert api.patch(f"/api/v1/accounts/{account}", json={"plan": "unlimited"}, headers=ADMIN).status_code == 200
    assert platform.call("GET", f"/v2/service_instances/{instance}").json["plan_id"] == platform.plans["unlimited"]


def test_an_account_deleted_by_the_administrator_takes_its_instance(broker_app, platform):
    api = broker_app.test_client()
    instance = str(uuid.uuid4())
    assert platform.provision(instance).status_code == 201
    assert platform.bind(instance, "b1").status_code == 201
    account = account_named(api, f"osb-{instance}")["id"]
    assert api.delete(f"/api/v1/accounts/{account}", headers=ADMIN).status_code == 204
    assert platform.call("GET", f"/v2/service_instances/{instance}").status_code == 404
    assert platform.call("GET", f"/v2/service_instances/{instance}/service_bindings/b1").status_code == 404
    assert platform.deprovision(instance).status_code == 410


@pytest.mark.parametrize("call, status, says", [
    (lambda p: p.provision("i1", service_id="other-service"), 400, "unknown service_id"),
    (lambda p: p.provision("i1", plan_id="no-such-plan"), 400, "plan_id not found"),
    (lambda p: p.provision("i1", parameters={"max_jobs": 100}), 400, "unknown parameter(s) max_jobs"),
    (lambda p: p.provision("i1", parameters={"name": "a b"}), 400, "parameter name must be"),
    (lambda p: p.provision("i1", organization_guid=None, space_guid=None), 400, "Organization and space guid"),
    (lambda p: p.call("PUT", "/v2/service_instances/i1", None), 400, "application/json"),
    (lambda p: p.provision("x" * 256), 400, "more than 255 characters"),
    (lambda p: p.update("missing", plan="standard"), 422, "no service instance 'missing'"),
    (lambda p: p.bind("missing", "b1"), 422, "no service instance 'missing'"),
    (lambda p: p.call("DELETE", "/v2/service_instances/i1"), 400, "plan_id"),
])
def test_bad_requests_are_refused_in_the_spec_shape(platform, call, status, says):
    answer = call(platform)
    assert answer.status_code == status, answer.json
    assert set(answer.json) <= {"error", "description"} and says in answer.json["description"]


def test_missing_things_answer_as_the_spec_says(platform):
    assert platform.provision("i1").status_code == 201
    assert platform.bind("i1", "b1", parameters={"ttl": 5}).status_code == 400
    assert platform.call("GET", "/v2/service_instances/missing").status_code == 404
    assert platform.call("GET", "/v2/service_instances/i1/service_bindings/missing").status_code == 404
    assert platform.deprovision("missing").status_code == 410
    assert platform.unbind("i1", "missing").status_code == 410
    # Nothing is asynchronous: there is no operation to poll.
    assert platform.call("GET", "/v2/service_instances/i1/last_operation").status_code == 501


# -- the broker's authentication, version, switch and limits ---------------------------------------

@pytest.mark.parametrize("auth, headers", [
    (None, {}),
    ((USER, "wrong-password"), {}),
    (("someone", PASSWORD), {}),
    (None, ADMIN),                                      # an API key does not open the broker
])
def test_wrong_broker_credentials_answer_401(platform, auth, headers):
    answer = platform.call("GET", "/v2/catalog", auth=auth, headers=headers)
    assert answer.status_code == 401
    assert answer.json["error"] == "Unauthorized" and answer.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("version, status", [
    (None, 412), ("", 412), ("two", 400), ("2.12", 412), ("1.99", 412), ("3.0", 412), ("2.13", 200), ("2.17", 200),
])
def test_the_version_header(platform, version, status):
    headers = {"X-Broker-API-Version": version} if version is not None else {}
    answer = platform.client.get("/v2/catalog", auth=(USER, PASSWORD), headers=headers)
    assert answer.status_code == status
    if status != 200:
        assert "X-Broker-API-Version" in answer.json["description"] or "version" in answer.json["description"]


def test_the_request_identity_is_answered_back(platform):
    answer = platform.call("GET", "/v2/catalog", headers={"X-Broker-API-Request-Identity": "req-42"})
    assert answer.headers["X-Broker-API-Request-Identity"] == "req-42"
    refused = platform.call("GET", "/v2/catalog", auth=None, headers={"X-Broker-API-Request-Identity": "req-43"})
    assert refused.status_code == 401 and refused.headers["X-Broker-API-Request-Identity"] == "req-43"


def test_the_broker_is_off_when_its_credentials_are_unset(make_app):
    client = make_app().test_client()
    for method, path in [("GET", "/v2/catalog"), ("PUT", "/v2/service_instances/i1"),
                         ("GET", "/v2/service_instances/i1/service_bindings/b1")]:
        answer = client.open(path, method=method, auth=(USER, PASSWORD), headers=VERSION, json={})
        assert answer.status_code == 404
        assert answer.json["error"]["code"] == "not_found"       # as any unknown path answers
    assert client.get("/api/v1/accounts/me", headers=ADMIN).status_code == 200


def test_the_api_keeps_its_own_authentication_and_errors(broker_app):
    client = broker_app.test_client()
    answer = client.get("/api/v1/accounts/me", auth=(USER, PASSWORD))
    assert answer.status_code == 401 and answer.json["error"]["code"] == "unauthorized"
    assert client.get("/healthz").status_code == 200


def test_broker_routes_are_limited_per_platform(make_app):
    app = make_app(BROKER_USERNAME=USER, BROKER_PASSWORD=PASSWORD, RATE_LIMIT="3 per minute")
    client = app.test_client()
    answers = [client.get("/v2/catalog", auth=(USER, PASSWORD), headers=VERSION).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = client.get("/v2/catalog", auth=(USER, PASSWORD), headers=VERSION)
    assert limited.json["error"] == "TooManyRequests" and "Retry-After" in limited.headers
    # The platform's count is its own: the API's callers are counted apart.
    assert client.get("/api/v1/accounts/me", headers=ADMIN).status_code == 200


# -- against gunicorn ----------------------------------------------------------------------------

def call(url, method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_lifecycle_against_gunicorn(tmp_path):
    """Two workers: a key revoked through one is refused by both within AUTH_CACHE_SECONDS."""
    settings = (f"BROKER_USERNAME = {USER!r}\nBROKER_PASSWORD = {PASSWORD!r}\n"
                f"BROKER_API_URL = 'https://orchestrator.example.com'\nAUTH_CACHE_SECONDS = 0.5\n"
                f"SCHEDULER_ENABLED = False\n")
    service = Service(tmp_path / "svc", ADMIN_KEY, workers=2, settings=settings).start()
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    platform = {"Authorization": basic, **VERSION}
    try:
        status, catalog = call(service.url, "GET", "/v2/catalog", headers=platform)
        assert status == 200
        plans = {p["name"]: p["id"] for p in catalog["services"][0]["plans"]}
        instance = str(uuid.uuid4())
        body = {"service_id": SERVICE_ID, "plan_id": plans["free"], "organization_guid": "o", "space_guid": "s"}
        assert call(service.url, "PUT", f"/v2/service_instances/{instance}", body,
                    {**platform, **identity()}) == (201, {})
        assert call(service.url, "PUT", f"/v2/service_instances/{instance}", body, platform) == (200, {})
        status, bound = call(service.url, "PUT", f"/v2/service_instances/{instance}/service_bindings/b1",
                             {"service_id": SERVICE_ID, "plan_id": plans["free"]}, platform)
        assert status == 201 and bound["credentials"]["url"] == "https://orchestrator.example.com"
        token = bound["credentials"]["api_key"]
        for _ in range(6):    # spread over both workers, each caching the key
            assert service.call("GET", "/api/v1/accounts/me", key=token)[0] == 200
        assert service.call("POST", "/api/v1/jobs", JOB, key=token)[0] == 201

        query = f"?service_id={SERVICE_ID}&plan_id={plans['free']}"
        assert call(service.url, "DELETE", f"/v2/service_instances/{instance}/service_bindings/b1{query}",
                    headers=platform) == (200, {})
        time.sleep(0.6)
        assert {service.call("GET", "/api/v1/accounts/me", key=token)[0] for _ in range(10)} == {401}

        assert call(service.url, "DELETE", f"/v2/service_instances/{instance}{query}", headers=platform) == (200, {})
        status, accounts = service.call("GET", "/api/v1/accounts")
        assert status == 200 and f"osb-{instance}" not in {a["name"] for a in accounts["items"]}
        assert call(service.url, "DELETE", f"/v2/service_instances/{instance}{query}", headers=platform)[0] == 410
        assert call(service.url, "GET", "/v2/catalog", headers={"Authorization": "Basic eDp5", **VERSION})[0] == 401
    finally:
        service.stop()
