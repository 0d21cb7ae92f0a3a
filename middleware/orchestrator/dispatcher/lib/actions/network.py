"""Where a ``url`` action may connect, enforced at the moment it connects.

Policy: an address is refused when it lies in a ``URL_DENY_NETWORKS`` network, or when
``URL_ALLOW_NETWORKS`` is non-empty and it lies in none of those networks. Deny always wins over
allow; an empty allow list means "everything not denied". By default only link-local and cloud
metadata addresses are denied (private ranges and loopback are allowed: the service often runs
next to what it calls). An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is judged as its IPv4.

Enforcement: :class:`GuardedAdapter` makes requests connect through connection classes whose
``_new_conn`` resolves the host itself, refuses the whole target if *any* resolved address is
refused, then opens the socket to one of exactly those checked addresses (a numeric address: no
second lookup that a rebinding DNS server could answer differently). TLS still verifies the
certificate and sends SNI for the host name, since urllib3 takes those from ``conn.host``, which
is left alone. Every connection, hence every redirect hop, goes through the same check.
"""
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
import socket
import sys
import threading

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from dispatcher.errors import SettingsError

DEFAULT_DENY = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
DEFAULT_ALLOW = ()


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
    ip = ip_address(str(value).split("%", 1)[0])     # drop an IPv6 zone ("fe80::1%eth0")
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip


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
        for network in self.deny:
            if ip in network:
                return f"in the denied network {network}"
        if self.allow and not any(ip in network for network in self.allow):
            return "outside the allowed networks"
        return None

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


def guarded_pool_classes(policy):
    """urllib3 pool classes, by scheme, whose connections obey ``policy``."""
    http = type("GuardedHTTPConnection", (_GuardedConnection, HTTPConnection), {"policy": policy})
    https = type("GuardedHTTPSConnection", (_GuardedConnection, HTTPSConnection), {"policy": policy})
    return {"http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https})}


class GuardedAdapter(HTTPAdapter):
    """A requests transport adapter that connects only where ``policy`` permits; no retries.

    Mount it on a session whose ``trust_env`` is off: through a proxy, the peer we would judge
    is the proxy, not the target.
    """

    def __init__(self, policy, **kwargs):
        self.policy = policy
        super().__init__(max_retries=0, **kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = guarded_pool_classes(self.policy)
