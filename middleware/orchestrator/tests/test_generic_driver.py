"""Clouds beyond the four named ones: any libcloud provider through GenericDriver, and plugins.

DigitalOcean stands for "every other libcloud provider": ``ENGINE 'digitalocean'`` with the
API token as ``USER``, served by :class:`GenericDriver` and the real libcloud driver, which
talks to ``fakes.digitalocean`` (libcloud's own shipped fixtures over HTTP on 127.0.0.1).
The ``example`` ENGINE comes from the ``orchestrator.drivers`` entry point of the package in
``tests/plugins/example_driver`` (``make test`` installs it).
"""
from importlib.metadata import entry_points

from libcloud.compute.drivers.digitalocean import DigitalOcean_v2_NodeDriver
import pytest

from dispatcher.lib.cloud_factory import get_driver_class
from fakes.digitalocean import NODE_ID, FakeDigitalOcean, fixture

CLOUD = "/api/v1/clouds/default"
NODES = f"{CLOUD}/nodes"



@pytest.fixture(scope="module")
def digitalocean():
    """The fake, with libcloud's DigitalOcean connection sent to it (restored afterwards)."""
    with FakeDigitalOcean() as fake, pytest.MonkeyPatch.context() as patch:
        patch.setattr(DigitalOcean_v2_NodeDriver.connectionCls, "conn_class", fake.transport())
        yield fake


@pytest.fixture
def client(digitalocean, make_app):
    return make_app(farm={"default": digitalocean.settings()}).test_client()


def items(client, admin, path):
    response = client.get(path, headers=admin)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


# -- DigitalOcean through the generic driver ---------------------------------------------------

def test_digitalocean_is_served_by_the_generic_driver(client, admin):
    body = client.get(CLOUD, headers=admin).get_json()
    assert {k: body[k] for k in ("name", "engine", "driver", "default")} == {
        "name": "default", "engine": "digitalocean", "driver": "GenericDriver", "default": True}


def test_digitalocean_capabilities(client, admin):
    capabilities = client.get(CLOUD, headers=admin).get_json()["capabilities"]
    assert capabilities == dict.fromkeys(capabilities, True) and len(capabilities) == 7


def test_digitalocean_lists_nodes(client, admin):
    [droplet] = fixture("list_nodes.json")["droplets"]
    [node] = items(client, admin, NODES)
    assert (node["id"], node["name"], node["state"]) == (str(droplet["id"]), droplet["name"], "running")
    assert node["public_ips"] and node["private_ips"]


def test_digitalocean_lists_sizes(client, admin):
    sizes = items(client, admin, f"{CLOUD}/sizes")
    expected = fixture("list_sizes.json")["sizes"]
    assert [(s["id"], s["ram"], s["disk"]) for s in sizes] == [(x["slug"], x["memory"], x["disk"]) for x in expected]


def test_digitalocean_lists_images(client, admin):
    images = items(client, admin, f"{CLOUD}/images")
    assert [(i["id"], i["name"]) for i in images] == [
        (str(x["id"]), x["name"]) for x in fixture("list_images.json")["images"]]


def test_digitalocean_lists_locations(client, admin):
    locations = items(client, admin, f"{CLOUD}/locations")
    assert {x["id"] for x in locations} == {
        r["slug"] for r in fixture("list_locations.json")["regions"] if r["available"]}


def test_digitalocean_node_operations(client, admin, digitalocean):
    url = f"{NODES}/{NODE_ID}"
    shown = client.get(url, headers=admin)
    assert shown.status_code == 200 and shown.get_json()["id"] == NODE_ID
    assert client.post(f"{url}/reboot", headers=admin).status_code == 202
    assert client.delete(url, headers=admin).status_code == 204
    sent = [(method, path) for method, path, _ in digitalocean.requests]
    assert ("POST", f"/v2/droplets/{NODE_ID}/actions") in sent
    assert ("DELETE", f"/v2/droplets/{NODE_ID}") in sent
    unknown = client.get(f"{NODES}/999", headers=admin)
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "not_found"


def test_digitalocean_wrong_token_is_502_without_the_token(digitalocean, make_app, admin):
    token = "do-wrong-token-5d1e9b"
    client = make_app(farm={"default": digitalocean.settings(token)}).test_client()
    response = client.get(NODES, headers=admin)
    assert response.status_code == 502
    error = response.get_json()["error"]
    assert error["code"] == "cloud_error" and "credentials" in error["message"]
    assert token not in response.get_data(as_text=True)


# -- a driver from an entry-point plugin -------------------------------------------------------

@pytest.fixture
def example_plugin():
    names = {ep.name for ep in entry_points(group="orchestrator.drivers")}
    if "example" not in names:
        pytest.fail("the example driver plugin is not installed: "
                    "pip install -e tests/plugins/example_driver (make test does it)")


def test_plugin_label_resolves_to_the_plugin_class(example_plugin):
    cls = get_driver_class("example")
    assert (cls.__name__, cls.__module__) == ("ExampleDriver", "orchestrator_example_driver")


def test_plugin_cloud_shows_its_driver(example_plugin, make_app, admin):
    farm = {"default": {"ENGINE": "example", "USER": "region-1", "EXTRA_PARAMS": {"nodes": 2}}}
    client = make_app(farm=farm).test_client()
    body = client.get(CLOUD, headers=admin).get_json()
    assert (body["engine"], body["driver"]) == ("example", "ExampleDriver")
    assert client.get("/api/v1/clouds", headers=admin).get_json()["items"] == [
        {"name": "default", "engine": "example", "driver": "ExampleDriver", "default": True}]
    assert [n["name"] for n in items(client, admin, NODES)] == ["dummy-1", "dummy-2"]
