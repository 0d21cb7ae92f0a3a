"""A fake DigitalOcean API (v2) on 127.0.0.1 that answers with libcloud's own shipped fixtures.

libcloud's ``DigitalOceanComputeMockHttp`` (``libcloud/test/compute/test_digitalocean_v2.py``)
cannot be imported here: ``libcloud.test`` imports ``requests_mock``, which is not one of our
dependencies. The JSON files it serves ship with libcloud all the same
(``libcloud/test/compute/fixtures/digitalocean_v2``, read without importing ``libcloud.test``),
so this server answers the same paths with the same files over real HTTP, and the real
``DigitalOcean_v2_NodeDriver`` runs unchanged. It is pointed here the way libcloud's own tests
do it, by its connection class's ``conn_class``: :meth:`FakeDigitalOcean.transport` is a
``LibcloudConnection`` that sends to this server whatever host the driver names. (The driver
arguments ``host``/``port``/``secure`` cannot be used: ``DigitalOceanNodeDriver.__new__`` in
libcloud 3.9 rejects every keyword argument.)

Routes (anything else answers 404 with DigitalOcean's error shape): ``GET /v2/droplets``,
``/v2/sizes``, ``/v2/images``, ``/v2/regions``, ``/v2/droplets/3164444``;
``POST /v2/droplets/3164444/actions`` (201, reboot accepted); ``DELETE /v2/droplets/3164444``
(204). A request without ``Authorization: Bearer <token>`` answers 401, as DigitalOcean does.
The fixtures are static: a destroyed droplet is still listed afterwards.
"""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
from pathlib import Path
import threading
from urllib.parse import urlsplit

import libcloud
from libcloud.http import LibcloudConnection

FIXTURES = Path(libcloud.__file__).parent / "test" / "compute" / "fixtures" / "digitalocean_v2"
NODE_ID = "3164444"  # the one droplet of list_nodes.json

ROUTES = {
    ("GET", "/v2/droplets"): (200, "list_nodes.json"),
    ("GET", "/v2/sizes"): (200, "list_sizes.json"),
    ("GET", "/v2/images"): (200, "list_images.json"),
    ("GET", "/v2/regions"): (200, "list_locations.json"),
    ("GET", f"/v2/droplets/{NODE_ID}"): (200, "list_node.json"),
    ("POST", f"/v2/droplets/{NODE_ID}/actions"): (201, "reboot_node.json"),
    ("DELETE", f"/v2/droplets/{NODE_ID}"): (204, None),
}


def fixture(name):
    """The parsed JSON of one shipped fixture file."""
    return json.loads((FIXTURES / name).read_text())


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeDigitalOcean/2"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        self.server.requests.append((self.command, path, body))
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            return self._send(401, (FIXTURES / "error.json").read_bytes())
        status, name = ROUTES.get((self.command, path), (404, None))
        if status == 404:
            return self._send(404, json.dumps({
                "id": "not_found", "message": "The resource you were accessing could not be found."}).encode())
        self._send(status, (FIXTURES / name).read_bytes() if name else b"")

    def _send(self, status, payload):
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PUT = _answer

    def log_message(self, *args):  # keep test output free of access logs
        pass


class FakeDigitalOcean:
    """A running fake: ``.port``, ``.token``, ``.requests`` [(method, path, body)], ``.close()``."""

    def __init__(self, token="do-token-0123456789abcdef"):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.token = self.token = token
        self._server.requests = self.requests = []
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="fake-digitalocean", daemon=True)
        self._thread.start()

    def settings(self, token=None):
        """Our ``CLOUD_FARM`` entry for this fake (``token`` defaults to the one it accepts)."""
        return {"ENGINE": "digitalocean", "USER": token or self.token}

    def transport(self):
        """A libcloud ``conn_class`` that sends every request to this server, over plain HTTP."""
        fake_port = self.port

        class ToFakeDigitalOcean(LibcloudConnection):
            def __init__(self, host, port, secure=None, **kwargs):
                super().__init__("127.0.0.1", fake_port, secure=False, **kwargs)

        return ToFakeDigitalOcean

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
