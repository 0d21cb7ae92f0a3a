"""A cloud that fails, refuses, cannot be reached or does not answer: 502/504 in the one error shape.

Failures come from the network peers only: mimic refusing a login or a create (its control
plane picks creations by server name, see ``fakes.mimic_behaviors``), a port nobody listens on,
a server that accepts and never answers, nodes that take their time to boot.
"""
import logging
import time

from libcloud.http import DEFAULT_REQUEST_TIMEOUT
import pytest

from fakes.mimic import SIZE_ID, openstack_settings, rackspace_settings
from fakes.mimic_behaviors import creation_behavior
from fakes.tcp import BrokenServer, SilentServer, closed_port

CLOUD = "/api/v1/clouds/default"
NODES = f"{CLOUD}/nodes"
SECRET = "pw-3f9a0c1e-never-shown"
MIMIC_ENGINES = {"openstack": openstack_settings, "rackspace": rackspace_settings}



def mimic_cloud(engine, port, user, secret=SECRET, **entry):
    settings = MIMIC_ENGINES[engine](port, user, secret)
    return {**settings, **entry}


def eucalyptus_cloud(port, **entry):
    return {"ENGINE": "eucalyptus", "USER": "AKIDEXAMPLE", "PASSWORD": SECRET,
            "EXTRA_PARAMS": {"host": "127.0.0.1", "port": port, "secure": False, "path": "/"}, **entry}


def unreachable(engine, port, **entry):
    """The ``default`` cloud of ``engine`` pointed at ``127.0.0.1:port``."""
    if engine == "eucalyptus":
        return eucalyptus_cloud(port, **entry)
    return mimic_cloud(engine, port, f"user-{engine}", **entry)


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == code
    return error


def first_image(client, admin):
    listed = client.get(f"{CLOUD}/images", headers=admin)
    assert listed.status_code == 200, listed.get_json()
    return listed.get_json()["items"][0]["id"]


@pytest.fixture(scope="module")
def silent():
    """A cloud endpoint that accepts connections and never answers."""
    with SilentServer() as server:
        yield server


ENGINES = ["openstack", "rackspace",
           "eucalyptus"]


# -- the cloud refuses, cannot be reached, does not answer -----------------------------------

@pytest.mark.parametrize("engine", sorted(MIMIC_ENGINES))
def test_refused_credentials_is_502_without_the_secret(mimic, make_app, admin, caplog, engine):
    user = f"locked-out-{engine}"
    mimic.fail_auth(f"{user}$")
    client = make_app(farm={"default": mimic_cloud(engine, mimic.port, user)}).test_client()
    with caplog.at_level(logging.DEBUG):
        response = client.get(f"{CLOUD}/images", headers=admin)
    error = assert_error(response, 502, "cloud_error")
    assert "credentials" in error["message"]
    assert SECRET not in response.get_data(as_text=True)
    assert SECRET not in caplog.text


@pytest.mark.parametrize("engine", ENGINES)
def test_unreachable_cloud_is_502(make_app, admin, engine):
    client = make_app(farm={"default": unreachable(engine, closed_port())}).test_client()
    response = client.get(f"{CLOUD}/images", headers=admin)
    error = assert_error(response, 502, "cloud_error")
    assert "could not be reached" in error["message"]
    assert error["details"] == {"cloud": "default", "operation": "list_images"}
    assert SECRET not in response.get_data(as_text=True)


@pytest.mark.parametrize("engine", ENGINES)
def test_unreachable_cloud_keeps_its_endpoint_out_of_the_answer(make_app, caplog, engine):
    """A normal account learns that the cloud could not be reached, not where it lives; the log says."""
    port = closed_port()
    app = make_app(farm={"default": unreachable(engine, port)})
    _, _, key = app.extensions["orchestrator.accounts"].create_account("someone", "free")
    with caplog.at_level(logging.WARNING, logger="dispatcher.lib.clouds"):
        response = app.test_client().get(f"{CLOUD}/images", headers={"Authorization": f"Bearer {key}"})
    error = assert_error(response, 502, "cloud_error")
    assert error["message"] == "cloud 'default' could not be reached"
    assert str(port) not in response.get_data(as_text=True)
    assert str(port) in caplog.text


def test_an_answer_broken_off_is_502_in_our_words(make_app, admin, caplog):
    with BrokenServer() as broken, caplog.at_level(logging.WARNING, logger="dispatcher.lib.clouds"):
        client = make_app(farm={"default": unreachable("openstack", broken.port)}).test_client()
        response = client.get(f"{CLOUD}/images", headers=admin)
    error = assert_error(response, 502, "cloud_error")
    assert error["message"] == "cloud 'default' failed to list images: the connection failed"
    assert "ChunkedEncodingError" in caplog.text


def test_unreachable_error_carries_no_request_signature(make_app, admin):
    client = make_app(farm={"default": eucalyptus_cloud(closed_port())}).test_client()
    response = client.get(f"{CLOUD}/images", headers=admin)
    error = assert_error(response, 502, "cloud_error")
    assert "could not be reached" in error["message"]
    assert "Signature=" not in error["message"] and "AKIDEXAMPLE" not in error["message"]


@pytest.mark.parametrize("engine", ENGINES)
def test_silent_cloud_is_504(silent, make_app, admin, engine):
    client = make_app(farm={"default": unreachable(engine, silent.port, TIMEOUT=1)}).test_client()
    started = time.monotonic()
    response = client.get(f"{CLOUD}/images", headers=admin)
    elapsed = time.monotonic() - started
    error = assert_error(response, 504, "cloud_timeout")
    assert error["details"] == {"cloud": "default", "operation": "list_images"}
    # Relative, not absolute: the cloud's TIMEOUT, not libcloud's own default, ended the wait.
    assert elapsed < DEFAULT_REQUEST_TIMEOUT / 2


# -- the cloud fails a create, or its nodes do not come up -----------------------------------

def test_failed_create_is_502_and_lists_what_was_created(mimic, make_app, admin):
    # Rackspace only: the OpenStack engine runs the same libcloud code, and its list_sizes costs
    # ~2 s of CPU per fresh app (libcloud re-reads pricing.json per flavor; see the report).
    user = "creates"
    client = make_app(farm={"default": mimic_cloud("rackspace", mimic.port, user)}).test_client()
    image = first_image(client, admin)
    with creation_behavior(mimic, user, "boom-2$", "fail", {"message": "injected boom", "code": 500}):
        response = client.post(NODES, json={"name": "boom-{n}", "image": image, "size": SIZE_ID, "count": 2},
                               headers=admin)
    error = assert_error(response, 502, "cloud_error")
    assert "1 of 2" in error["message"]
    [created] = error["details"]["created"]
    [failed] = error["details"]["failed"]
    assert created["name"] == "boom-1"
    assert failed["name"] == "boom-2"
    assert failed["error"]["code"] == "cloud_error"
    assert "injected boom" in failed["error"]["message"]
    assert failed["error"]["details"]["provider_status"] == 500
    # Nothing is lost: the node that was created exists and belongs to the caller.
    assert client.get(f"{NODES}/{created['id']}", headers=admin).status_code == 200
    assert client.delete(f"{NODES}/{created['id']}", headers=admin).status_code == 204


def test_slow_build_wait_is_504(mimic, make_app, admin):
    user = "slow-builds"
    client = make_app(farm={"default": mimic_cloud("rackspace", mimic.port, user)}).test_client()
    image = first_image(client, admin)
    with creation_behavior(mimic, user, "slow-", "build", {"duration": 600}):
        response = client.post(NODES, json={"name": "slow-1", "image": image, "size": SIZE_ID,
                                            "wait": True, "timeout": 0.5}, headers=admin)
    error = assert_error(response, 504, "cloud_timeout")
    [node_id] = error["details"]["waiting_for"]
    shown = client.get(f"{NODES}/{node_id}", headers=admin)
    assert shown.status_code == 200 and shown.get_json()["state"] == "pending"
    assert client.delete(f"{NODES}/{node_id}", headers=admin).status_code == 204


def test_node_in_error_fails_the_wait_at_once(mimic, make_app, admin):
    user = "error-builds"
    client = make_app(farm={"default": mimic_cloud("rackspace", mimic.port, user)}).test_client()
    image = first_image(client, admin)
    with creation_behavior(mimic, user, "broken-", "error"):
        response = client.post(NODES, json={"name": "broken-1", "image": image, "size": SIZE_ID,
                                            "wait": True, "timeout": 1}, headers=admin)
    error = assert_error(response, 502, "cloud_error")
    [node] = error["details"]["failed"]
    assert (node["name"], node["state"]) == ("broken-1", "error")


def test_dummy_slow_boot_wait_is_504(make_app, admin):
    farm = {"default": {"ENGINE": "dummy", "EXTRA_PARAMS": {"boot_seconds": 5}}}
    client = make_app(farm=farm).test_client()
    response = client.post(NODES, json={"name": "slow", "image": "1", "size": "1", "wait": True, "timeout": 0.5},
                           headers=admin)
    error = assert_error(response, 504, "cloud_timeout")
    [node_id] = error["details"]["waiting_for"]
    assert client.get(f"{NODES}/{node_id}", headers=admin).get_json()["state"] == "pending"


def test_dummy_boot_wait_answers_running(make_app, admin):
    farm = {"default": {"ENGINE": "dummy", "EXTRA_PARAMS": {"boot_seconds": 0.2}}}
    client = make_app(farm=farm).test_client()
    response = client.post(NODES, json={"name": "boots", "image": "1", "size": "1", "wait": True, "timeout": 30},
                           headers=admin)
    assert response.status_code == 201
    assert [n["state"] for n in response.get_json()["nodes"]] == ["running"]
