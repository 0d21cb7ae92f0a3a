"""Where a ``url`` action may connect, enforced at the moment it connects.

Policy: an address is refused when it lies in a ``URL_DENY_NETWORKS`` network, or when
``URL_ALLOW_NETWORKS`` is non-empty and it lies in none of those networks. Deny always wins over
allow; an empty allow list means "everything not denied". By default only link-local and cloud
metadata addresses are denied (private ranges and loopback are allowed: the service often runs
next to what it calls).

An IPv6 address that stands for an IPv4 address reaches that IPv4 host (through the kernel's
dual stack, a NAT64 gateway or a 6to4 relay), so it is judged as that IPv4 address too: IPv4-mapped
``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d`` (RFC 6052) and
the local-use ``64:ff9b:1::/48`` (RFC 8215), 6to4 ``2002:aabb:ccdd::/48``. It is refused when
any of its forms is denied, and, under an allow list, permitted when it is allowed as written or
every IPv4 address it may stand for is. In the local-use NAT64 prefix the network picks where
the IPv4 bits sit (RFC 6052 prefix lengths 48 to 96), so every placement counts.

Enforcement: :func:`guarded_pool_manager` (urllib3, for the url action) and
:class:`GuardedAdapter` (requests, for webhooks) connect through connection classes whose
``_new_conn`` resolves the host itself, refuses the whole target if *any* resolved address is
refused, then opens the socket to one of exactly those checked addresses (a numeric address: no
second lookup that a rebinding DNS server could answer differently). TLS still verifies the
certificate and sends SNI for the host name, since urllib3 takes those from ``conn.host``, which
is left alone. Every connection, hence every redirect hop, goes through the same check.
"""
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address, ip_network
import socket
import sys
import threading

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from dispatcher.errors import SettingsError

DEFAULT_DENY = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
DEFAULT_ALLOW = ()
NAT64 = ip_network("64:ff9b::/96")                 # RFC 6052 well-known prefix
NAT64_LOCAL_USE = ip_network("64:ff9b:1::/48")     # RFC 8215
IPV4_COMPATIBLE = ip_network("::/96")              # RFC 4291, deprecated but still parsed


class AddressRefused(ValueError):
    """The target resolves to an address the policy refuses.

    Deliberately not an ``OSError``: urllib3 would take it for a network failure, retry it and
    wrap it; as a ``ValueError`` it reaches the action unchanged.
    """

    def __init__(self, host, address, reason):
        where = f"{host} resolves to {address}, which" if host != address else str(address)
        super().__init__(f"{where} is {reason}")
        self.host = host
        self.address = address
        self.reason = reason


def _networks(settings, key, default):
    value = settings.get(key)
    if value is None:
        value = default
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{key} must be a list of CIDR strings such as '10.0.0.0/8'")
    try:
        return tuple(ip_network(v.strip(), strict=False) for v in value)
    except ValueError as exc:
        raise SettingsError(f"{key}: {exc}") from None


def _address(value):
    return ip_address(str(value).split("%", 1)[0])     # drop an IPv6 zone ("fe80::1%eth0")


def embedded_ipv4(ip):
    """The IPv4 addresses an IPv6 address may stand for, in a tuple; empty for any other address."""
    if ip.version == 4:
        return ()
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    packed = ip.packed
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):     # not "::" nor "::1" (loopback)
        return (IPv4Address(packed[12:]),)
    if ip in NAT64_LOCAL_USE:
        # RFC 6052 layouts for prefixes of 48, 56, 64 and 96 bits; bits 64-71 are always zero
        # and never carry the address, hence dropped before slicing.
        octets = packed[:8] + packed[9:]
        return tuple(dict.fromkeys(IPv4Address(octets[start:start + 4]) for start in (6, 7, 8, 11)))
    return ()


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses a url action may connect to (see the module docstring)."""

    deny: tuple = ()
    allow: tuple = ()

    @classmethod
    def from_settings(cls, settings):
        """Read ``URL_DENY_NETWORKS`` and ``URL_ALLOW_NETWORKS``; :class:`SettingsError` names a bad one."""
        return cls(_networks(settings, "URL_DENY_NETWORKS", DEFAULT_DENY),
                   _networks(settings, "URL_ALLOW_NETWORKS", DEFAULT_ALLOW))

    def refusal(self, address):
        """Why ``address`` is refused, or None when it is permitted."""
        ip = _address(address)
        embedded = embedded_ipv4(ip)
        for form in (ip, *embedded):
            for network in self.deny:
                if form in network:
                    return f"in the denied network {network}" + (f" (as {form})" if form is not ip else "")
        if self.allow and not (self._allowed(ip) or (embedded and all(map(self._allowed, embedded)))):
            return "outside the allowed networks"
        return None

    def _allowed(self, ip):
        return any(ip in network for network in self.allow)

    def check(self, host, addresses):
        """Raise :class:`AddressRefused` unless every one of ``addresses`` is permitted."""
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                raise AddressRefused(host, address, reason)


def literal_address(host):
    """``host`` as an IP address when it is one (brackets and zone allowed), else None."""
    try:
        return _address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host, port, timeout):
    """The addresses ``host`` resolves to, in resolver order; ``socket.gaierror`` on failure.

    ``getaddrinfo`` takes no timeout, so it runs in a daemon thread we stop waiting for.
    """
    host = host.strip("[]")
    if literal_address(host) is not None:
        return [host]
    answer = {}
    done = threading.Event()

    def lookup():
        try:
            answer["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            answer["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name="url-action-dns", daemon=True).start()
    if not done.wait(timeout):
        raise socket.gaierror(socket.EAI_AGAIN, f"resolving {host} took longer than {timeout:g} s")
    if "error" in answer:
        error = answer["error"]
        raise error if isinstance(error, socket.gaierror) else socket.gaierror(socket.EAI_FAIL, str(error))
    addresses = []
    for *_, sockaddr in answer["infos"]:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


class _GuardedConnection:
    """Mixin for urllib3 connections: resolve, check every address, connect to a checked one."""

    policy: NetworkPolicy
    peer_address = None

    def _new_conn(self):
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else 10.0
        try:
            addresses = resolve(self.host, self.port, timeout)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        self.policy.check(self.host, addresses)
        failure = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except TimeoutError as exc:
                failure = ConnectTimeoutError(self, f"connection to {self.host} ({address}) timed out")
                failure.__cause__ = exc
                continue
            except OSError as exc:
                failure = NewConnectionError(self, f"failed to connect to {self.host} ({address}): {exc}")
                failure.__cause__ = exc
                continue
            self.peer_address = sock.getpeername()[0]
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise failure


class _BoundedWait:
    """Mixin for urllib3 pools: a request waits for a free connection of a full pool no longer
    than its connect timeout (urllib3 would wait for ever), then raises ``EmptyPoolError``."""

    def urlopen(self, method, url, *args, **kwargs):
        if kwargs.get("pool_timeout") is None:
            timeout = getattr(kwargs.get("timeout"), "connect_timeout", None)
            kwargs["pool_timeout"] = timeout if isinstance(timeout, (int, float)) else 10.0
        return super().urlopen(method, url, *args, **kwargs)


def guarded_pool_classes(policy):
    """urllib3 pool classes, by scheme, whose connections obey ``policy``."""
    http = type("GuardedHTTPConnection", (_GuardedConnection, HTTPConnection), {"policy": policy})
    https = type("GuardedHTTPSConnection", (_GuardedConnection, HTTPSConnection), {"policy": policy})
    return {"http": type("GuardedHTTPConnectionPool", (_BoundedWait, HTTPConnectionPool), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSConnectionPool", (_BoundedWait, HTTPSConnectionPool),
                          {"ConnectionCls": https})}


def guarded_pool_manager(policy, hosts, per_host, ca_certs):
    """A urllib3 pool manager whose connections obey ``policy``: the pools of at most ``hosts``
    hosts kept, each with at most ``per_host`` connections (a request waits for a free one
    within its connect timeout); certificates verified against ``ca_certs``.

    Requests go to its pools (``connection_from_url(url).urlopen(...)``) with ``retries=False``
    and ``redirect=False``: the caller follows redirects, so that every hop is its own decision.
    """
    manager = PoolManager(num_pools=hosts, maxsize=per_host, block=True, cert_reqs="CERT_REQUIRED",
                          ca_certs=ca_certs)
    manager.pool_classes_by_scheme = guarded_pool_classes(policy)
    return manager


class GuardedAdapter(HTTPAdapter):
    """A requests transport adapter that connects only where ``policy`` permits; no retries.

    Mount it on a session whose ``trust_env`` is off, or send through it directly: through a
    proxy, the peer we would judge is the proxy, not the target. Kept connections are reused
    only through the adapter that opened (and checked) them.
    """

    def __init__(self, policy, **kwargs):
        self.policy = policy
        super().__init__(max_retries=0, **kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = guarded_pool_classes(self.policy)
