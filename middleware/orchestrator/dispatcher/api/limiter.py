"""The API's rate limit: ``RATE_LIMIT`` per caller, counted by the ``limits`` library.

One limit, one count per caller across every route: the account for a valid key (however it
is spelled, whichever of its keys), else the client's address; a blueprint may count by its
own key (the service broker counts per platform). ``/healthz``, ``/metrics`` and static files
are not counted. Every counted answer says where the caller stands (``X-RateLimit-Limit``,
``-Remaining``, ``-Reset``); a refused one is 429 with ``Retry-After``.

The counts live where ``RATELIMIT_STORAGE_URI`` says: any storage of ``limits``
(``redis://``, ``memcached://``, ``memory://``) or our store (``orchestrator+sql://``); but for
``memory://``, each process sends them there in batches every ``RATELIMIT_SYNC_SECONDS`` (see
:mod:`dispatcher.lib.ratelimit`). This is the whole of the Flask side, kept to one count per
request (and one look-up per window for its end): the general-purpose extensions resolve
decorators, scopes and exemptions per request, which cost as much as serving a small page.
"""
import logging
import math
import time

from flask import current_app, g, request
from limits import parse
from limits.errors import ConfigurationError
from limits.storage import MemoryStorage, storage_from_string
from werkzeug.exceptions import TooManyRequests

from dispatcher.errors import SettingsError, StoreUnavailable
from dispatcher.lib.ratelimit import Batches, BatchedStorage
from dispatcher.lib.secrets import add_password_of, shown_url

log = logging.getLogger(__name__)

#: The WSGI environ's key for a count made before Flask dispatched the request.
COUNTED = "orchestrator.rate_limit"


class RateLimiter:
    """Counts each request against its caller's limit, before the view runs."""

    def __init__(self, app, limit, storage_uri, key, storage_options=None, batch_seconds=0.0):
        try:
            self.item = parse(limit) if limit else None
        except (TypeError, ValueError):
            raise SettingsError(f"RATE_LIMIT {limit!r}: expected e.g. '1200 per minute', or '' for no limit") from None
        add_password_of(storage_uri)
        try:
            self.storage = storage_from_string(storage_uri, **(storage_options or {}))
        except (ConfigurationError, ValueError, TypeError) as exc:
            # The library's message repeats the URL, password and all: name the kind of failure.
            raise SettingsError(f"RATELIMIT_STORAGE_URI {shown_url(str(storage_uri))}: not a storage the rate "
                                f"limiter can use ({type(exc).__name__}); expected orchestrator+sql://, "
                                f"redis://, memcached:// or memory://") from None
        if batch_seconds and not isinstance(self.storage, (Batches, MemoryStorage)):
            # Redis or memcached: their counts sent in batches, as the store's are.
            self.storage = BatchedStorage(self.storage, batch_seconds)
        self.key = key
        self.blueprint_keys = {}
        self.keys = {}  # caller -> its storage key (building one costs more than counting)
        self.resets = {}  # storage key -> when its window ends, asked once per window
        self.exempt_views = set()
        self.routes = {}  # endpoint -> the function giving its count's key, None when not counted
        if self.item is not None:
            app.before_request(self.count)
            app.after_request(self.add_headers)

    def exempt(self, view):
        """Never count requests served by ``view``."""
        self.exempt_views.add(view)
        self.routes.clear()
        return view

    def count_by(self, blueprint, key):
        """Count the requests of ``blueprint`` by ``key()`` instead of the caller."""
        self.blueprint_keys[blueprint.name] = key
        self.routes.clear()

    def _key_of(self, endpoint):
        """The function giving the count's key for requests to ``endpoint``, or None."""
        if endpoint is None or endpoint.rpartition(".")[2] == "static" \
                or current_app.view_functions[endpoint] in self.exempt_views:
            return None
        outermost = endpoint.partition(".")[0] if "." in endpoint else None
        return self.blueprint_keys.get(outermost, self.key)

    def count(self):
        endpoint = request.endpoint
        try:
            key_of = self.routes[endpoint]
        except KeyError:
            key_of = self.routes[endpoint] = self._key_of(endpoint)
        if key_of is None:
            return
        # A request the hot pages counted before handing it to Flask (dispatcher.api.hotpages)
        # is not counted twice.
        used, reset = request.environ.pop(COUNTED, None) or self.charge(key_of())
        g.rate_limit = (used, reset)
        if used > self.item.amount:
            raise TooManyRequests(f"rate limit of {self.item} exceeded",
                                  retry_after=max(1, math.ceil(reset - time.time())))

    def charge(self, caller):
        """Count one request of ``caller`` (a count's key, such as ``account:<id>``): the
        number counted in the window so far and when the window ends.
        :class:`StoreUnavailable` when the counts cannot be reached."""
        key = self.keys.get(caller)
        if key is None:
            if len(self.keys) > 10_000:
                self.keys.clear()
                self.resets.clear()
            key = self.keys[caller] = self.item.key_for(caller)
        try:
            used = self.storage.incr(key, self.item.get_expiry())
            reset = self.resets.get(key, 0.0)
            if used == 1 or reset <= time.time():  # a new window, or one this process has not seen
                reset = self.resets[key] = self.storage.get_expiry(key)
        except Exception as exc:
            log.warning("rate-limit counts unavailable (%s): %s", type(exc).__name__, exc)
            raise StoreUnavailable("the rate-limit counts cannot be reached; try again shortly") from None
        return used, reset

    def header_items(self, used, reset):
        """The answer's headers saying where a caller stands."""
        return [("X-RateLimit-Limit", str(self.item.amount)),
                ("X-RateLimit-Remaining", str(max(0, self.item.amount - used))),
                ("X-RateLimit-Reset", str(math.ceil(reset)))]

    def add_headers(self, response):
        counted = g.get("rate_limit")
        if counted is not None:
            headers = response.headers
            for name, value in self.header_items(*counted):
                headers.add(name, value)
        return response
