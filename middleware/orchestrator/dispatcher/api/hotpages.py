"""Encoded answers to the hottest reads, served before Flask dispatches the request.

Dashboards and scripts list a cloud's nodes over and over, and once that page is encoded,
Flask's dispatch (request context, routing, hooks) costs more than the answer itself. A view
that has encoded a page every caller of a kind sees alike publishes it here
(:meth:`HotPages.publish`) with what keeps it true: who may see it, and whether the data it
encodes is still what the view would answer.

The next ``GET`` of the same path and query string is answered from here when its
``Authorization`` carries a key this process verified within ``AUTH_CACHE_SECONDS`` (the same
cache the views' authentication uses, so a revoked key is refused as soon as it would be there),
the caller may see the page and the page is current. The answer is the view's: its status, body
and headers, counted by the rate limiter (``X-RateLimit-*``), with a request id
(``X-Request-Id``), in the metrics under the view's route. Anything else goes through Flask as
before: another method, path or query string, a key not verified here yet, a page gone stale, a
caller past its limit (answered 429 there, counted once), counts that cannot be reached.
"""
import logging
import time

from dispatcher.api.limiter import COUNTED
from dispatcher.errors import StoreUnavailable
from dispatcher.lib import logs, metrics

log = logging.getLogger(__name__)

#: Pages kept at most; past it they are all dropped (each view publishes again on its next request).
MAX_PAGES = 256


class Page:
    """One published answer and the conditions it holds under."""

    __slots__ = ("route", "body", "length", "may_see", "current")

    def __init__(self, route, body, may_see, current):
        self.route, self.body, self.length = route, body, str(len(body))
        self.may_see, self.current = may_see, current


class HotPages:
    """Published pages by (path, query string), and the WSGI layer that serves them."""

    def __init__(self, accounts, limiter, rate_key):
        self.accounts = accounts
        self.limiter = limiter  # None, or a RateLimiter with no limit: nothing to count
        self.rate_key = rate_key  # caller -> what its requests are counted under
        self.pages = {}

    def publish(self, environ, route, body, may_see, current):
        """Answer ``body`` (200, JSON) to the next ``GET`` of this request's path and query
        string from a caller for whom ``may_see(caller)``, while ``current()``; ``route`` is
        the view's rule, for the metrics."""
        if len(self.pages) >= MAX_PAGES:
            self.pages = {}
        self.pages[(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))] = Page(route, body, may_see, current)

    def wrap(self, wsgi_app):
        """The WSGI application answering published pages, and handing the rest to ``wsgi_app``."""
        def application(environ, start_response):
            if environ.get("REQUEST_METHOD") == "GET" and self.pages:
                try:
                    answer = self.answer(environ, start_response)
                except Exception:  # never an answer outside Flask's error handling
                    log.exception("a published page could not be served; Flask answers the request")
                    answer = None
                if answer is not None:
                    return answer
            return wsgi_app(environ, start_response)
        return application

    def answer(self, environ, start_response):
        """The published page's answer, or None to leave the request to Flask."""
        page = self.pages.get((environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")))
        if page is None:
            return None
        started = time.perf_counter()
        caller = self.accounts.known_caller(environ.get("HTTP_AUTHORIZATION"))
        if caller is None or not page.may_see(caller) or not page.current():
            return None
        headers = [("Content-Type", "application/json"), ("Content-Length", page.length)]
        limiter = self.limiter
        if limiter is not None and limiter.item is not None:
            try:
                used, reset = limiter.charge(self.rate_key(caller))
            except StoreUnavailable:
                return None  # Flask tries the counts again, and answers 503 if still away
            if used > limiter.item.amount:
                environ[COUNTED] = (used, reset)  # Flask answers the 429, from this count
                return None
            headers.extend(limiter.header_items(used, reset))
        headers.append(("X-Request-Id", logs.new_request_id(environ.get("HTTP_X_REQUEST_ID"))))
        metrics.observe_request(page.route, "GET", 200, time.perf_counter() - started)
        start_response("200 OK", headers)
        return [page.body]
