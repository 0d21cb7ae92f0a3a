"""The ``url`` action: call a URL (web cron) and record what answered.

``{"type": "url", "url", "method"?, "headers"?, "body"?, "timeout"?, "expect_status"?,
"follow_redirects"?}``. The result holds the status, ``latency_ms`` (until the final response's
headers, redirects included), ``duration_ms`` (the whole action), the response's content type
and length, and the first 64 KiB of its body (after content decoding) as text, with
``truncated`` saying whether there was more. Where it may connect is
:class:`~dispatcher.lib.actions.network.NetworkPolicy`'s call, checked when the job is validated
(literal addresses, and host names that resolve then) and again on every connection it makes.

Connections are kept alive and reused, per target host, by every run of the process: web cron
calls the same few hosts over and over, and a new TCP (and TLS) connection per call costs the
target more than the call. Each host has at most ``URL_POOL_CONNECTIONS_PER_HOST`` connections
open at once (a run waits, within its timeout, for one to be free), and the connections of at
most ``URL_POOL_HOSTS`` hosts are kept. A connection is checked against the policy when it is
opened, and only runs under that same policy reuse it. Runs share no cookies, credentials or
proxy settings: each request is prepared afresh, only the connections are shared.

Requests go straight to urllib3's connection pools: requests' request preparation and
adapter, of which this action uses nothing (no cookies, no proxies, no redirects of theirs),
cost about as much again as urllib3's own work for a call, paid under the interpreter's lock
by every run of a burst. A URL is still normalised as requests would send it (host in IDNA,
path quoted), once per URL.
"""
import codecs
from functools import lru_cache
import json
import threading
import time
from urllib.parse import urljoin, urlsplit

from marshmallow import Schema, ValidationError, fields, pre_load, validate
import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.exceptions import EmptyPoolError, HTTPError, NewConnectionError, TimeoutError as Urllib3Timeout
from urllib3.util import Timeout, parse_url

from dispatcher import settings as defaults
from dispatcher.lib.actions.base import Action, ActionFailed, invalid, load_params
from dispatcher.lib.actions.network import AddressRefused, NetworkPolicy, guarded_pool_manager, resolve
from dispatcher.lib.validation import URL_FORMAT, FullMatch, StrictBoolean

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
MAX_REDIRECTS = 5
BODY_LIMIT = 64 * 1024
RECORDED_HEADERS = ("content-type", "content-length", "retry-after")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Orchestrator-url-action/1"
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}\Z"
_CROSS_ORIGIN_DROP = {"authorization", "cookie", "proxy-authorization"}
# What a requests session would send, less what it would take from the environment.
DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate", "Accept": "*/*",
                   "Connection": "keep-alive"}

_transports = {}
_transports_lock = threading.Lock()


def transport(settings):
    """The connection pools of this process for the network policy of ``settings``."""
    # Keyed by the settings as written: parsing the policy's networks costs more than a call.
    key = tuple(_frozen(settings.get(name)) for name in _TRANSPORT_SETTINGS)
    manager = _transports.get(key)
    if manager is None:
        with _transports_lock:
            manager = _transports.get(key)
            if manager is None:
                hosts = int(settings.get("URL_POOL_HOSTS", defaults.URL_POOL_HOSTS))
                per_host = int(settings.get("URL_POOL_CONNECTIONS_PER_HOST", defaults.URL_POOL_CONNECTIONS_PER_HOST))
                manager = _transports[key] = guarded_pool_manager(NetworkPolicy.from_settings(settings), hosts,
                                                                  per_host, DEFAULT_CA_BUNDLE_PATH)
    return manager


_TRANSPORT_SETTINGS = ("URL_DENY_NETWORKS", "URL_ALLOW_NETWORKS", "URL_POOL_HOSTS", "URL_POOL_CONNECTIONS_PER_HOST")


def _frozen(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def check_url(value):
    """An absolute http(s) URL with a host that requests can prepare."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError("only http and https URLs")
    if not parts.hostname:
        raise ValidationError("the URL has no host")
    try:
        parts.port
        requests.Request("GET", value).prepare()
    except (ValueError, requests.RequestException) as exc:
        raise ValidationError(f"not a usable URL: {exc}") from None


HEADER_VALUE = FullMatch(r"^[^\r\n\x00]*$", error="header values may not contain line breaks")
URL_DESCRIPTION = ("an absolute http or https URL; a host in URL_DENY_NETWORKS, or outside URL_ALLOW_NETWORKS when "
                   "that is set, is refused (a name that does not resolve is checked again when it is used)")


class StatusList(fields.Field):
    """An HTTP status or a non-empty list of them, loaded as a sorted list."""

    STATUS = {"type": "integer", "minimum": 100, "maximum": 599}
    DOCUMENT = {"oneOf": [STATUS, {"type": "array", "items": STATUS, "minItems": 1}]}

    def _deserialize(self, value, attr, data, **kwargs):
        items = value if isinstance(value, list) else [value]
        if not items or any(isinstance(v, bool) or not isinstance(v, int) or not 100 <= v <= 599 for v in items):
            raise ValidationError("an HTTP status (100-599) or a non-empty list of them")
        return sorted(set(items))


class UrlParams(Schema):
    url = fields.String(required=True, validate=[validate.Length(min=1, max=2048), check_url],
                        metadata={"format": URL_FORMAT, "description": URL_DESCRIPTION})
    method = fields.String(load_default="GET", validate=validate.OneOf(METHODS))
    headers = fields.Dict(keys=fields.String(validate=validate.Regexp(_HEADER_NAME, error="not a header name")),
                          values=fields.String(validate=[validate.Length(max=8192), HEADER_VALUE]),
                          load_default=dict)
    body = fields.Raw(load_default=None, allow_none=True,
                      metadata={"description": "a string is sent as is; any other JSON value as JSON"})
    timeout = fields.Float(load_default=10.0, validate=validate.Range(min=0.05, max=300))
    expect_status = StatusList(load_default=None, allow_none=True,
                               metadata={"description": "default: any 2xx", **StatusList.DOCUMENT})
    follow_redirects = StrictBoolean(load_default=True)

    @pre_load
    def normalise(self, data, **kwargs):
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("url"), str):
            data["url"] = data["url"].strip()
        if isinstance(data.get("method"), str):
            data["method"] = data["method"].upper()
        return data


class UrlAction(Action):
    """``url``: one HTTP request, redirects followed by hand (at most 5), each hop policed."""

    alias = "url"
    schema = UrlParams

    @classmethod
    def document(cls, params):
        """The header names' pattern, as ``patternProperties`` (JSON Schema's, which OpenAPI 3.0
        does not list, and has no other word for)."""
        headers = params["properties"]["headers"]
        headers = {**headers, "patternProperties": {_HEADER_NAME: headers["additionalProperties"]},
                   "additionalProperties": False, "description": "header name (an RFC 9110 token) to value"}
        return {**params, "properties": {**params["properties"], "headers": headers}}

    @classmethod
    def validate(cls, params, settings, clouds):
        params = load_params(cls.schema, params)
        policy = NetworkPolicy.from_settings(settings)
        parts = urlsplit(params["url"])
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            addresses = resolve(parts.hostname, port, float(settings.get("URL_VALIDATION_DNS_TIMEOUT",
                                                                         defaults.URL_VALIDATION_DNS_TIMEOUT)))
        except OSError:
            return params   # unknown now; checked again on every connection when it runs
        try:
            policy.check(parts.hostname, addresses)
        except AddressRefused as exc:
            raise invalid({"action.url": [f"refused: {exc}"]}) from None
        return params

    def run(self, context):
        p = self.params
        manager = transport(context.settings)
        started = time.monotonic()
        deadline = started + p["timeout"]
        url, method, body = p["url"], p["method"], p["body"]
        headers = CaseInsensitiveDict(DEFAULT_HEADERS)
        headers.update(p["headers"])
        result = {"url": url, "final_url": url, "method": method, "status": None, "address": None,
                  "latency_ms": None, "duration_ms": None, "headers": {}, "body": None,
                  "body_bytes": 0, "truncated": False, "redirects": []}

        def fail(message, kind=None):
            result["duration_ms"] = _ms(started)
            return ActionFailed(message, result, kind)

        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise fail(f"{method} {url} timed out after {p['timeout']:g} s", "timeout")
            try:
                response = _send(manager, method, url, headers, body, remaining)
            except AddressRefused as exc:
                raise fail(f"refused to connect to {url}: {exc}") from None
            except EmptyPoolError:
                raise fail(f"{method} {url}: no connection to its host became free within {p['timeout']:g} s",
                           "connection") from None
            except NewConnectionError as exc:   # a subclass of urllib3's connect timeout, yet not one
                raise fail(f"{method} {url} failed: {_reason(exc)}", "connection") from None
            except Urllib3Timeout:
                raise fail(f"{method} {url} timed out after {p['timeout']:g} s", "timeout") from None
            except (HTTPError, OSError, ValueError) as exc:
                raise fail(f"{method} {url} failed: {_reason(exc)}", "connection") from None
            result.update(final_url=url, status=response.status,
                          address=getattr(response.connection, "peer_address", None))
            location = response.headers.get("Location")
            if not (p["follow_redirects"] and response.status in REDIRECTS and location):
                break
            _done(response)
            if len(result["redirects"]) >= MAX_REDIRECTS:
                raise fail(f"{p['url']} redirected more than {MAX_REDIRECTS} times")
            result["redirects"].append({"url": url, "status": response.status})
            next_url = urljoin(url, location)
            try:
                check_url(next_url)
            except ValidationError as exc:
                raise fail(f"{url} redirected to {next_url!r}: {exc.messages[0]}") from None
            method, body, headers = _redirected(response.status, method, body, headers, url, next_url)
            url = next_url

        result["latency_ms"] = _ms(started)
        result["headers"] = {k: response.headers[k] for k in RECORDED_HEADERS if k in response.headers}
        try:
            # Read to its end (a HEAD's is empty), the connection goes back to the pool; a body
            # cut short closes it.
            data = _read_capped(response, deadline)
        except TimeoutError:
            raise fail(f"{method} {url} timed out after {p['timeout']:g} s while reading the body",
                       "timeout") from None
        except (HTTPError, OSError) as exc:
            raise fail(f"{method} {url}: reading the body failed: {_reason(exc)}", "connection") from None
        finally:
            _done(response)
        kept = data[:BODY_LIMIT]
        result.update(body=kept.decode(_charset(response.headers.get("Content-Type", "")), errors="replace"),
                      body_bytes=len(kept), truncated=len(data) > BODY_LIMIT, duration_ms=_ms(started))
        expected = p["expect_status"]
        if not (response.status in expected if expected else 200 <= response.status < 300):
            wanted = ", ".join(map(str, expected)) if expected else "2xx"
            raise fail(f"{method} {url} answered {response.status}, expected {wanted}", "status")
        return result


def _send(manager, method, url, headers, body, timeout):
    """One request through the pool of ``url``'s host: its response, the body left to read."""
    scheme, host, port, target = _wire(url)
    data, sent = _encoded(body), dict(headers)
    if body is not None and not isinstance(body, str) and "content-type" not in headers:
        sent["Content-Type"] = "application/json"
    if data:
        sent["Content-Length"] = str(len(data))
    elif method not in ("GET", "HEAD") and "content-length" not in headers:
        sent["Content-Length"] = "0"
    pool = manager.connection_from_host(host, port, scheme=scheme)
    return pool.urlopen(method, target, body=data, headers=sent, retries=False, redirect=False,
                        assert_same_host=False, timeout=Timeout(connect=timeout, read=timeout),
                        preload_content=False, decode_content=True)


@lru_cache(maxsize=4096)
def _wire(url):
    """``(scheme, host, port, target)`` of ``url`` as requests would send it (host in IDNA,
    path quoted): worked out once per URL, as web cron calls the same ones over and over."""
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, None)
    parts = parse_url(prepared.url)
    return parts.scheme, parts.host, parts.port, parts.request_uri


def _encoded(body):
    """The bytes sent for ``body``: a string as is (UTF-8), any other value as JSON."""
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, allow_nan=False).encode("utf-8")


def _done(response):
    """Give the response's connection back to its pool: still open when its body was read to
    the end, closed when it was not."""
    if not response.isclosed():
        response.close()
    response.release_conn()


def _redirected(status, method, body, headers, url, next_url):
    """Method, body and headers for the next hop, as browsers and requests do it."""
    if (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST"):
        method, body = "GET", None
        headers = CaseInsensitiveDict({k: v for k, v in headers.items()
                                       if k.lower() not in ("content-type", "content-length")})
    old, new = urlsplit(url), urlsplit(next_url)
    if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
        headers = CaseInsensitiveDict({k: v for k, v in headers.items() if k.lower() not in _CROSS_ORIGIN_DROP})
    return method, body, headers


def _read_capped(response, deadline):
    """At most a little over BODY_LIMIT bytes of the body: enough to know whether there was more."""
    chunks, size = [], 0
    for chunk in response.stream(8192, decode_content=True):
        chunks.append(chunk)
        size += len(chunk)
        if size > BODY_LIMIT:
            break
        if time.monotonic() > deadline:
            raise TimeoutError
    return b"".join(chunks)


def _charset(content_type):
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip("\"'")).name
            except LookupError:
                break
    return "utf-8"


def _reason(exc):
    # A wrapping error's ``reason`` (or first argument) says what happened.
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
    return str(getattr(inner, "reason", None) or inner)[:300]


def _ms(started):
    return round((time.monotonic() - started) * 1000, 3)
