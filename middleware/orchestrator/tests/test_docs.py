"""The documentation: every route documented, the docs built as operators build them, the
worked examples of the docs run.

The docs are built by ``make_mw_docs.sh`` itself (a throwaway server on a free port, live
examples captured with curl, Sphinx with warnings as errors) into a temporary folder; which
routes they document is read from the inventory Sphinx writes (``objects.inv``).
"""
from datetime import datetime, timedelta, timezone
import hashlib
import hmac
import html
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import importlib
import inspect
import json
import os
from pathlib import Path
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from sphinx.util.inventory import InventoryFile
from sphinxcontrib.autohttp.flask_base import cleanup_methods, translate_werkzeug_rule

from conftest import DUMMY_FARM
from dispatcher.errors import SettingsError
from dispatcher.lib import cloud_factory
from dispatcher.lib.actions.method import methods

ORCHESTRATOR = Path(__file__).resolve().parents[1]
DOCS = ORCHESTRATOR / "docs"
SCRIPT = ORCHESTRATOR / "make_mw_docs.sh"
EXAMPLES_SRC = DOCS / "examples_src"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_script(**env):
    """make_mw_docs.sh with this interpreter's environment first on PATH."""
    bin_dir = os.path.dirname(sys.executable)
    env = {**os.environ, "PYTHON": sys.executable, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run([str(SCRIPT)], cwd=ORCHESTRATOR, env=env, capture_output=True, text=True, timeout=300)


def text_of(page):
    """The text of an HTML page, tags dropped (highlighted code is split into many spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def routes_of(app):
    """``(method, path)`` of every route but ``static``, in httpdomain's spelling."""
    return {(method.lower(), translate_werkzeug_rule(rule.rule))
            for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for method in cleanup_methods(rule.methods)}


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory):
    """The HTML built by make_mw_docs.sh, and the port its server used."""
    port = free_port()
    out = tmp_path_factory.mktemp("docs") / "html"
    result = run_script(PORT=str(port), BUILD_DIR=str(out))
    assert result.returncode == 0, f"make_mw_docs.sh failed:\n{result.stdout}\n{result.stderr}"
    return out, port


# -- every route documented ---------------------------------------------------------------------

def test_every_view_has_a_docstring_with_a_status_code(app):
    lacking = sorted(endpoint for endpoint, view in app.view_functions.items()
                     if endpoint != "static" and ":statuscode" not in (inspect.getdoc(view) or ""))
    assert not lacking, f"views without a docstring giving at least one :statuscode: {lacking}"


def test_every_route_is_in_the_docs(app, built_docs):
    out, _ = built_docs
    with open(out / "objects.inv", "rb") as stream:
        inventory = InventoryFile.load(stream, "", lambda base, uri: uri)
    documented = {(kind.split(":", 1)[1], path) for kind, entries in inventory.items()
                  if kind.startswith("http:") for path in entries}
    routes = routes_of(app)
    assert not routes - documented, f"routes missing from the docs: {sorted(routes - documented)}"
    assert not documented - routes, f"the docs describe routes that do not exist: {sorted(documented - routes)}"


def test_request_and_response_fields_are_told_apart(built_docs):
    """``:<json`` is the request body and ``:>json`` the response, whatever httpdomain's version."""
    out, _ = built_docs
    page = (out / "api_v1.html").read_text()
    start = page.index('id="post--api-v1-clouds-(cloud)-nodes"')
    section = page[start:page.index("</dl>", page.index("Status Codes", start))]
    order = [section.index(marker) for marker in
             ("Request JSON Object", "<strong>name</strong>", "Response JSON Object", "<strong>nodes</strong>")]
    assert order == sorted(order), "request and response fields of POST /api/v1/clouds/(cloud)/nodes are mixed up"


# -- the build and its live examples ------------------------------------------------------------

def test_examples_are_captured_live(built_docs):
    out, port = built_docs
    text = text_of(out / "examples.html")
    assert f"port {port}" in text
    assert f"Host: 127.0.0.1:{port}" in text
    assert "HTTP/1.1 201 CREATED" in text and "HTTP/1.1 202 ACCEPTED" in text
    assert '"status": "Completed"' in text             # the example job really ran
    assert "HTTP/1.1 422 UNPROCESSABLE ENTITY" in text
    assert "Authorization: Bearer <key>" in text        # the throwaway key itself is never written


def test_every_metric_family_is_documented(client):
    """Each family a scrape shows has its row in docs/monitoring.rst."""
    scrape = client.get("/metrics").get_data(as_text=True)
    families = {f for f in re.findall(r"^# TYPE (orchestrator_\w+) ", scrape, re.M) if not f.endswith("_created")}
    page = (DOCS / "monitoring.rst").read_text()
    assert len(families) >= 9
    assert not [f for f in families if f"``{f}``" not in page], "families missing from docs/monitoring.rst"


def test_monitoring_shows_a_live_scrape_log_lines_and_a_request_id(built_docs):
    out, port = built_docs
    text = text_of(out / "monitoring.html")
    assert re.search(rf"port\s+{port}\b", text)
    assert re.search(r'orchestrator_runs_total\{action="url",status="Failed"\} [1-9][0-9]*\.0', text)  # the failing example runs
    assert "orchestrator_scheduler_lease_holder{holder=" in text
    assert text.count("X-Request-Id: deploy-check-42") == 2  # sent, and answered back
    lines = [json.loads(line) for line in (DOCS / "examples" / "log-lines.jsonl").read_text().splitlines()]
    assert lines and all(line["run_id"] and line["account_id"] for line in lines)
    assert lines[-1]["level"] == "WARNING" and f'"run_id": "{lines[-1]["run_id"]}"' in text


def test_the_docs_port_is_written_once():
    script = SCRIPT.read_text()
    default = re.search(r'^PORT="\$\{PORT:-(\d+)\}"', script, re.M).group(1)
    assert script.count(default) == 1
    sources = [*DOCS.glob("*.rst"), *DOCS.glob("*.py"), *(DOCS / "_ext").glob("*.py"), *EXAMPLES_SRC.glob("*.py")]
    assert [p.name for p in sources if default in p.read_text()] == []


def test_sphinx_alone_says_to_use_the_script(tmp_path):
    """Without captured examples the build stops at once, saying how to build, rather than
    shipping pages with holes."""
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "examples", "__pycache__"))
    result = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", str(source), str(tmp_path / "html")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "build the documentation with ./make_mw_docs.sh" in result.stderr


def test_a_taken_port_is_reported(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_script(PORT=str(port), BUILD_DIR=str(tmp_path / "html"))
    assert result.returncode != 0
    assert f"port {port} is in use; set PORT=" in result.stderr
    assert not (tmp_path / "html").exists()


# -- the worked example of "Writing a driver for a new cloud" -----------------------------------

ACME = {"ENGINE": "acme", "USER": "alice", "PASSWORD": "acme-password-0123",
        "EXTRA_PARAMS": {"region": "eu-west", "project": "web"}}


class FakeIdentity:
    """A Keystone on 127.0.0.1 that refuses every token request, recording what it was sent."""

    def __init__(self):
        requests = self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                requests.append((self.path, json.loads(body or b"{}")))
                payload = b'{"error": {"code": 401, "title": "Unauthorized", "message": "no"}}'
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def acme(monkeypatch):
    """The example module, its label registered in DRIVERS for this test only."""
    monkeypatch.syspath_prepend(str(EXAMPLES_SRC))
    module = importlib.import_module("acme_driver")
    monkeypatch.setitem(cloud_factory.DRIVERS, "acme", ("acme_driver", "AcmeDriver"))
    return module


@pytest.fixture
def identity(acme, monkeypatch):
    """Acme's eu-west identity endpoint, faked."""
    fake = FakeIdentity()
    monkeypatch.setitem(acme.REGIONS, "eu-west", fake.url)
    yield fake
    fake.close()


def test_acme_label_resolves_to_the_example_driver(acme):
    assert cloud_factory.get_driver_class("acme") is acme.AcmeDriver
    assert "acme" in cloud_factory.known_labels()


def test_acme_cloud_is_served(acme, make_app, admin):
    client = make_app(farm={**DUMMY_FARM, "acme": ACME}).test_client()
    answer = client.get("/api/v1/clouds/acme", headers=admin)
    assert answer.status_code == 200
    assert answer.json["engine"] == "acme" and answer.json["driver"] == "AcmeDriver"
    assert all(answer.json["capabilities"].values())


def test_acme_settings_map_onto_keystone(identity, make_app, admin):
    """A region and a project in the settings become Keystone v3 password auth at the region's endpoint."""
    client = make_app(farm={**DUMMY_FARM, "acme": ACME}).test_client()
    answer = client.get("/api/v1/clouds/acme/nodes", headers=admin)
    assert answer.status_code == 502
    assert answer.json["error"]["message"] == "cloud 'acme' refused our credentials"
    (path, body), = identity.requests
    assert path == "/v3/auth/tokens"
    auth = body["auth"]
    assert auth["identity"]["password"]["user"]["name"] == "alice"
    assert auth["identity"]["password"]["user"]["domain"] == {"name": "Default"}
    assert auth["scope"]["project"]["name"] == "web"


@pytest.mark.parametrize("change, named", [
    ({"EXTRA_PARAMS": {"region": "mars"}}, "region must be one of eu-west, us-east"),
    ({"PASSWORD": ""}, "PASSWORD is required"),
])
def test_acme_settings_are_checked_at_start(acme, make_app, change, named):
    with pytest.raises(SettingsError, match=rf"cloud 'acme': .*{named}"):
        make_app(farm={**DUMMY_FARM, "acme": {**ACME, **change}})


# -- the worked example of "Registering methods" ------------------------------------------------

@pytest.fixture
def acme_methods(monkeypatch):
    """The example module, imported (which registers its method), forgotten afterwards."""
    monkeypatch.syspath_prepend(str(EXAMPLES_SRC))
    module = importlib.import_module("acme_methods")
    yield module
    methods.unregister("acme.count_nodes")
    sys.modules.pop("acme_methods", None)


def finished_run(client, admin, run_id, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/runs/{run_id}", headers=admin).json
        if run["status"] not in ("Submitted", "Running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s: {run}")


def method_job(name="web-*", **parameters):
    due = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    return {"schedule": {"at": due},
            "action": {"type": "method", "name": "acme.count_nodes", "parameters": {"name": name, **parameters}}}


def test_registered_method_runs_as_a_job(acme_methods, make_app, admin):
    client = make_app(SCHEDULER_ENABLED=True).test_client()
    created = client.post("/api/v1/clouds/default/nodes", headers=admin,
                          json={"name": "web-{n}", "image": "1", "size": "1", "count": 2})
    assert created.status_code == 201

    enough = client.post("/api/v1/jobs", headers=admin, json=method_job(at_least=2)).json["id"]
    run = finished_run(client, admin, client.post(f"/api/v1/jobs/{enough}/run", headers=admin).json["run_id"])
    assert run["status"] == "Completed", run
    assert run["result"] == {"name": "acme.count_nodes",
                             "value": {"cloud": "default", "count": 2, "names": ["web-1", "web-2"]}}

    too_few = client.post("/api/v1/jobs", headers=admin, json=method_job(at_least=3)).json["id"]
    run = finished_run(client, admin, client.post(f"/api/v1/jobs/{too_few}/run", headers=admin).json["run_id"])
    assert run["status"] == "Failed"
    assert "fewer than 3" in run["error"] and run["result"]["count"] == 2


def test_method_parameters_are_checked_against_its_signature(acme_methods, make_app, admin):
    client = make_app().test_client()
    answer = client.post("/api/v1/jobs", headers=admin, json=method_job(colour="blue"))
    assert answer.status_code == 422
    assert "action.parameters" in answer.json["error"]["details"]


def test_notifications_are_shown_as_the_example_server_sent_them(built_docs):
    """The notifications page shows a job disabled, its deliveries and a signed notice, captured
    live; the signature is the one its page tells receivers to check."""
    out, _ = built_docs
    text = text_of(out / "notifications.html")
    assert '"paused_reason": "disabled after 2 failed runs in a row"' in text
    assert '"status": "delivered"' in text and '"event": "disabled"' in text
    assert "X-Orchestrator-Signature: sha256=" in text and '"signed": true' in text
    for answer in ("job-disabled", "job-resumed", "account-defaults"):     # the secret is sent, never shown
        assert "a-secret-of-the-docs-server" not in (DOCS / "examples" / f"{answer}.response.http").read_text()
    for event in ("failure", "disabled"):
        head, _, body = (DOCS / "examples" / f"webhook-{event}.http").read_text().partition("\n\n")
        headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
        signed = f"{headers['X-Orchestrator-Timestamp']}.{body.rstrip(chr(10))}".encode()
        expected = hmac.new(b"a-secret-of-the-docs-server", signed, hashlib.sha256).hexdigest()
        assert headers["X-Orchestrator-Signature"] == f"sha256={expected}"
        assert headers["X-Orchestrator-Event"] == event == json.loads(body)["event"]
