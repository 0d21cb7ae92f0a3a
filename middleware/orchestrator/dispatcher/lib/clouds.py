"""A configured cloud: one long-lived libcloud driver behind operations that speak our values.

Every provider call goes through :func:`provider_call`, which turns libcloud's and the
transport's exceptions into our :class:`~dispatcher.errors.DispatcherError` hierarchy with
the credentials scrubbed from the message.
"""
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
import logging
import queue
import re
import socket
import threading
import time

from libcloud.common.exceptions import BaseHTTPError
from libcloud.common.types import InvalidCredsError, LibcloudError, ProviderError
from libcloud.compute.base import NodeDriver
from libcloud.compute.types import NodeState
import requests

from dispatcher.errors import CloudError, CloudTimeout, DispatcherError, NotFound, NotSupported, ValidationFailed
from dispatcher.lib import metrics
from dispatcher.lib.secrets import registry as secrets
from dispatcher.lib.values import Image, Location, Node, Size

log = logging.getLogger(__name__)

#: Operations a cloud may support, by the libcloud method that performs them.
OPERATIONS = {
    "list_nodes": "list_nodes", "create_node": "create_node", "reboot_node": "reboot_node",
    "destroy_node": "destroy_node", "list_images": "list_images", "list_sizes": "list_sizes",
    "list_locations": "list_locations",
}
CATALOG_TTL = 300.0     # seconds images, sizes and locations are reused to check a create request
PARALLEL_CREATES = 8    # nodes created at once by one request


@contextmanager
def provider_call(cloud, operation):
    """A provider call, timed and counted (:mod:`dispatcher.lib.metrics`), its errors translated."""
    started = time.perf_counter()
    try:
        with _translated(cloud, operation):
            yield
    except DispatcherError as exc:
        metrics.observe_cloud_call(cloud.name, operation, time.perf_counter() - started, exc.code)
        raise
    metrics.observe_cloud_call(cloud.name, operation, time.perf_counter() - started)


@contextmanager
def _translated(cloud, operation):
    """Translate whatever a provider call raises into our errors, secrets scrubbed.

    Messages say what failed, not where: a transport error names the endpoint's host and port
    and a provider's HTML error page may name internal hosts, so those go to the log (scrubbed
    like every record), and the message keeps to what an API client can act on.
    """
    what = operation.replace("_", " ")
    details = {"cloud": cloud.name, "operation": operation}
    try:
        yield
    except DispatcherError:
        raise
    except InvalidCredsError:
        raise CloudError(f"cloud {cloud.name!r} refused our credentials", {"cloud": cloud.name})
    except (socket.timeout, TimeoutError, requests.Timeout) as exc:
        log.warning("cloud %s: %s timed out: %s", cloud.name, operation, _reason(exc))
        raise CloudTimeout(f"cloud {cloud.name!r} did not answer within {cloud.timeout:g} s", details)
    except (requests.ConnectionError, ConnectionError) as exc:
        log.warning("cloud %s: %s: could not reach it: %s", cloud.name, operation, _reason(exc))
        raise CloudError(f"cloud {cloud.name!r} could not be reached", details)
    except NotImplementedError:
        raise NotSupported(f"the {cloud.engine} driver of cloud {cloud.name!r} cannot {what}", details)
    except (ProviderError, BaseHTTPError) as exc:
        status = getattr(exc, "http_code", None) or getattr(exc, "code", None)
        log.warning("cloud %s: %s failed: HTTP %s: %s", cloud.name, operation, status, _reason(exc))
        raise CloudError(f"cloud {cloud.name!r} failed to {what}: {_answer(exc, status)}",
                         {**details, "provider_status": status})
    except requests.RequestException as exc:
        # The connection broke off mid-answer, too many redirects...: the transport's words again.
        log.warning("cloud %s: %s failed: %s: %s", cloud.name, operation, type(exc).__name__, _reason(exc))
        raise CloudError(f"cloud {cloud.name!r} failed to {what}: the connection failed", details)
    except (LibcloudError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # Drivers raise plain exceptions on answers they cannot parse: still the cloud's fault.
        log.warning("cloud %s: %s failed: %s: %s", cloud.name, operation, type(exc).__name__, _reason(exc))
        raise CloudError(f"cloud {cloud.name!r} failed to {what}: {_answer(exc)}", details)


_QUERY = re.compile(r"\?[^\s'\"()]*")
_HTML = re.compile(r"<\s*(!doctype\s+html|html|head|body|title)\b", re.I)


def _reason(exc):
    text = str(getattr(exc, "value", None) or exc) or type(exc).__name__
    # Request URLs in transport errors carry signatures and keys (EC2: AWSAccessKeyId, Signature).
    return secrets.redact(_QUERY.sub("?[query removed]", text))[:500]


def _answer(exc, status=None):
    """What the provider said, for the message: its own words, but never an HTML page.

    An HTML page is a proxy's or a web framework's error page (a wrong URL, an outage): its
    markup tells an API client nothing, and the log has it already.
    """
    reason = _reason(exc)
    if not _HTML.search(reason):
        return reason
    return f"the provider answered HTTP {status} (an HTML page)" if status else "the provider answered an HTML page"


class Cloud:
    """One entry of ``CLOUD_FARM``, connected on first use and kept connected."""

    def __init__(self, name, creds, driver_class, timeout, default=False, pool_size=8, list_seconds=0.0,
                 engine=None):
        self.name = name
        self.engine = str(creds["ENGINE"])
        self.allow = tuple(creds.get("ALLOW") or ())
        self.timeout = float(creds.get("TIMEOUT") or timeout)
        self.default = default
        self.driver_class = driver_class
        self._factory = driver_class(creds)
        if engine is not None:
            self._factory.attach_store(engine, name)
        self._shared = bool(getattr(driver_class, "shared", False))
        self.pool_size = int(pool_size)
        self._pool = queue.LifoQueue()
        self._opened = 0
        self._one = None
        self._lock = threading.Lock()
        self._catalog = {}  # "images"/"sizes"/"locations" -> (fetched at, {id: libcloud object})
        self._memo = {}     # id(libcloud node) -> (that node, its state, our Node)
        self.list_seconds = float(list_seconds)
        self._listed = None  # (monotonic time fetched, tuple of Node) for list requests
        self._pages = (None, {})  # (the tuple they were made from, {(limit, offset): JSON bytes})

    # -- connections ------------------------------------------------------------------
    def _connect(self):
        with provider_call(self, "connect"):
            return self._factory.connect(timeout=self.timeout)

    @contextmanager
    def call(self, operation):
        """A connected libcloud driver for one provider call, errors translated.

        libcloud's connection objects keep the last response on themselves, so one driver
        serves one call at a time: drivers are pooled (long-lived, reused, at most
        ``pool_size``), except for in-process drivers that declare themselves ``shared``.
        """
        if self._shared:
            if self._one is None:
                with self._lock:
                    if self._one is None:
                        self._one = self._connect()
            with provider_call(self, operation):
                yield self._one
            return
        try:
            driver = self._pool.get_nowait()
        except queue.Empty:
            with self._lock:
                fresh = self._opened < self.pool_size
                if fresh:
                    self._opened += 1
            if fresh:
                try:
                    driver = self._connect()
                except BaseException:
                    with self._lock:
                        self._opened -= 1
                    raise
            else:
                try:
                    driver = self._pool.get(timeout=self.timeout)
                except queue.Empty:
                    raise CloudTimeout(f"cloud {self.name!r}: all {self.pool_size} connections stayed busy "
                                       f"for {self.timeout:g} s", {"cloud": self.name}) from None
        try:
            with provider_call(self, operation):
                yield driver
        finally:
            self._pool.put(driver)

    def allows(self, plan, account_name, is_admin=False):
        """Whether an account of ``plan`` named ``account_name`` may use this cloud."""
        return is_admin or not self.allow or plan in self.allow or account_name in self.allow

    def info(self):
        return {"name": self.name, "engine": self.engine, "driver": self.driver_class.__name__,
                "default": self.default}

    def capabilities(self):
        """Which operations the driver implements, read from the class libcloud instantiated.

        Not ``libcloud_class()``: OpenStack's and DigitalOcean's are factories whose ``__new__``
        returns a subclass (constructing a driver sends no request).
        """
        with self.call("inspect") as driver:
            cls = type(driver)
        unsupported = getattr(self._factory, "unsupported", frozenset())
        return {op: op not in unsupported and getattr(cls, method, None) is not getattr(NodeDriver, method, None)
                for op, method in OPERATIONS.items()}

    # -- catalog ----------------------------------------------------------------------
    def images(self):
        with self.call("list_images") as driver:
            return [Image.from_libcloud(i) for i in driver.list_images()]

    def sizes(self):
        with self.call("list_sizes") as driver:
            return [Size.from_libcloud(s) for s in driver.list_sizes()]

    def locations(self):
        with self.call("list_locations") as driver:
            return [Location.from_libcloud(x) for x in driver.list_locations()]

    def _lookup(self, kind, item_id, field):
        fetched, items = self._catalog.get(kind, (0.0, {}))
        if item_id not in items or time.monotonic() - fetched > CATALOG_TTL:
            with self.call(f"list_{kind}") as driver:
                listed = getattr(driver, f"list_{kind}")()
            items = {str(item.id): item for item in listed}
            self._catalog[kind] = (time.monotonic(), items)
        if item_id not in items:
            raise ValidationFailed(f"cloud {self.name!r} has no {field} {item_id!r}",
                                   {field: [f"unknown {field} {item_id!r}"]})
        return items[item_id]

    # -- nodes ------------------------------------------------------------------------
    def _raw_nodes(self):
        with self.call("list_nodes") as driver:
            return driver.list_nodes()

    def nodes(self):
        # In-process drivers hand back the same libcloud objects every time: their converted
        # values are reused while the object and its state are unchanged.
        memo, fresh = self._memo, {}
        values = []
        for raw in self._raw_nodes():
            entry = memo.get(id(raw))
            if entry is None or entry[0] is not raw or entry[1] is not raw.state:
                entry = (raw, raw.state, Node.from_libcloud(raw))
            fresh[id(raw)] = entry
            values.append(entry[2])
        self._memo = fresh
        return values

    def listed_nodes(self):
        """The nodes as list requests see them: one tuple reused for ``list_seconds``."""
        listed = self._listed
        if listed is not None and time.monotonic() - listed[0] < self.list_seconds:
            return listed[1]
        fetched = time.monotonic()
        nodes = tuple(self.nodes())
        if self.list_seconds > 0:
            self._listed = (fetched, nodes)
        return nodes

    def still_listed(self, listed):
        """Whether list requests would still be answered ``listed`` (asking no cloud)."""
        held = self._listed
        return held is not None and held[1] is listed and time.monotonic() - held[0] < self.list_seconds

    def encoded_page(self, listed, key, encode):
        """The encoded answer for one page of ``listed`` (from :meth:`listed_nodes`), made once
        per list and page: ``encode()`` builds it."""
        pages = self._pages
        if pages[0] is not listed or len(pages[1]) > 32:  # a new list, or many page shapes
            pages = self._pages = (listed, {})
        body = pages[1].get(key)
        if body is None:
            body = pages[1][key] = encode()
        return body

    def _nodes_changed(self):
        self._listed = None

    def _raw_node(self, node_id):
        with self.call("get_node") as driver:
            if hasattr(driver, "ex_get_node"):
                found = driver.ex_get_node(node_id)
            else:
                found = next((n for n in driver.list_nodes() if str(n.id) == node_id), None)
        if found is None:
            raise NotFound(f"cloud {self.name!r} has no node {node_id!r}", {"cloud": self.name, "node": node_id})
        return found

    def node(self, node_id):
        return Node.from_libcloud(self._raw_node(node_id))

    def create_nodes(self, name, image, size, location=None, count=1):
        """Create ``count`` nodes in parallel; returns (nodes, failures) so nothing is lost."""
        image_obj = self._lookup("images", image, "image")
        size_obj = self._lookup("sizes", size, "size")
        location_obj = None if location is None else self._lookup("locations", location, "location")
        names = node_names(name, count)

        def create(node_name):
            kwargs = {"name": node_name, "image": image_obj, "size": size_obj}
            if location_obj is not None:
                kwargs["location"] = location_obj
            with self.call("create_node") as driver:
                return Node.from_libcloud(driver.create_node(**kwargs))

        created, failures = [], []
        with ThreadPoolExecutor(max_workers=min(count, PARALLEL_CREATES)) as pool:
            futures = [(n, pool.submit(create, n)) for n in names]
            for node_name, future in futures:
                try:
                    created.append(future.result())
                except DispatcherError as exc:
                    failures.append({"name": node_name, "error": exc.to_dict()["error"]})
        self._nodes_changed()
        return created, failures

    def wait_running(self, node_ids, timeout, poll=0.5):
        """Poll until every node runs; raises :class:`CloudTimeout` naming the laggards."""
        deadline = time.monotonic() + timeout
        pending = set(node_ids)
        latest = {}
        while True:
            for node in self.nodes():
                if node.id in pending:
                    latest[node.id] = node
                    if node.state == NodeState.RUNNING:
                        pending.discard(node.id)
                    elif node.state in (NodeState.ERROR, NodeState.TERMINATED):
                        # It will not run: say so now rather than after the whole timeout.
                        raise CloudError(f"node {node.id!r} of cloud {self.name!r} is {node.state} and will not run",
                                         {"cloud": self.name, "failed": [node.to_dict()],
                                          "waiting_for": sorted(pending - {node.id})})
            if not pending:
                return [latest[i] for i in node_ids]
            if time.monotonic() >= deadline:
                raise CloudTimeout(f"nodes of cloud {self.name!r} were not running within {timeout:g} s",
                                   {"cloud": self.name, "waiting_for": sorted(pending)})
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))

    def reboot(self, node_id):
        node = self._raw_node(node_id)
        try:
            with self.call("reboot_node") as driver:
                if not driver.reboot_node(node):
                    raise CloudError(f"cloud {self.name!r} refused to reboot node {node_id!r}")
        finally:
            self._nodes_changed()  # after the call, so that a list racing it cannot keep the old state

    def destroy(self, node_id):
        node = self._raw_node(node_id)
        try:
            with self.call("destroy_node") as driver:
                if not driver.destroy_node(node):
                    raise CloudError(f"cloud {self.name!r} refused to destroy node {node_id!r}")
        finally:
            self._nodes_changed()

    def ping(self, node_id, port=22, timeout=2.0):
        """Cloud state of the node plus a TCP probe of ``port`` on its first address."""
        node = self.node(node_id)
        address = next(iter(node.public_ips or node.private_ips), None)
        result = {"node_id": node.id, "state": node.state, "address": address, "port": port,
                  "reachable": False, "latency_ms": None, "error": None}
        if address is None:
            result["error"] = "the node has no address"
            return result
        started = time.perf_counter()
        try:
            with socket.create_connection((address, port), timeout=timeout):
                result["reachable"] = True
                result["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        except OSError as exc:
            result["error"] = type(exc).__name__ if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        return result


def node_names(pattern, count):
    """Names for ``count`` nodes: ``{n}`` in the pattern counts from 1; appended when absent."""
    if count == 1 and "{n}" not in pattern:
        return [pattern]
    if "{n}" not in pattern:
        pattern += "-{n}"
    return [pattern.replace("{n}", str(n)) for n in range(1, count + 1)]
