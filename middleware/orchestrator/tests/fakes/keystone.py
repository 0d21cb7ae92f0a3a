"""A small OpenStack on 127.0.0.1: Keystone v3 identity and a Nova-like compute API.

mimic speaks only Keystone v2; real clouds speak v3. :class:`FakeOpenStack` starts two HTTP
servers on their own ports, as Keystone (5000) and Nova (8774) are in a real deployment:

- identity: ``POST /v3/auth/tokens`` with password credentials scoped to a project answers
  201 with the token in ``X-Subject-Token`` and a catalog whose public ``compute`` endpoint
  (``nova``, ``RegionOne``) is the compute server. Wrong credentials answer 401 (JSON).
  Anything else, ``/v2.0/tokens`` included, answers Keystone's HTML 404 page (Keystone is a
  Flask application: unrouted URLs get werkzeug's page).
- compute, under ``/v2.1/<project id>``: ``servers`` (list, detail, create, show, reboot,
  delete), ``flavors/detail`` and ``images/detail``, in the shapes Nova answers. Every request
  needs a live token of that project, else 401 as keystonemiddleware answers it; the request
  is then not performed.

Control: :meth:`revoke_tokens` (as ``openstack token revoke`` does), :meth:`outage` (the
compute endpoint answers a proxy's HTML error page), and the counters ``tokens_issued``,
``compute_401`` and ``seen`` (every request, as ``(server, method, path)``).
"""
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import threading
import uuid

DOMAIN = {"id": "default", "name": "Default"}
FLAVORS = [{"id": "1", "name": "m1.tiny", "ram": 512, "disk": 1, "vcpus": 1, "swap": "",
            "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False},
           {"id": "2", "name": "m1.small", "ram": 2048, "disk": 20, "vcpus": 1, "swap": "",
            "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False}]
IMAGE_ID = "70a599e0-31e7-49b7-b260-868f441e862b"
IMAGES = [{"id": IMAGE_ID, "name": "cirros-0.6.2-x86_64-disk", "status": "ACTIVE", "progress": 100,
           "minDisk": 0, "minRam": 0, "metadata": {}, "created": "2024-01-01T00:00:00Z",
           "updated": "2024-01-01T00:00:00Z"}]
NOT_FOUND_PAGE = (b'<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n'
                  b'<p>The requested URL was not found on the server. If you entered the URL manually '
                  b'please check your spelling and try again.</p>\n')
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}


def _now():
    return datetime.now(timezone.utc)


def _stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        cloud, role = self.server.cloud, self.server.role
        path = self.path.split("?", 1)[0]
        with cloud.lock:
            cloud.seen.append((role, self.command, path))
        status, content_type, answer, headers = getattr(cloud, f"_{role}")(self, path, payload)
        if isinstance(answer, (dict, list)):
            answer = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(answer)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True


JSON = "application/json"
HTML = "text/html; charset=utf-8"


class FakeOpenStack:
    """Keystone v3 and a Nova-like compute API on 127.0.0.1 (see the module docstring)."""

    def __init__(self, user="demo", password="pw-keystone-5e1f0c2a", project="demo"):
        self.user, self.password, self.project = user, password, project
        self.project_id = uuid.uuid4().hex
        self.lock = threading.Lock()
        self.tokens = {}          # token -> expiry
        self.servers = {}         # id -> server document
        self.seen = []
        self.tokens_issued = 0
        self.compute_401 = 0
        self._outage = None       # (status, HTML page) the compute endpoint answers instead
        self._servers = []
        for role in ("identity", "compute"):
            server = _Server(("127.0.0.1", 0), _Handler)
            server.cloud, server.role = self, role
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self._servers.append(server)
        self.identity_url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.compute_url = f"http://127.0.0.1:{self._servers[1].server_address[1]}/v2.1/{self.project_id}"

    def settings(self, auth_url=None, **extra):
        """A ``CLOUD_FARM`` entry for this cloud, as an operator writes it for Keystone v3."""
        params = {"ex_force_auth_url": auth_url or f"{self.identity_url}/v3", "ex_tenant_name": self.project,
                  "ex_domain_name": DOMAIN["name"], **extra}
        return {"ENGINE": "openstack", "USER": self.user, "PASSWORD": self.password, "EXTRA_PARAMS": params}

    # -- control ------------------------------------------------------------------------
    def revoke_tokens(self):
        """Revoke every token issued so far."""
        with self.lock:
            self.tokens.clear()

    @contextmanager
    def outage(self, status=503):
        """While inside, the compute endpoint answers ``status`` with an HTML page (a proxy's)."""
        page = (f"<html>\r\n<head><title>{status} Service Temporarily Unavailable</title></head>\r\n"
                f"<body>\r\n<center><h1>{status} Service Temporarily Unavailable</h1></center>\r\n"
                f"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode()
        self._outage = (status, page)
        try:
            yield
        finally:
            self._outage = None

    def close(self):
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- identity -----------------------------------------------------------------------
    def _identity(self, request, path, payload):
        if request.command != "POST" or path != "/v3/auth/tokens":
            return 404, HTML, NOT_FOUND_PAGE, {}
        try:
            identity = payload["auth"]["identity"]
            user = identity["password"]["user"]
            project = payload["auth"]["scope"]["project"]
            accepted = (identity["methods"] == ["password"] and user["name"] == self.user
                        and user["password"] == self.password and user["domain"]["name"] == DOMAIN["name"]
                        and project["name"] == self.project and project["domain"]["id"] == DOMAIN["id"])
        except (KeyError, TypeError):
            return 400, JSON, {"error": {"code": 400, "title": "Bad Request",
                                         "message": "Expecting to find auth in request body."}}, {}
        if not accepted:
            return 401, JSON, UNAUTHORIZED, {}
        token = uuid.uuid4().hex
        issued = _now()
        with self.lock:
            self.tokens[token] = issued + timedelta(hours=1)
            self.tokens_issued += 1
        endpoint = {"id": uuid.uuid4().hex, "region": "RegionOne", "region_id": "RegionOne"}
        body = {"token": {
            "methods": ["password"], "issued_at": _stamp(issued), "expires_at": _stamp(issued + timedelta(hours=1)),
            "user": {"id": uuid.uuid4().hex, "name": self.user, "domain": DOMAIN},
            "project": {"id": self.project_id, "name": self.project, "domain": DOMAIN},
            "roles": [{"id": uuid.uuid4().hex, "name": "member"}],
            "catalog": [
                {"type": "compute", "name": "nova", "id": uuid.uuid4().hex, "endpoints": [
                    {**endpoint, "interface": interface, "url": self.compute_url}
                    for interface in ("public", "internal", "admin")]},
                {"type": "identity", "name": "keystone", "id": uuid.uuid4().hex, "endpoints": [
                    {**endpoint, "interface": "public", "url": f"{self.identity_url}/v3"}]},
            ]}}
        return 201, JSON, body, {"X-Subject-Token": token}

    # -- compute ------------------------------------------------------------------------
    def _compute(self, request, path, payload):
        if self._outage is not None:
            return self._outage[0], HTML, self._outage[1], {}
        with self.lock:
            expiry = self.tokens.get(request.headers.get("X-Auth-Token"))
            if expiry is None or expiry <= _now():
                self.compute_401 += 1
                return 401, JSON, UNAUTHORIZED, {"WWW-Authenticate": f'Keystone uri="{self.identity_url}"'}
        prefix = f"/v2.1/{self.project_id}"
        if not path.startswith(prefix + "/"):
            return 404, JSON, {"itemNotFound": {"code": 404, "message": "The resource could not be found."}}, {}
        parts = path[len(prefix) + 1:].split("/")
        method, payload = request.command, payload if isinstance(payload, dict) else {}
        if parts == ["flavors", "detail"] and method == "GET":
            return 200, JSON, {"flavors": FLAVORS}, {}
        if parts == ["images", "detail"] and method == "GET":
            return 200, JSON, {"images": IMAGES}, {}
        if parts[0] != "servers":
            return 404, JSON, {"itemNotFound": {"code": 404, "message": "The resource could not be found."}}, {}
        with self.lock:
            if parts in (["servers"], ["servers", "detail"]) and method == "GET":
                return 200, JSON, {"servers": list(self.servers.values())}, {}
            if parts == ["servers"] and method == "POST":
                return self._create(payload.get("server") or {})
            server = self.servers.get(parts[1])
            if server is None:
                message = f"Instance {parts[1]} could not be found."
                return 404, JSON, {"itemNotFound": {"code": 404, "message": message}}, {}
            if len(parts) == 2 and method == "GET":
                return 200, JSON, {"server": server}, {}
            if len(parts) == 2 and method == "DELETE":
                del self.servers[parts[1]]
                return 204, JSON, b"", {}
            if parts[2:] == ["action"] and method == "POST" and "reboot" in payload:
                server["updated"] = _stamp(_now())
                return 202, JSON, b"", {}
        return 405, JSON, {"error": {"code": 405, "message": "method not allowed"}}, {}

    def _create(self, spec):
        if (not spec.get("name") or spec.get("flavorRef") not in {f["id"] for f in FLAVORS}
                or spec.get("imageRef") != IMAGE_ID):
            message = "Invalid name, flavorRef or imageRef provided."
            return 400, JSON, {"badRequest": {"code": 400, "message": message}}, {}
        server_id = str(uuid.uuid4())
        link = f"{self.compute_url}/servers/{server_id}"
        stamp = _stamp(_now())
        self.servers[server_id] = {
            "id": server_id, "name": spec["name"], "status": "ACTIVE", "tenant_id": self.project_id,
            "user_id": self.user, "hostId": uuid.uuid4().hex, "metadata": spec.get("metadata") or {},
            "image": {"id": spec["imageRef"]}, "flavor": {"id": spec["flavorRef"]},
            # The node's fixed address is the loopback, so that a ping of it reaches the test's listener.
            "addresses": {"private": [{"addr": "127.0.0.1", "version": 4, "OS-EXT-IPS:type": "fixed"}]},
            "links": [{"rel": "self", "href": link}], "created": stamp, "updated": stamp,
            "key_name": None, "OS-DCF:diskConfig": "MANUAL", "accessIPv4": "", "accessIPv6": ""}
        return 202, JSON, {"server": {"id": server_id, "links": [{"rel": "self", "href": link}],
                                      "adminPass": uuid.uuid4().hex[:12], "OS-DCF:diskConfig": "MANUAL"}}, {}
