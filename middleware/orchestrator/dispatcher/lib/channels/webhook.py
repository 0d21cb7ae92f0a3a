"""``webhook``: the notice POSTed as JSON to the URL of ``notify.webhook``, signed with its secret.

Headers: ``X-Orchestrator-Timestamp`` (Unix seconds, fresh at each attempt),
``X-Orchestrator-Signature: sha256=<hex>`` (HMAC-SHA256 of ``<timestamp>.<body>`` under the
secret; absent when the webhook has no secret), ``X-Orchestrator-Event`` and
``X-Orchestrator-Delivery`` (the id of the notification, the same at every attempt: receivers
deduplicate on it). Any 2xx is delivered; redirects are not followed. The URL obeys the url
actions' network policy (:class:`~dispatcher.lib.actions.network.NetworkPolicy`): checked when
the job is created or changed, and again on every connection, so a name that later resolves
into a denied network is still refused.
"""
import time
from urllib.parse import urlsplit

from marshmallow import ValidationError
import orjson
import requests

from dispatcher import settings as defaults
from dispatcher.lib.actions.network import AddressRefused, GuardedAdapter, NetworkPolicy, resolve
from dispatcher.lib.actions.url import check_url
from dispatcher.lib.channels.base import Channel, DeliveryFailed
from dispatcher.lib.notices import signature

USER_AGENT = "Orchestrator-notify/1"
SIGNATURE, TIMESTAMP = "X-Orchestrator-Signature", "X-Orchestrator-Timestamp"
RETRIED_STATUSES = frozenset({408, 425, 429})   # and every 5xx


def refusal(url, settings):
    """Why the webhook ``url`` is refused when a job is created or changed, or None.

    A host name that does not resolve now is accepted: it is checked again at every delivery.
    """
    try:
        check_url(url)
    except ValidationError as exc:
        return exc.messages[0]
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    timeout = float(settings.get("URL_VALIDATION_DNS_TIMEOUT", defaults.URL_VALIDATION_DNS_TIMEOUT))
    try:
        addresses = resolve(parts.hostname, port, timeout)
    except OSError:
        return None
    try:
        NetworkPolicy.from_settings(settings).check(parts.hostname, addresses)
    except AddressRefused as exc:
        return f"refused: {exc}"
    return None


class WebhookChannel(Channel):
    """``webhook``: one signed POST per attempt, through the network policy."""

    name = "webhook"

    def __init__(self, settings):
        self.policy = NetworkPolicy.from_settings(settings)
        self.timeout = float(settings.get("NOTIFY_TIMEOUT", defaults.NOTIFY_TIMEOUT))

    def send(self, target, body, delivery_id):
        url, secret = target["url"], target.get("secret")
        data = orjson.dumps(body)
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, TIMESTAMP: stamp,
                   "X-Orchestrator-Event": body["event"], "X-Orchestrator-Delivery": delivery_id}
        if secret:
            headers[SIGNATURE] = signature(secret, stamp, data)
        with requests.Session() as session:
            # No proxies or .netrc from the environment: the policy must judge the real peer.
            session.trust_env = False
            adapter = GuardedAdapter(self.policy)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            try:
                response = session.post(url, data=data, headers=headers, timeout=self.timeout,
                                        allow_redirects=False)
            except AddressRefused as exc:
                raise DeliveryFailed(f"refused: {exc}", retry=False) from None
            except requests.Timeout:
                raise DeliveryFailed(f"no answer within {self.timeout:g} s") from None
            except (requests.RequestException, ValueError) as exc:
                raise DeliveryFailed(f"cannot connect: {_reason(exc)}") from None
            status = response.status_code
            response.close()
        if not 200 <= status < 300:
            raise DeliveryFailed(f"answered {status}", retry=status >= 500 or status in RETRIED_STATUSES)


def _reason(exc):
    # requests wraps urllib3's error, whose ``reason`` says what happened.
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], Exception) else exc
    return str(getattr(inner, "reason", None) or inner)[:300]
