"""Job actions against real local servers and the Dummy cloud; none of our code is mocked."""
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address, ip_network
import gzip
import json
import socket
import sys
import threading
import time
from urllib.parse import parse_qs, quote
import uuid

import pytest
from sqlalchemy import insert

from dispatcher.errors import SettingsError, ValidationFailed
from dispatcher.lib import migrate, store
from dispatcher.lib.actions import (ACTIONS, Action, ActionFailed, RunContext, UnknownAction, get_action,
                                    known_aliases, plugin_actions, validate_action)
from dispatcher.lib.actions.method import ConflictingMethod, methods, plugin_methods, register_method
from dispatcher.lib.actions.network import DEFAULT_DENY, NetworkPolicy, embedded_ipv4
from dispatcher.lib.cloud_init import prepare_cloud_environment
from dispatcher.lib.ownership import NodeOwners

DUMMY = {"ENGINE": "dummy", "USER": "", "PASSWORD": ""}


# -- fixtures -----------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    """Routes of the test server; every request is kept in ``server.seen``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append({"method": self.command, "path": self.path, "body": body,
                                 "headers": dict(self.headers)})
        path, _, query = self.path.partition("?")
        args = {k: v[0] for k, v in parse_qs(query).items()}
        try:
            if path == "/hello":
                self.send(200, b"hello world", "text/plain; charset=utf-8")
            elif path == "/bytes":
                self.send(200, b"x" * int(args["n"]), "application/octet-stream")
            elif path == "/gzip":
                self.send(200, gzip.compress(args["text"].encode()), "text/plain", **{"Content-Encoding": "gzip"})
            elif path == "/latin1":
                self.send(200, "café".encode("latin-1"), "text/plain; charset=iso-8859-1")
            elif path.startswith("/status/"):
                self.send(int(path.rsplit("/", 1)[1]), b"status page", "text/plain")
            elif path == "/slow":
                time.sleep(float(args.get("s", 1)))
                self.send(200, b"late", "text/plain")
            elif path == "/redirect":
                self.send(int(args.get("code", 302)), b"", "text/plain", Location=args["to"])
            elif path == "/loop":
                self.send(302, b"", "text/plain", Location="/loop")
            elif path == "/echo":
                self.send(200, json.dumps({"method": self.command, "body": body.decode(),
                                           "headers": dict(self.headers)}).encode(), "application/json")
            else:
                self.send(404, b"no such page", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass    # the client gave up (timeout tests)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def send(self, status, body, content_type, **headers):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False      # do not wait for a handler still sleeping in /slow
    accepted = 0                # connections accepted: url runs keep theirs alive and share them

    def process_request(self, request, client_address):
        self.accepted += 1      # the serving thread alone counts
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        # A client that stops reading (truncation, timeout) resets its kept-alive connection.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def serve():
    """Start an HTTP server on a loopback address; returns it with ``.url`` and ``.seen``."""
    servers = []

    def start(host="127.0.0.1"):
        server = Server((host, 0), Handler)
        server.seen = []
        server.url = f"http://{host}:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def web(serve):
    return serve()


@pytest.fixture
def farm():
    return prepare_cloud_environment({"CLOUD_FARM": {
        "default": {**DUMMY, "EXTRA_PARAMS": {"nodes": 3}},
        "slow": {**DUMMY, "EXTRA_PARAMS": {"boot_seconds": 30}},
    }, "CLOUD_TIMEOUT": 5})


@pytest.fixture
def owners(tmp_path):
    engine = store.make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(insert(store.accounts), [
            {"id": name, "name": name, "plan": "free", "is_admin": name == "admin", "created_at": store.now()}
            for name in ("alice", "bob", "admin")])
    yield NodeOwners(engine)
    engine.dispose()


@pytest.fixture
def context(farm, owners):
    """A RunContext for ``account`` with these settings."""
    def make(account="alice", settings=None, clouds=None):
        return RunContext(run_id=str(uuid.uuid4()), job_id="job-1", account_id=account,
                          is_admin=account == "admin", scheduled_for=datetime.now(timezone.utc),
                          clouds=clouds or farm, owners=owners, settings=settings or {})
    return make


@pytest.fixture
def run(farm, context):
    """Validate an action as the jobs API would, then run it as the scheduler would."""
    def execute(action, account="alice", settings=None, run_settings=None):
        params = validate_action(action, settings or {}, farm)
        json.dumps(params)      # what is stored must be JSON
        result = get_action(params["type"])(params).run(context(account, run_settings or settings))
        json.dumps(result)
        return result
    return execute


def failure(execute, *args, **kwargs):
    """The ActionFailed a run raises; its result must be JSON too."""
    with pytest.raises(ActionFailed) as caught:
        execute(*args, **kwargs)
    json.dumps(caught.value.result)
    return caught.value


def invalid(action, farm, settings=None):
    """The details of the 422 that validating ``action`` raises."""
    with pytest.raises(ValidationFailed) as caught:
        validate_action(action, settings or {}, farm)
    assert caught.value.status == 422
    return caught.value.details


# -- registry -----------------------------------------------------------------------------

@pytest.mark.parametrize("alias", sorted(ACTIONS))
def test_every_builtin_alias_resolves_to_an_action_class_naming_it(alias):
    cls = get_action(alias)
    assert issubclass(cls, Action) and cls.alias == alias
    assert f"``{alias}``" in cls.__doc__


def test_an_unknown_alias_is_a_lookup_error_listing_the_known_ones():
    with pytest.raises(UnknownAction) as caught:
        get_action("teleport")
    assert isinstance(caught.value, LookupError)
    assert caught.value.known == known_aliases() and "url" in caught.value.known


@pytest.mark.parametrize("action, field", [
    ({"type": "teleport"}, "action.type"),
    ({"url": "http://x/"}, "action.type"),
    (["url"], "action"),
    ({"type": "url", "url": "http://127.0.0.1/", "colour": "red"}, "action.colour"),
])
def test_validate_action_names_the_bad_field(farm, action, field):
    assert field in invalid(action, farm)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """An installed distribution declaring an action and a method through entry points."""
    (tmp_path / "orch_test_plugin.py").write_text(
        "from dispatcher.lib.actions import Action\n\n"
        "class EchoAction(Action):\n"
        "    '''``echo``: answers its parameters.'''\n"
        "    alias = 'echo'\n\n"
        "    def run(self, context):\n"
        "        return {'echo': self.params, 'account': context.account_id}\n\n"
        "def greet(context, who):\n"
        "    return f'hello {who}'\n")
    info = tmp_path / "orch_test_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: orch-test-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[orchestrator.actions]\necho = orch_test_plugin:EchoAction\n\n"
                                           "[orchestrator.methods]\nplugin.greet = orch_test_plugin:greet\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin_actions.cache_clear()
    plugin_methods.cache_clear()
    yield
    monkeypatch.delitem(sys.modules, "orch_test_plugin", raising=False)
    plugin_actions.cache_clear()
    plugin_methods.cache_clear()


def test_actions_and_methods_come_from_entry_points(plugin, run):
    assert "echo" in known_aliases()
    assert run({"type": "echo", "x": 1}) == {"echo": {"x": 1}, "account": "alice"}
    assert run({"type": "method", "name": "plugin.greet", "parameters": {"who": "you"}})["value"] == "hello you"


# -- url: what it records -----------------------------------------------------------------

def test_url_records_status_latency_content_type_and_body(web, run):
    result = run({"type": "url", "url": f"{web.url}/hello"})
    assert result["status"] == 200
    assert result["body"] == "hello world" and result["truncated"] is False and result["body_bytes"] == 11
    assert result["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert 0 < result["latency_ms"] <= result["duration_ms"]
    assert result["address"] == "127.0.0.1" and result["redirects"] == []
    assert web.seen[0]["headers"]["User-Agent"].startswith("Orchestrator")


@pytest.mark.parametrize("size, truncated", [(100, False), (64 * 1024, False), (64 * 1024 + 1, True),
                                             (1024 * 1024, True)])
def test_url_keeps_at_most_the_first_64_kib_of_the_body(web, run, size, truncated):
    result = run({"type": "url", "url": f"{web.url}/bytes?n={size}"})
    assert result["body_bytes"] == min(size, 64 * 1024) == len(result["body"])
    assert result["truncated"] is truncated


def test_url_decodes_the_body_with_its_charset(web, run):
    assert run({"type": "url", "url": f"{web.url}/latin1"})["body"] == "café"


def test_url_decodes_a_compressed_body(web, run):
    result = run({"type": "url", "url": f"{web.url}/gzip?text=" + "squeezed" * 100})
    assert result["body"] == "squeezed" * 100 and result["body_bytes"] == 800
    assert web.seen[0]["headers"]["Accept-Encoding"] == "gzip, deflate"


def test_url_sends_method_headers_and_a_json_body(web, run):
    result = run({"type": "url", "url": f"{web.url}/echo", "method": "post",
                  "headers": {"X-Token": "abc"}, "body": {"a": [1, 2]}})
    echoed = json.loads(result["body"])
    assert echoed["method"] == "POST" and json.loads(echoed["body"]) == {"a": [1, 2]}
    assert echoed["headers"]["X-Token"] == "abc" and echoed["headers"]["Content-Type"] == "application/json"


def test_url_sends_a_string_body_as_is(web, run):
    result = run({"type": "url", "url": f"{web.url}/echo", "method": "PUT", "body": "plain text"})
    assert json.loads(result["body"])["body"] == "plain text"


def test_url_head_records_no_body(web, run):
    result = run({"type": "url", "url": f"{web.url}/hello", "method": "HEAD"})
    assert result["status"] == 200 and result["body"] == "" and web.seen[0]["method"] == "HEAD"


def test_url_an_unexpected_status_fails_the_run_with_the_result_kept(web, run):
    failed = failure(run, {"type": "url", "url": f"{web.url}/status/500"})
    assert "answered 500, expected 2xx" in failed.message
    assert failed.result["status"] == 500 and failed.result["body"] == "status page"


@pytest.mark.parametrize("path, expect, ok", [
    ("/status/500", [500, 503], True), ("/status/404", 404, True),
    ("/status/200", 204, False), ("/status/201", None, True),
])
def test_url_expect_status(web, run, path, expect, ok):
    action = {"type": "url", "url": web.url + path, "expect_status": expect}
    if ok:
        assert run(action)["status"] == int(path.rsplit("/", 1)[1])
    else:
        failure(run, action)


def test_url_times_out(web, run):
    started = time.monotonic()
    failed = failure(run, {"type": "url", "url": f"{web.url}/slow?s=1", "timeout": 0.2})
    assert "timed out" in failed.message and failed.result["status"] is None
    assert time.monotonic() - started < 0.9


# -- url: redirects -----------------------------------------------------------------------

def test_url_follows_redirects_and_records_them(web, run):
    result = run({"type": "url", "url": f"{web.url}/redirect?to=/hello"})
    assert result["status"] == 200 and result["body"] == "hello world"
    assert result["final_url"] == f"{web.url}/hello"
    assert result["redirects"] == [{"url": f"{web.url}/redirect?to=/hello", "status": 302}]


def test_url_a_303_turns_a_post_into_a_get_without_body(web, run):
    result = run({"type": "url", "url": f"{web.url}/redirect?code=303&to=/echo", "method": "POST", "body": "x"})
    assert json.loads(result["body"])["method"] == "GET" and web.seen[-1]["body"] == b""


def test_url_a_307_keeps_method_and_body(web, run):
    result = run({"type": "url", "url": f"{web.url}/redirect?code=307&to=/echo", "method": "POST", "body": "x"})
    assert json.loads(result["body"]) | {"headers": None} == {"method": "POST", "body": "x", "headers": None}


def test_url_follows_at_most_five_redirects(web, run):
    failed = failure(run, {"type": "url", "url": f"{web.url}/loop"})
    assert "more than 5" in failed.message and len(failed.result["redirects"]) == 5 and len(web.seen) == 6


def test_url_can_record_a_redirect_instead_of_following_it(web, run):
    result = run({"type": "url", "url": f"{web.url}/redirect?to=/hello", "follow_redirects": False,
                  "expect_status": 302})
    assert result["status"] == 302 and len(web.seen) == 1


def test_url_a_redirect_to_a_denied_address_is_refused_before_connecting(serve, run):
    web, target = serve(), serve("127.0.0.2")
    settings = {"URL_DENY_NETWORKS": [*DEFAULT_DENY, "127.0.0.2/32"]}
    url = f"{web.url}/redirect?to={quote(target.url + '/hello', safe='')}"
    failed = failure(run, {"type": "url", "url": url}, settings=settings)
    assert "refused" in failed.message and "127.0.0.2" in failed.message
    assert failed.result["redirects"] == [{"url": url, "status": 302}]
    assert target.seen == []        # no request reached the denied address
    # The same redirect under the default policy reaches it: the refusal was the policy's.
    assert run({"type": "url", "url": url})["body"] == "hello world" and len(target.seen) == 1


def test_url_a_redirect_to_another_scheme_fails(web, run):
    failed = failure(run, {"type": "url", "url": f"{web.url}/redirect?to=file:///etc/passwd"})
    assert "only http and https URLs" in failed.message


# -- url: connections ----------------------------------------------------------------------

def test_url_runs_reuse_one_kept_alive_connection_per_host(serve, run):
    web, other = serve(), serve("127.0.0.2")
    for _ in range(20):
        assert run({"type": "url", "url": f"{web.url}/hello"})["status"] == 200
    assert run({"type": "url", "url": f"{web.url}/bytes?n=100", "method": "HEAD"})["body_bytes"] == 0
    assert run({"type": "url", "url": f"{web.url}/hello"})["status"] == 200     # a HEAD keeps it too
    assert run({"type": "url", "url": f"{other.url}/hello"})["status"] == 200
    assert (web.accepted, other.accepted) == (1, 1)
    assert len(web.seen) == 22


def test_url_a_body_cut_short_closes_its_connection_and_frees_its_place(web, run):
    settings = {"URL_POOL_CONNECTIONS_PER_HOST": 1}
    assert run({"type": "url", "url": f"{web.url}/bytes?n={1024 * 1024}"}, settings=settings)["truncated"]
    assert run({"type": "url", "url": f"{web.url}/hello", "timeout": 2}, settings=settings)["status"] == 200
    assert web.accepted == 2


def test_url_runs_at_once_share_a_bounded_number_of_connections(web, run):
    settings = {"URL_POOL_CONNECTIONS_PER_HOST": 3}
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: run({"type": "url", "url": f"{web.url}/slow?s=0.05"}, settings=settings),
                                range(36)))
    assert [r["status"] for r in results] == [200] * 36
    assert web.accepted <= 3 and len(web.seen) == 36


def test_url_a_run_waits_for_a_free_connection_no_longer_than_its_timeout(web, run):
    settings = {"URL_POOL_CONNECTIONS_PER_HOST": 1}
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(run, {"type": "url", "url": f"{web.url}/slow?s=1.5"}, settings=settings)
        while not web.seen:     # the one connection is taken
            time.sleep(0.01)
        failed = failure(run, {"type": "url", "url": f"{web.url}/hello", "timeout": 0.2}, settings=settings)
        assert "no connection to its host became free" in failed.message
        assert slow.result()["status"] == 200
    assert web.accepted == 1


def test_url_a_kept_connection_serves_only_runs_under_the_policy_that_checked_it(serve, run):
    target = serve("127.0.0.2")
    assert run({"type": "url", "url": f"{target.url}/hello"})["status"] == 200     # kept alive
    denied = {"URL_DENY_NETWORKS": [*DEFAULT_DENY, "127.0.0.2/32"]}
    failed = failure(run, {"type": "url", "url": f"{target.url}/hello"}, run_settings=denied)
    assert "refused" in failed.message and len(target.seen) == 1


# -- url: network policy ------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.170.2/v2/credentials",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:169.254.169.254]/",     # IPv4-mapped IPv6
    "http://2852039166/",                   # 169.254.169.254 as a decimal number
])
def test_url_link_local_and_metadata_addresses_are_refused_at_validation(farm, url):
    assert "refused" in invalid({"type": "url", "url": url}, farm)["action.url"][0]


@pytest.mark.parametrize("host", [
    "[::169.254.169.254]",                  # IPv4-compatible
    "[::a9fe:a9fe]",
    "[::ffff:a9fe:a9fe]",                   # IPv4-mapped, in hexadecimal
    "[64:ff9b::169.254.169.254]",           # NAT64, well-known prefix
    "[64:ff9b::a9fe:a9fe]",
    "[64:ff9b:1::a9fe:a9fe]",               # NAT64, local-use prefix (a /96 in it)
    "[64:ff9b:1:a9fe:a9:fe00::]",           # the same prefix, as a /48
    "[2002:a9fe:a9fe::1]",                  # 6to4
])
def test_url_ipv6_spellings_of_a_denied_ipv4_address_are_refused_at_validation(farm, host):
    message = invalid({"type": "url", "url": f"http://{host}/latest/meta-data/"}, farm)["action.url"][0]
    assert "refused" in message and "169.254.169.254" in message


@pytest.mark.parametrize("host", ["[::ffff:127.0.0.2]", "[::127.0.0.2]", "[64:ff9b::7f00:2]",
                                  "[64:ff9b:1::127.0.0.2]", "[2002:7f00:2::1]"])
def test_url_a_redirect_to_an_ipv6_spelling_of_a_denied_address_is_refused(serve, run, host):
    web, target = serve(), serve("127.0.0.2")
    settings = {"URL_DENY_NETWORKS": [*DEFAULT_DENY, "127.0.0.2/32"]}
    to = f"http://{host}:{target.server_address[1]}/hello"
    failed = failure(run, {"type": "url", "url": f"{web.url}/redirect?to={quote(to, safe='')}"}, settings=settings)
    assert "refused" in failed.message and "127.0.0.2" in failed.message
    assert target.seen == []


def test_url_an_ipv4_mapped_address_is_judged_as_its_ipv4_by_the_allow_list_too(serve, run):
    """The kernel's dual stack connects ``::ffff:127.0.0.2`` to 127.0.0.2: allowed as that address."""
    target = serve("127.0.0.2")
    url = f"http://[::ffff:127.0.0.2]:{target.server_address[1]}/hello"
    assert run({"type": "url", "url": url}, settings={"URL_ALLOW_NETWORKS": ["127.0.0.2/32"]})["status"] == 200
    assert len(target.seen) == 1


def rfc6052(prefix, ipv4):
    """``ipv4`` embedded in the NAT64 ``prefix`` as RFC 6052 section 2.2 lays it out, bit by bit."""
    network = ip_network(prefix)
    bits = format(int(network.network_address), "0128b")[:network.prefixlen]
    for bit in format(int(ip_address(ipv4)), "032b"):
        if len(bits) == 64:
            bits += "0" * 8         # bits 64 to 71 are the "u" octet, always zero
        bits += bit
    return ip_address(int(bits.ljust(128, "0"), 2))


@pytest.mark.parametrize("length", [48, 56, 64, 96])
def test_every_layout_of_the_local_use_nat64_prefix_is_judged(length):
    address = rfc6052(f"64:ff9b:1::/{length}", "169.254.169.254")
    assert ip_address("169.254.169.254") in embedded_ipv4(address)
    assert "169.254.0.0/16" in NetworkPolicy.from_settings({}).refusal(str(address))


def test_ipv6_addresses_that_embed_no_ipv4_are_judged_as_themselves():
    policy = NetworkPolicy.from_settings({"URL_DENY_NETWORKS": ["0.0.0.0/8", "127.0.0.0/8"]})
    assert embedded_ipv4(ip_address("::1")) == embedded_ipv4(ip_address("::")) == ()
    assert policy.refusal("::1") is None and policy.refusal("2001:db8::1") is None
    assert embedded_ipv4(ip_address("64:ff9b::a00:1")) == (ip_address("10.0.0.1"),)
    allow = NetworkPolicy.from_settings({"URL_ALLOW_NETWORKS": ["10.0.0.0/8"]})
    assert allow.refusal("64:ff9b::a00:1") is None and allow.refusal("64:ff9b::c0a8:1")


def test_url_a_host_name_resolving_to_a_denied_address_is_refused_at_validation(farm):
    details = invalid({"type": "url", "url": "http://localhost:8080/"}, farm,
                      {"URL_DENY_NETWORKS": ["127.0.0.0/8", "::1/128"]})
    assert "localhost resolves to" in details["action.url"][0]


def test_url_a_name_that_does_not_resolve_at_validation_is_accepted_then_fails(run, farm):
    action = {"type": "url", "url": "http://no-such-host.invalid/"}
    assert validate_action(action, {}, farm)["url"] == action["url"]
    assert "failed" in failure(run, action).message


def test_url_dns_is_checked_again_when_it_runs(web, run):
    """Valid when the job was made; by the time it runs, its name points at a denied network."""
    url = web.url.replace("127.0.0.1", "localhost") + "/hello"
    failed = failure(run, {"type": "url", "url": url}, settings={},
                     run_settings={"URL_DENY_NETWORKS": ["127.0.0.0/8", "::1/128"]})
    assert "refused" in failed.message and web.seen == []


def test_url_private_and_loopback_addresses_are_allowed_by_default(web, run):
    assert run({"type": "url", "url": web.url.replace("127.0.0.1", "localhost") + "/hello"})["status"] == 200


def test_url_a_non_empty_allow_list_restricts_to_its_networks(serve, run, farm):
    web, other = serve(), serve("127.0.0.2")
    settings = {"URL_ALLOW_NETWORKS": ["127.0.0.2/32"]}
    assert "outside the allowed networks" in invalid({"type": "url", "url": web.url}, farm, settings)["action.url"][0]
    assert run({"type": "url", "url": f"{other.url}/hello"}, settings=settings)["status"] == 200
    # Deny wins over allow.
    both = {"URL_ALLOW_NETWORKS": ["127.0.0.0/8"], "URL_DENY_NETWORKS": ["127.0.0.2/32"]}
    assert "denied network" in invalid({"type": "url", "url": other.url}, farm, both)["action.url"][0]
    assert run({"type": "url", "url": f"{web.url}/hello"}, settings=both)["status"] == 200


def test_network_policy_is_pure():
    policy = NetworkPolicy.from_settings({})
    assert policy.refusal("169.254.169.254") and policy.refusal("fe80::1%eth0")
    assert policy.refusal("::ffff:169.254.1.1") and policy.refusal("fd00:ec2::254")
    assert policy.refusal("10.0.0.1") is None and policy.refusal("127.0.0.1") is None
    assert policy.refusal("::1") is None and policy.refusal("fd00:ec2::253") is None


@pytest.mark.parametrize("settings", [{"URL_DENY_NETWORKS": "10.0.0.0/8"},
                                      {"URL_ALLOW_NETWORKS": ["10.0.0.0/33"]},
                                      {"URL_DENY_NETWORKS": [10]}])
def test_malformed_network_settings_are_a_settings_error(settings):
    with pytest.raises(SettingsError):
        NetworkPolicy.from_settings(settings)


@pytest.mark.parametrize("params, field", [
    ({"url": "ftp://example.com/"}, "action.url"),
    ({"url": "http:///path"}, "action.url"),
    ({"url": "http://example.com:99999/"}, "action.url"),
    ({}, "action.url"),
    ({"url": "http://127.0.0.1/", "method": "TRACE"}, "action.method"),
    ({"url": "http://127.0.0.1/", "headers": {"X": "a\r\nInjected: yes"}}, "action.headers.X.value"),
    ({"url": "http://127.0.0.1/", "headers": {"bad name": "x"}}, "action.headers.bad name.key"),
    ({"url": "http://127.0.0.1/", "headers": ["X"]}, "action.headers"),
    ({"url": "http://127.0.0.1/", "timeout": 301}, "action.timeout"),
    ({"url": "http://127.0.0.1/", "timeout": 0}, "action.timeout"),
    ({"url": "http://127.0.0.1/", "expect_status": 99}, "action.expect_status"),
    ({"url": "http://127.0.0.1/", "expect_status": []}, "action.expect_status"),
    ({"url": "http://127.0.0.1/", "expect_status": [200, "201"]}, "action.expect_status"),
    ({"url": "http://127.0.0.1/", "expect_status": True}, "action.expect_status"),
])
def test_url_invalid_parameters_are_a_422_naming_the_field(farm, params, field):
    assert field in invalid({"type": "url", **params}, farm)


def test_url_parameters_are_normalised(farm):
    assert validate_action({"type": "url", "url": " http://127.0.0.1/x ", "method": "post",
                            "expect_status": [204, 200, 204]}, {}, farm) == {
        "type": "url", "url": "http://127.0.0.1/x", "method": "POST", "headers": {}, "body": None,
        "timeout": 10.0, "expect_status": [200, 204], "follow_redirects": True}


# -- method ---------------------------------------------------------------------------------

@pytest.fixture
def registered():
    names = []

    def register(name, fn):
        register_method(name)(fn)
        names.append(name)
        return fn
    yield register
    for name in names:
        methods.unregister(name)


def test_method_calls_the_registered_function_with_the_context_and_parameters(registered, run):
    calls = []
    registered("test.add", lambda context, a, b=0: calls.append(context) or {"sum": a + b})
    result = run({"type": "method", "name": "test.add", "parameters": {"a": 2, "b": 3}}, account="bob")
    assert result == {"name": "test.add", "value": {"sum": 5}}
    assert calls[0].account_id == "bob" and calls[0].job_id == "job-1"


def test_method_an_unregistered_name_is_a_422(registered, farm):
    registered("test.known", lambda context: None)
    details = invalid({"type": "method", "name": "os.system"}, farm)
    assert "test.known" in details["action.name"][0]


def test_method_parameters_that_do_not_fit_the_signature_are_a_422(registered, farm):
    registered("test.one", lambda context, a: a)
    assert "action.parameters" in invalid({"type": "method", "name": "test.one", "parameters": {"b": 1}}, farm)
    assert "action.parameters" in invalid({"type": "method", "name": "test.one"}, farm)
    assert "action.parameters" in invalid({"type": "method", "name": "test.one", "parameters": [1]}, farm)


def test_method_an_exception_fails_the_run(registered, run):
    def broken(context):
        raise RuntimeError("disk full")
    registered("test.broken", broken)
    failed = failure(run, {"type": "method", "name": "test.broken"})
    assert "disk full" in failed.message and failed.result["error"]["type"] == "RuntimeError"


def test_method_a_value_that_is_not_json_is_recorded_as_text(registered, run):
    registered("test.object", lambda context: {1, 2})
    assert run({"type": "method", "name": "test.object"})["value"] == "{1, 2}"


def test_method_a_name_is_registered_once(registered):
    fn = registered("test.once", lambda context: 1)
    register_method("test.once")(fn)        # the same function again: harmless
    with pytest.raises(ConflictingMethod):
        register_method("test.once")(lambda context: 2)
    with pytest.raises(ValueError):
        register_method("not a name")


# -- provision --------------------------------------------------------------------------------

def test_provision_creates_waits_and_records_the_owner(run, owners):
    result = run({"type": "provision", "image": "1", "size": "1", "name": "web-{n}", "count": 3})
    assert [n["name"] for n in result["created"]] == ["web-1", "web-2", "web-3"]
    assert {n["state"] for n in result["created"]} == {"running"} and result["failed"] == []
    assert owners.owned("default", "alice") == {n["id"] for n in result["created"]}


def test_provision_without_wait_returns_pending_nodes(run):
    result = run({"type": "provision", "cloud": "slow", "image": "1", "size": "1", "name": "db", "wait": False})
    assert [(n["name"], n["state"]) for n in result["created"]] == [("db", "pending")]


def test_provision_nodes_not_running_in_time_fail_the_run_but_stay_recorded(run, owners):
    failed = failure(run, {"type": "provision", "cloud": "slow", "image": "1", "size": "1", "name": "db-{n}",
                           "count": 2, "timeout": 0.2})
    created = {n["id"] for n in failed.result["created"]}
    assert len(created) == 2 and set(failed.result["not_running"]) == created
    assert owners.owned("slow", "alice") == created


def test_provision_an_unknown_image_fails_the_run(run, owners):
    failed = failure(run, {"type": "provision", "image": "no-such-image", "size": "1", "name": "x"})
    assert "no image" in failed.message and failed.result["created"] == []
    assert failed.result["error"]["code"] == "validation_failed"
    assert owners.owned("default", "alice") == set()


@pytest.mark.parametrize("params, field", [
    ({"cloud": "mars"}, "action.cloud"),
    ({"count": 0}, "action.count"), ({"count": 51}, "action.count"),
    ({"name": "{x}"}, "action.name"), ({"name": "a b"}, "action.name"),
    ({"image": None}, "action.image"),
    ({"timeout": 0}, "action.timeout"),
])
def test_provision_invalid_parameters_are_a_422(farm, params, field):
    action = {"type": "provision", "image": "1", "size": "1", "name": "n", **params}
    details = invalid(action, farm)
    assert field in details
    if field == "action.cloud":
        assert "known: default, slow" in details[field][0]


# -- ping, reboot, destroy ------------------------------------------------------------------

@pytest.fixture
def listener():
    """A TCP port on 127.0.0.1 (the Dummy nodes' address) that accepts connections."""
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port():
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def alices_web_nodes(run):
    created = run({"type": "provision", "image": "1", "size": "1", "name": "web-{n}", "count": 2})["created"]
    run({"type": "provision", "image": "1", "size": "1", "name": "db-1"})
    return sorted(n["id"] for n in created)


def test_ping_reports_state_reachability_and_latency(run, listener):
    result = run({"type": "ping", "nodes": ["1", "2"], "port": listener}, account="admin")
    assert [n["node_id"] for n in result["nodes"]] == ["1", "2"]
    assert all(n["ok"] and n["reachable"] and n["state"] == "running" and n["latency_ms"] >= 0
               for n in result["nodes"])
    assert (result["succeeded"], result["failed"]) == (2, 0)


def test_ping_an_unknown_node_fails_the_run_with_every_result(run, listener):
    failed = failure(run, {"type": "ping", "nodes": ["1", "999"], "port": listener}, account="admin")
    one, missing = failed.result["nodes"]
    assert one["ok"] and not missing["ok"] and missing["code"] == "not_found"
    assert "1 of 2 nodes" in failed.message


def test_ping_an_unreachable_port_fails_the_run(run, closed_port):
    failed = failure(run, {"type": "ping", "nodes": ["1"], "port": closed_port, "timeout": 0.5}, account="admin")
    assert failed.result["nodes"][0]["reachable"] is False and failed.result["nodes"][0]["state"] == "running"


def test_a_selector_matches_node_names_when_the_run_starts(run, alices_web_nodes, listener):
    result = run({"type": "ping", "selector": {"name": "web-*"}, "port": listener})
    assert sorted(n["node_id"] for n in result["nodes"]) == alices_web_nodes
    # A node made after the job was validated is still found: resolution happens at run time.
    more = run({"type": "provision", "image": "1", "size": "1", "name": "web-3"})["created"][0]["id"]
    assert more in {n["node_id"] for n in run({"type": "ping", "selector": {"name": "web-*"}, "port": listener})["nodes"]}


def test_other_accounts_nodes_are_out_of_reach(run, alices_web_nodes, listener):
    assert run({"type": "ping", "selector": {"name": "*"}, "port": listener}, account="bob")["nodes"] == []
    failed = failure(run, {"type": "reboot", "nodes": alices_web_nodes}, account="bob")
    assert all(n["code"] == "not_found" for n in failed.result["nodes"])
    admin = run({"type": "ping", "selector": {"name": "*"}, "port": listener}, account="admin")
    assert len(admin["nodes"]) == 3 + 3     # the Dummy cloud's own three, and alice's
    assert run({"type": "reboot", "nodes": alices_web_nodes})["succeeded"] == 2


def test_reboot_a_list_with_an_unknown_id_is_a_partial_failure(run, alices_web_nodes):
    failed = failure(run, {"type": "reboot", "nodes": [*alices_web_nodes, "999"]}, account="admin")
    assert [n["ok"] for n in failed.result["nodes"]] == [True, True, False]


def test_destroy_removes_the_nodes_and_forgets_their_owner(run, farm, owners, alices_web_nodes):
    result = run({"type": "destroy", "selector": {"name": "web-*"}})
    assert sorted(n["node_id"] for n in result["nodes"]) == alices_web_nodes
    assert owners.owned("default", "alice") == {n.id for n in farm.get("default").nodes() if n.name == "db-1"}
    assert not any(n.name.startswith("web-") for n in farm.get("default").nodes())
    failed = failure(run, {"type": "destroy", "nodes": alices_web_nodes})     # already gone
    assert not any(n["ok"] for n in failed.result["nodes"])


def test_a_cloud_gone_from_the_settings_fails_the_run(farm, context):
    params = validate_action({"type": "reboot", "cloud": "slow", "nodes": ["1"]}, {}, farm)
    other = prepare_cloud_environment({"CLOUD_FARM": {"default": {**DUMMY, "EXTRA_PARAMS": {}}}})
    with pytest.raises(ActionFailed, match="no cloud named 'slow'"):
        get_action("reboot")(params).run(context(clouds=other))


@pytest.mark.parametrize("params, field", [
    ({}, "action.nodes"),
    ({"nodes": ["1"], "selector": {"name": "*"}}, "action.nodes"),
    ({"nodes": []}, "action.nodes"),
    ({"nodes": [""]}, "action.nodes.0"),
    ({"selector": {}}, "action.selector.name"),
    ({"selector": {"name": "*", "state": "running"}}, "action.selector.state"),
    ({"nodes": ["1"], "cloud": "mars"}, "action.cloud"),
    ({"nodes": ["1"], "port": 0}, "action.port"),
])
def test_node_actions_invalid_parameters_are_a_422(farm, params, field):
    assert field in invalid({"type": "ping", **params}, farm)


def test_port_is_for_ping_only(farm):
    assert "action.port" in invalid({"type": "reboot", "nodes": ["1"], "port": 22}, farm)
    assert validate_action({"type": "destroy", "nodes": ["2", "1", "2"]}, {}, farm) == {
        "type": "destroy", "cloud": "default", "nodes": ["2", "1"]}
