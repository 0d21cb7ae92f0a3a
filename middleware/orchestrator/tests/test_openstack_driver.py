"""OpenStack against Keystone v3: the settings operators write, revoked tokens, HTML error pages.

The peer is ``fakes.keystone``: a Keystone v3 and a Nova-like compute API on 127.0.0.1, driven
by the real libcloud OpenStack driver. mimic (Keystone v2) keeps serving the v2 path in
``test_driver_contract`` and ``test_cloud_errors``.
"""
import logging
from pathlib import Path
import re
import textwrap

import pytest

from dispatcher.errors import SettingsError
from dispatcher.lib.cloud_factory.drivers.openstack import identity_params
from dispatcher.lib.cloud_init import prepare_cloud_environment
from fakes.keystone import IMAGE_ID, FakeOpenStack

CLOUD = "/api/v1/clouds/default"
NODES = f"{CLOUD}/nodes"
HERE = Path(__file__).resolve().parent
DOCUMENTED = {"README.md": HERE.parents[2] / "README.md", "operating.rst": HERE.parent / "docs" / "operating.rst"}


@pytest.fixture
def openstack():
    with FakeOpenStack() as cloud:
        yield cloud


def client_for(make_app, entry):
    # Every list asks the cloud (no reuse of a list for NODE_LIST_SECONDS).
    return make_app(farm={"default": entry}, NODE_LIST_SECONDS=0).test_client()


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == code
    return error


# -- which identity version, at which URL ----------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ({"ex_force_auth_url": "https://keystone.example.com:5000"},
     {"ex_force_auth_url": "https://keystone.example.com:5000", "ex_force_auth_version": "3.x_password"}),
    ({"ex_force_auth_url": "https://keystone.example.com:5000/v3"},
     {"ex_force_auth_url": "https://keystone.example.com:5000", "ex_force_auth_version": "3.x_password"}),
    ({"ex_force_auth_url": "https://cloud.example.com/identity/v3/"},
     {"ex_force_auth_url": "https://cloud.example.com/identity", "ex_force_auth_version": "3.x_password"}),
    ({"ex_force_auth_url": "https://keystone.example.com:5000/v2.0"},
     {"ex_force_auth_url": "https://keystone.example.com:5000", "ex_force_auth_version": "2.0_password"}),
    ({"ex_force_auth_url": "http://127.0.0.1:8900/identity", "ex_force_auth_version": "2.0_password"},
     {"ex_force_auth_url": "http://127.0.0.1:8900/identity", "ex_force_auth_version": "2.0_password"}),
    ({"ex_force_auth_url": "https://keystone.example.com:5000/v3", "ex_force_auth_version": "3.x_appcred"},
     {"ex_force_auth_url": "https://keystone.example.com:5000", "ex_force_auth_version": "3.x_appcred"}),
])
def test_identity_version_and_url(given, expected):
    assert identity_params(given) == {**given, **expected}


@pytest.mark.parametrize("auth_url", ["{identity}", "{identity}/v3", "{identity}/v3/"])
def test_node_lifecycle_with_the_settings_operators_write(openstack, make_app, admin, auth_url):
    """No auth version in the settings: Keystone v3, whether the URL names /v3 or not."""
    entry = openstack.settings(auth_url.format(identity=openstack.identity_url))
    assert "ex_force_auth_version" not in entry["EXTRA_PARAMS"]
    client = client_for(make_app, entry)

    assert client.get(NODES, headers=admin).get_json()["items"] == []
    created = client.post(NODES, json={"name": "web-1", "image": IMAGE_ID, "size": "1"}, headers=admin)
    assert created.status_code == 201, created.get_json()
    [node] = created.get_json()["nodes"]
    url = f"{NODES}/{node['id']}"
    assert client.get(url, headers=admin).get_json()["name"] == "web-1"
    assert [n["id"] for n in client.get(NODES, headers=admin).get_json()["items"]] == [node["id"]]
    assert client.post(f"{url}/reboot", headers=admin).status_code == 202
    assert client.delete(url, headers=admin).status_code == 204
    assert_error(client.get(url, headers=admin), 404, "not_found")

    identity = [(method, path) for role, method, path in openstack.seen if role == "identity"]
    assert identity == [("POST", "/v3/auth/tokens")]


def documented_farm(path):
    """``CLOUD_FARM`` of the first Python example of a README (Markdown) or docs page (reST)."""
    text = path.read_text()
    if path.suffix == ".md":
        code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    else:
        code = textwrap.dedent(re.search(r"\.\. code-block:: python\n\n((?: {3}.*\n|\n)+)", text).group(1))
    names = {}
    exec(code, names)
    return names["CloudConfig"].CLOUD_FARM


@pytest.mark.parametrize("page", sorted(DOCUMENTED))
def test_the_documented_openstack_entry_works_against_keystone_v3(openstack, make_app, admin, page):
    entry = documented_farm(DOCUMENTED[page])["default"]
    assert entry["ENGINE"] == "openstack" and entry["EXTRA_PARAMS"]["ex_tenant_name"] == openstack.project
    auth_url = entry["EXTRA_PARAMS"]["ex_force_auth_url"].replace("https://keystone.example.com:5000",
                                                                  openstack.identity_url)
    # The documented password is a placeholder; the suite checks that no configured secret ever
    # shows, and "secret" is an ordinary word.
    client = client_for(make_app, {**entry, "PASSWORD": openstack.password,
                                   "EXTRA_PARAMS": {**entry["EXTRA_PARAMS"], "ex_force_auth_url": auth_url}})
    listed = client.get(NODES, headers=admin)
    assert listed.status_code == 200, listed.get_json()


def test_keystone_v3_needs_the_project(openstack):
    entry = openstack.settings()
    del entry["EXTRA_PARAMS"]["ex_tenant_name"]
    with pytest.raises(SettingsError, match=r"cloud 'default': EXTRA_PARAMS ex_tenant_name is required"):
        prepare_cloud_environment({"CLOUD_FARM": {"default": entry}})


# -- a revoked token -------------------------------------------------------------------------

def test_a_revoked_token_costs_one_transparent_reauthentication(openstack, make_app, admin):
    client = client_for(make_app, openstack.settings())
    assert client.get(NODES, headers=admin).status_code == 200
    assert (openstack.tokens_issued, openstack.compute_401) == (1, 0)

    openstack.revoke_tokens()
    listed = client.get(NODES, headers=admin)
    assert listed.status_code == 200, listed.get_json()
    assert (openstack.tokens_issued, openstack.compute_401) == (2, 1)
    assert client.get(NODES, headers=admin).status_code == 200
    assert (openstack.tokens_issued, openstack.compute_401) == (2, 1)


def test_a_create_refused_for_its_token_is_sent_once_more_and_creates_one_node(openstack, make_app, admin):
    client = client_for(make_app, openstack.settings())
    body = {"name": "first", "image": IMAGE_ID, "size": "1"}
    assert client.post(NODES, json=body, headers=admin).status_code == 201   # images and sizes now known
    openstack.revoke_tokens()
    del openstack.seen[:]
    created = client.post(NODES, json={**body, "name": "second"}, headers=admin)
    assert created.status_code == 201, created.get_json()
    assert sorted(s["name"] for s in openstack.servers.values()) == ["first", "second"]
    # The create was refused unperformed, then sent once more and performed: one node, no 502.
    assert [(role, method) for role, method, _ in openstack.seen] == [
        ("compute", "POST"), ("identity", "POST"), ("compute", "POST"), ("compute", "GET")]
    assert openstack.compute_401 == 1


def test_a_token_revoked_with_the_password_changed_is_refused_after_one_attempt(openstack, make_app, admin):
    client = client_for(make_app, openstack.settings())
    assert client.get(NODES, headers=admin).status_code == 200
    openstack.revoke_tokens()
    openstack.password = "changed-on-the-identity-side"
    error = assert_error(client.get(NODES, headers=admin), 502, "cloud_error")
    assert "refused our credentials" in error["message"]
    assert (openstack.tokens_issued, openstack.compute_401) == (1, 1)
    assert [path for role, _, path in openstack.seen if role == "identity"] == ["/v3/auth/tokens"] * 2


def test_wrong_credentials_are_refused_without_a_retry(openstack, make_app, admin):
    entry = {**openstack.settings(), "PASSWORD": "not-the-password"}
    error = assert_error(client_for(make_app, entry).get(NODES, headers=admin), 502, "cloud_error")
    assert "refused our credentials" in error["message"]
    assert [path for role, _, path in openstack.seen if role == "identity"] == ["/v3/auth/tokens"]


# -- HTML error pages ------------------------------------------------------------------------

def test_keystone_v2_against_a_v3_only_keystone_answers_what_failed(openstack, make_app, admin):
    """Keystone answers ``/v2.0/tokens`` with its HTML 404 page: the page is not the message."""
    client = client_for(make_app, openstack.settings(ex_force_auth_version="2.0_password"))
    error = assert_error(client.get(NODES, headers=admin), 502, "cloud_error")
    assert error["message"] == "cloud 'default' failed to list nodes: the provider answered HTTP 404 (an HTML page)"
    assert error["details"] == {"cloud": "default", "operation": "list_nodes", "provider_status": 404}


def test_an_html_error_page_of_the_compute_api_answers_what_failed(openstack, make_app, admin, caplog):
    client = client_for(make_app, openstack.settings())
    with openstack.outage(503), caplog.at_level(logging.WARNING, logger="dispatcher.lib.clouds"):
        error = assert_error(client.get(f"{CLOUD}/images", headers=admin), 502, "cloud_error")
    assert error["message"] == "cloud 'default' failed to list images: the provider answered HTTP 503 (an HTML page)"
    assert error["details"]["provider_status"] == 503
    assert "<center>nginx</center>" in caplog.text      # the operator still sees the page
    assert client.get(f"{CLOUD}/images", headers=admin).status_code == 200
