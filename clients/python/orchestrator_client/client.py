"""The Orchestrator API client: one method per route of ``/api/v1``, over one ``httpx.Client``.

Every method returns the API's JSON as plain ``dict`` objects (the shapes the API reference
documents); list methods return generators that fetch page after page until ``total``.
"""
from datetime import datetime
import email.utils
import time

import httpx

from orchestrator_client.errors import ConnectionFailed, RateLimited, error_for

#: Methods that may be sent again after a connection failure without doing the work twice.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: The longest ``Retry-After`` honoured, in seconds: a longer wish raises :class:`RateLimited`.
MAX_RETRY_AFTER = 30.0


def _retry_after(value):
    """Seconds a ``Retry-After`` header asks for (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


class Client:
    """A connection to one Orchestrator service with one API key.

    ``timeout`` bounds each HTTP request (seconds); ``retries`` is how many times a request is
    sent again after a 429 or 503 (waiting what ``Retry-After`` asks, at most
    :data:`MAX_RETRY_AFTER`), or after a connection failure of an idempotent method (with
    exponential back-off). Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, url, api_key, timeout=10.0, retries=3, transport=None):
        self.url = url.rstrip("/")
        self.retries = retries
        self.sleep = time.sleep  # replaceable, so callers can observe the waits
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}",
                                           "User-Agent": "orchestrator-client/1.0"})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the connections."""
        self._http.close()

    # -- transport -----------------------------------------------------------------------------

    def request(self, method, path, json=None, params=None):
        """The parsed JSON answer of one call (None for 204), retried as the class says;
        raises an :class:`~orchestrator_client.OrchestratorError` subclass for error answers."""
        params = {k: _iso(v) for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                # A connect error means nothing was sent; anything later may have done the work.
                if attempt < self.retries and (method in IDEMPOTENT or isinstance(exc, httpx.ConnectError)):
                    self.sleep(min(0.25 * 2 ** attempt, 5.0))
                    attempt += 1
                    continue
                raise ConnectionFailed(f"cannot reach {self.url}: {exc or type(exc).__name__}") from exc
            if response.status_code in (429, 503) and attempt < self.retries:
                wait = _retry_after(response.headers.get("Retry-After"))
                # 429 is answered before any work; a 503 without Retry-After only for idempotent calls.
                retry = response.status_code == 429 or wait is not None or method in IDEMPOTENT
                if retry and (wait or 0) <= MAX_RETRY_AFTER:
                    self.sleep(wait if wait is not None else min(0.25 * 2 ** attempt, 5.0))
                    attempt += 1
                    continue
            if response.status_code >= 400:
                error = error_for(response)
                if isinstance(error, RateLimited):
                    error.retry_after = _retry_after(response.headers.get("Retry-After"))
                raise error
            if response.status_code == 204 or not response.content:
                return None
            return response.json()

    def paginate(self, path, params=None, page_size=None):
        """Yield every item of a list route, following ``offset``/``limit`` until ``total``."""
        params = dict(params or {})
        offset = 0
        while True:
            page = self.request("GET", path, params={**params, "limit": page_size, "offset": offset})
            items = page["items"]
            yield from items
            offset += len(items)
            if not items or offset >= page["total"]:
                return

    # -- the service ---------------------------------------------------------------------------

    def health(self):
        """``{"status": "ok"}`` while the service answers (no key needed)."""
        return self.request("GET", "/healthz")

    def openapi(self):
        """The service's OpenAPI 3 document."""
        return self.request("GET", "/api/v1/openapi.json")

    # -- clouds --------------------------------------------------------------------------------

    def clouds(self, page_size=None):
        """The clouds the caller may use: ``name``, ``engine``, ``driver``, ``default``."""
        return self.paginate("/api/v1/clouds", page_size=page_size)

    def cloud(self, cloud):
        """One cloud with the ``capabilities`` of its driver."""
        return self.request("GET", f"/api/v1/clouds/{cloud}")

    def images(self, cloud="default", page_size=None):
        return self.paginate(f"/api/v1/clouds/{cloud}/images", page_size=page_size)

    def sizes(self, cloud="default", page_size=None):
        return self.paginate(f"/api/v1/clouds/{cloud}/sizes", page_size=page_size)

    def locations(self, cloud="default", page_size=None):
        return self.paginate(f"/api/v1/clouds/{cloud}/locations", page_size=page_size)

    # -- nodes ---------------------------------------------------------------------------------

    def nodes(self, cloud="default", page_size=None):
        """The nodes of a cloud the caller may see."""
        return self.paginate(f"/api/v1/clouds/{cloud}/nodes", page_size=page_size)

    def node(self, node_id, cloud="default"):
        return self.request("GET", f"/api/v1/clouds/{cloud}/nodes/{node_id}")

    def create_nodes(self, name, image, size, cloud="default", location=None, count=1, wait=False,
                     timeout=None, async_=False):
        """Create nodes: ``{"nodes": [...]}``, or with ``async_`` ``{"run_id", "status"}`` at once.
        ``{n}`` in ``name`` counts from 1 when ``count`` > 1; ``wait`` answers once they run."""
        body = {"name": name, "image": image, "size": size, "count": count, "wait": wait, "async": async_}
        if location is not None:
            body["location"] = location
        if timeout is not None:
            body["timeout"] = timeout
        return self.request("POST", f"/api/v1/clouds/{cloud}/nodes", json=body)

    def reboot_node(self, node_id, cloud="default"):
        """Reboot a node; its state once the cloud accepted."""
        return self.request("POST", f"/api/v1/clouds/{cloud}/nodes/{node_id}/reboot")

    def destroy_node(self, node_id, cloud="default"):
        self.request("DELETE", f"/api/v1/clouds/{cloud}/nodes/{node_id}")

    def ping_node(self, node_id, cloud="default", port=None, timeout=None):
        """``{state, address, reachable, latency_ms?, error?}``."""
        body = {k: v for k, v in {"port": port, "timeout": timeout}.items() if v is not None}
        return self.request("POST", f"/api/v1/clouds/{cloud}/nodes/{node_id}/ping", json=body)

    # -- jobs ----------------------------------------------------------------------------------

    def jobs(self, group=None, page_size=None):
        """The caller's jobs (every job for the administrator), optionally of one group."""
        return self.paginate("/api/v1/jobs", {"group": group}, page_size=page_size)

    def job(self, job_id):
        """One job with ``next_run_at``."""
        return self.request("GET", f"/api/v1/jobs/{job_id}")

    def create_job(self, schedule=None, action=None, body=None, **fields):
        """Schedule a job: pass ``schedule`` and ``action`` (and ``name``, ``group``... as
        keywords), or a whole job ``body``."""
        body = dict(body or {})
        if schedule is not None:
            body["schedule"] = schedule
        if action is not None:
            body["action"] = action
        body.update(fields)
        return self.request("POST", "/api/v1/jobs", json=body)

    def update_job(self, job_id, **changes):
        """Change a job (``paused``, ``schedule``, ``action``, ``name``, ``group``...)."""
        return self.request("PATCH", f"/api/v1/jobs/{job_id}", json=changes)

    def pause_job(self, job_id):
        return self.update_job(job_id, paused=True)

    def resume_job(self, job_id):
        return self.update_job(job_id, paused=False)

    def run_job(self, job_id):
        """Run a job now; the id of the run submitted."""
        return self.request("POST", f"/api/v1/jobs/{job_id}/run")["run_id"]

    def delete_job(self, job_id):
        self.request("DELETE", f"/api/v1/jobs/{job_id}")

    def job_runs(self, job_id, page_size=None):
        """The runs of a job, newest first."""
        return self.paginate(f"/api/v1/jobs/{job_id}/runs", page_size=page_size)

    def notifications(self, job_id, page_size=None):
        """The deliveries of a job's notifications, newest first: ``event``, ``channel``,
        ``target``, ``status``, ``attempts``... (they stay listed after the job is deleted)."""
        return self.paginate(f"/api/v1/jobs/{job_id}/notifications", page_size=page_size)

    # -- runs ----------------------------------------------------------------------------------

    def runs(self, status=None, job_id=None, since=None, until=None, page_size=None):
        """The caller's runs across jobs, newest first; ``since``/``until`` are datetimes or
        ISO 8601 strings."""
        return self.paginate("/api/v1/runs", {"status": status, "job_id": job_id, "since": since, "until": until},
                             page_size=page_size)

    def run(self, run_id):
        """One run with its ``events``."""
        return self.request("GET", f"/api/v1/runs/{run_id}")

    def last_event(self, run_id):
        """``{"status", "uuid", "completion_date"?}``: the ``state`` of a run."""
        return self.request("GET", f"/api/v1/last-events/{run_id}")["state"]

    # -- groups and schedules ------------------------------------------------------------------

    def groups(self, page_size=None):
        """``{"group", "jobs"}`` for each of the caller's groups."""
        return self.paginate("/api/v1/groups", page_size=page_size)

    def replace_group(self, group, jobs, rename_to=None, replace=False):
        """Replace every job of a group at once; ``{"group", "jobs"}``."""
        body = {"jobs": list(jobs)}
        if rename_to is not None:
            body.update(rename_to=rename_to, replace=replace)
        return self.request("PUT", f"/api/v1/groups/{group}", json=body)

    def delete_group(self, group):
        self.request("DELETE", f"/api/v1/groups/{group}")

    def preview_schedule(self, schedule, count=5):
        """The next fire times of a schedule: ``{"timezone", "fire_times", "more", ...}``."""
        return self.request("POST", "/api/v1/schedules/preview", json={"schedule": schedule, "count": count})

    # -- accounts and keys ---------------------------------------------------------------------

    def me(self):
        """The caller's account: plan, ``jobs_scheduled``, ``jobs_allowed``."""
        return self.request("GET", "/api/v1/accounts/me")

    def accounts(self, page_size=None):
        """Every account (administrator only)."""
        return self.paginate("/api/v1/accounts", page_size=page_size)

    def account(self, account_id):
        return self.request("GET", f"/api/v1/accounts/{account_id}")

    def create_account(self, name, plan):
        """A new account with its first key: ``{id, name, plan, key_id, api_key}``."""
        return self.request("POST", "/api/v1/accounts", json={"name": name, "plan": plan})

    def update_account(self, account_id, **changes):
        """Change an account's ``name`` or ``plan``."""
        return self.request("PATCH", f"/api/v1/accounts/{account_id}", json=changes)

    def set_account_defaults(self, account_id, **defaults):
        """Replace an account's job defaults (``notify``, ``disable_after``)."""
        return self.request("PUT", f"/api/v1/accounts/{account_id}/defaults", json=defaults)

    def delete_account(self, account_id):
        self.request("DELETE", f"/api/v1/accounts/{account_id}")

    def keys(self, account_id, page_size=None):
        """An account's API keys (ids and dates, never the keys)."""
        return self.paginate(f"/api/v1/accounts/{account_id}/keys", page_size=page_size)

    def create_key(self, account_id):
        """A new key: ``{key_id, api_key}``; the key is shown this once."""
        return self.request("POST", f"/api/v1/accounts/{account_id}/keys")

    def revoke_key(self, key_id):
        self.request("DELETE", f"/api/v1/keys/{key_id}")
