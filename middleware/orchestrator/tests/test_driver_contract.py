"""One contract, every driver: the node lifecycle through our HTTP API, over each kind of peer.

``cloud_peer`` runs the same tests over the Dummy cloud, OpenStack and Rackspace (both against
mimic, whose identity is Keystone v2), OpenStack against Keystone v3 (``fakes.keystone``, with
the settings an operator writes: an ``OS_AUTH_URL`` ending in ``/v3`` and no auth version),
Eucalyptus (against moto's EC2) and the ``example`` entry-point plugin. The network
peers start once per module; every test builds a fresh application over them.

The contract, as these tests state it:

- ``GET /clouds/default`` names the engine and driver class and says, per operation, whether
  the driver can do it; ``images`` and ``sizes`` list what a create accepts; ``locations``
  answers 501 ``not_supported`` where the driver cannot list them (Eucalyptus).
- A create keeps the requested names (``{n}`` counts from 1) and answers the nodes; with
  ``wait`` it answers once they run. A node can be shown, listed, rebooted (202), pinged
  (200, same shape everywhere; only the in-process clouds have an address we can reach) and
  destroyed (204).
- After a destroy the node is gone: 404. Exception: EC2-style clouds (Eucalyptus here) keep
  terminated instances visible for a while, so there the node answers 200 with state
  ``terminated`` (and never a live state). We do not hide such nodes: the cloud's own view
  is what an operator expects to see; a client should treat ``terminated`` as gone.
- An unknown node is 404 and an unknown image 422 naming ``image``, in the one error shape.
"""
from dataclasses import dataclass

import pytest

from fakes.keystone import IMAGE_ID as KEYSTONE_IMAGE, FakeOpenStack
from fakes.mimic import SIZE_ID as MIMIC_SIZE, openstack_settings, rackspace_settings
from fakes.moto_ec2 import running_moto_ec2
from fakes.tcp import SilentServer

CLOUD = "/api/v1/clouds/default"
NODES = f"{CLOUD}/nodes"
OPERATIONS = ("list_nodes", "create_node", "reboot_node", "destroy_node", "list_images", "list_sizes",
              "list_locations")
NODE_KEYS = {"id", "name", "state", "public_ips", "private_ips", "size", "image", "extra"}
PING_KEYS = {"node_id", "state", "address", "port", "reachable", "latency_ms", "error"}



@dataclass(frozen=True)
class Peer:
    """One kind of cloud behind our API, and what the contract expects of it."""

    name: str
    settings: dict                  # the CLOUD_FARM entry
    driver: str                     # our driver class that serves it
    size: str
    image: str | None = None        # None: the first image the cloud lists
    local: bool = False             # nodes have 127.0.0.1 as address (the ping reaches us)
    has_locations: bool = True
    keeps_terminated: bool = False  # destroyed nodes stay visible as 'terminated'


@pytest.fixture(scope="module")
def moto_ec2():
    with running_moto_ec2() as settings:
        yield settings


@pytest.fixture(scope="module")
def keystone_v3():
    with FakeOpenStack() as cloud:
        yield cloud


@pytest.fixture(scope="module", params=[
    "dummy", "openstack", "openstack-keystone-v3", "rackspace",
    "eucalyptus",
    "example",
])
def cloud_peer(request):
    """The peer under test; mimic, moto and the Keystone v3 cloud start on first use and stop with
    the module."""
    kind = request.param
    if kind == "dummy":
        return Peer(kind, {"ENGINE": "dummy", "EXTRA_PARAMS": {}}, "DummyDriver", size="1", image="1",
                    local=True)
    if kind == "example":
        return Peer(kind, {"ENGINE": "example", "USER": "region-1", "EXTRA_PARAMS": {}}, "ExampleDriver",
                    size="1", image="1", local=True)
    if kind == "openstack":
        return Peer(kind, openstack_settings(request.getfixturevalue("mimic").port), "OpenStackDriver",
                    size=MIMIC_SIZE)
    if kind == "openstack-keystone-v3":
        return Peer(kind, request.getfixturevalue("keystone_v3").settings(), "OpenStackDriver", size="1",
                    image=KEYSTONE_IMAGE, local=True)
    if kind == "rackspace":
        return Peer(kind, rackspace_settings(request.getfixturevalue("mimic").port), "RackspaceDriver",
                    size=MIMIC_SIZE)
    settings = dict(request.getfixturevalue("moto_ec2"))
    image, size = settings.pop("image"), settings.pop("size")
    return Peer(kind, settings, "EucalyptusDriver", size=size, image=image, has_locations=False,
                keeps_terminated=True)


@pytest.fixture
def client(cloud_peer, make_app):
    """A client of a fresh application whose default cloud is the peer."""
    return make_app(farm={"default": cloud_peer.settings}).test_client()


@pytest.fixture(scope="module")
def listener():
    """A TCP port on 127.0.0.1 that accepts connections: what a ping of a local node reaches."""
    with SilentServer() as server:
        yield server


def image_of(client, admin, peer):
    """The image to create nodes from: the peer's known one, else the first listed."""
    if peer.image is not None:
        return peer.image
    listed = client.get(f"{CLOUD}/images", headers=admin)
    assert listed.status_code == 200, listed.get_json()
    return listed.get_json()["items"][0]["id"]


def create(client, admin, peer, **body):
    body = {"image": image_of(client, admin, peer), "size": peer.size, **body}
    return client.post(NODES, json=body, headers=admin)


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return error


def assert_node(node):
    assert set(node) == NODE_KEYS
    assert isinstance(node["id"], str) and node["id"]
    assert isinstance(node["state"], str)
    assert all(isinstance(ip, str) for ip in node["public_ips"] + node["private_ips"])
    assert isinstance(node["extra"], dict)


# -- the cloud and its catalog -------------------------------------------------------------

def test_capabilities(client, admin, cloud_peer):
    response = client.get(CLOUD, headers=admin)
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("name", "engine", "driver", "default")} == {
        "name": "default", "engine": cloud_peer.settings["ENGINE"], "driver": cloud_peer.driver, "default": True}
    expected = {op: True for op in OPERATIONS}
    expected["list_locations"] = cloud_peer.has_locations
    assert body["capabilities"] == expected


def test_images_and_sizes(client, admin, cloud_peer):
    images = client.get(f"{CLOUD}/images", headers=admin)
    sizes = client.get(f"{CLOUD}/sizes", headers=admin)
    assert images.status_code == sizes.status_code == 200
    image_items, size_items = images.get_json()["items"], sizes.get_json()["items"]
    assert image_items and size_items
    assert all(set(i) == {"id", "name", "extra"} for i in image_items)
    assert all(set(s) == {"id", "name", "ram", "disk", "bandwidth", "price", "extra"} for s in size_items)
    assert cloud_peer.size in {s["id"] for s in size_items}
    if cloud_peer.image is not None:
        assert cloud_peer.image in {i["id"] for i in image_items}


def test_locations(client, admin, cloud_peer):
    response = client.get(f"{CLOUD}/locations", headers=admin)
    if cloud_peer.has_locations:
        assert response.status_code == 200
        items = response.get_json()["items"]
        assert items and all(set(x) == {"id", "name", "country"} for x in items)
    else:
        error = assert_error(response, 501, "not_supported")
        assert error["details"]["operation"] == "list_locations"


# -- nodes -----------------------------------------------------------------------------------

def test_create_many_keeps_names(client, admin, cloud_peer):
    response = create(client, admin, cloud_peer, name="batch-{n}", count=2)
    assert response.status_code == 201, response.get_json()
    nodes = response.get_json()["nodes"]
    for node in nodes:
        assert_node(node)
    assert [n["name"] for n in nodes] == ["batch-1", "batch-2"]
    assert len({n["id"] for n in nodes}) == 2
    for node in nodes:
        shown = client.get(f"{NODES}/{node['id']}", headers=admin)
        assert shown.status_code == 200 and shown.get_json()["name"] == node["name"]
        assert client.delete(f"{NODES}/{node['id']}", headers=admin).status_code == 204


def test_node_lifecycle(client, admin, cloud_peer, listener):
    created = create(client, admin, cloud_peer, name="life", wait=True, timeout=30)
    assert created.status_code == 201, created.get_json()
    [node] = created.get_json()["nodes"]
    assert_node(node)
    assert (node["name"], node["state"]) == ("life", "running")
    url = f"{NODES}/{node['id']}"

    shown = client.get(url, headers=admin)
    assert shown.status_code == 200
    assert (shown.get_json()["id"], shown.get_json()["name"]) == (node["id"], "life")
    listed = client.get(NODES, headers=admin).get_json()["items"]
    assert node["id"] in {n["id"] for n in listed}

    rebooted = client.post(f"{url}/reboot", headers=admin)
    assert rebooted.status_code == 202
    assert_node(rebooted.get_json())
    assert rebooted.get_json()["id"] == node["id"]
    assert rebooted.get_json()["state"] in ("rebooting", "running")

    pinged = client.post(f"{url}/ping", json={"port": listener.port, "timeout": 1}, headers=admin)
    assert pinged.status_code == 200
    ping = pinged.get_json()
    assert set(ping) == PING_KEYS
    assert (ping["node_id"], ping["port"]) == (node["id"], listener.port)
    assert isinstance(ping["reachable"], bool)
    if cloud_peer.local:
        assert (ping["address"], ping["reachable"], ping["error"]) == ("127.0.0.1", True, None)
        assert ping["latency_ms"] >= 0
    else:
        # Fake public addresses: whether they answer depends on the network the tests run in.
        assert ping["address"] in node["public_ips"] + node["private_ips"]

    destroyed = client.delete(url, headers=admin)
    assert destroyed.status_code == 204 and destroyed.get_data() == b""
    after = client.get(url, headers=admin)
    if cloud_peer.keeps_terminated:
        assert after.status_code == 200 and after.get_json()["state"] == "terminated"
    else:
        assert_error(after, 404, "not_found")
        assert node["id"] not in {n["id"] for n in client.get(NODES, headers=admin).get_json()["items"]}


@pytest.mark.parametrize("method, suffix", [("get", ""), ("delete", ""), ("post", "/reboot"), ("post", "/ping")])
def test_unknown_node_is_404(client, admin, cloud_peer, method, suffix):
    response = getattr(client, method)(f"{NODES}/no-such-node-42{suffix}", headers=admin)
    error = assert_error(response, 404, "not_found")
    assert error["details"] == {"cloud": "default", "node": "no-such-node-42"}


def test_unknown_image_is_422(client, admin, cloud_peer):
    response = client.post(NODES, json={"name": "x", "image": "no-such-image", "size": cloud_peer.size},
                           headers=admin)
    error = assert_error(response, 422, "validation_failed")
    assert list(error["details"]) == ["image"]
    assert "no-such-image" in error["message"]
