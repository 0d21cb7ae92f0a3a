"""The Orchestrator API client: one method per route of ``/api/v1``, over one ``httpx.Client``.

Every method returns the API's JSON as plain ``dict`` objects, typed for checkers and readers by
the ``TypedDict`` classes of :mod:`orchestrator_client.types` (the shapes the API reference
documents); list methods return generators that fetch page after page until ``total``.
"""
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
import email.utils
import time
from typing import Any

import httpx

from orchestrator_client.errors import ConnectionFailed, RateLimited, error_for
from orchestrator_client.types import (JSON, Account, AccountCreated, CloudDetail, CloudSummary, GroupJobs,
                                       GroupSummary, Health, Image, Job, Key, KeyCreated, Location, Node,
                                       NodeCreateStarted, NodesCreated, Notification, PingResult, Preview, Run,
                                       RunState, RunWithEvents, Size)

#: A time given to a filter: a datetime, or an ISO 8601 string.
When = datetime | str

#: Methods that may be sent again after a connection failure without doing the work twice.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: The longest ``Retry-After`` honoured, in seconds: a longer wish raises :class:`RateLimited`.
MAX_RETRY_AFTER = 30.0


def _retry_after(value: str | None) -> float | None:
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


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


class Client:
    """A connection to one Orchestrator service with one API key.

    ``timeout`` bounds each HTTP request (seconds); ``retries`` is how many times a request is
    sent again after a 429 or 503 (waiting what ``Retry-After`` asks, at most
    :data:`MAX_RETRY_AFTER`), or after a connection failure of an idempotent method (with
    exponential back-off). Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, url: str, api_key: str, timeout: float = 10.0, retries: int = 3,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        self.sleep = time.sleep  # replaceable, so callers can observe the waits
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {api_key}",
                                           "User-Agent": "orchestrator-client/1.0"})

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # -- transport -----------------------------------------------------------------------------

    def request(self, method: str, path: str, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
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
                    # "Retry-After: 0" (a server rounding the rest of its window down) waits
                    # like a missing one, rather than asking again at once.
                    self.sleep(wait or min(0.25 * 2 ** attempt, 5.0))
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

    def paginate(self, path: str, params: Mapping[str, Any] | None = None,
                 page_size: int | None = None) -> Iterator[Any]:
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

    def health(self) -> Health:
        """``{"status": "ok"}`` while the service answers (no key needed)."""
        return self.request("GET", "/healthz")

    def openapi(self) -> JSON:
        """The service's OpenAPI 3 document."""
        return self.request("GET", "/api/v1/openapi.json")

    # -- clouds --------------------------------------------------------------------------------

    def clouds(self, page_size: int | None = None) -> Iterator[CloudSummary]:
        """The clouds the caller may use: ``name``, ``engine``, ``driver``, ``default``."""
        return self.paginate("/api/v1/clouds", page_size=page_size)

    def cloud(self, cloud: str) -> CloudDetail:
        """One cloud with the ``capabilities`` of its driver."""
        return self.request("GET", f"/api/v1/clouds/{cloud}")

    def images(self, cloud: str = "default", page_size: int | None = None) -> Iterator[Image]:
        return self.paginate(f"/api/v1/clouds/{cloud}/images", page_size=page_size)

    def sizes(self, cloud: str = "default", page_size: int | None = None) -> Iterator[Size]:
        return self.paginate(f"/api/v1/clouds/{cloud}/sizes", page_size=page_size)

    def locations(self, cloud: str = "default", page_size: int | None = None) -> Iterator[Location]:
        return self.paginate(f"/api/v1/clouds/{cloud}/locations", page_size=page_size)

    # -- nodes ---------------------------------------------------------------------------------

    def nodes(self, cloud: str = "default", page_size: int | None = None) -> Iterator[Node]:
        """The nodes of a cloud the caller may see."""
        return self.paginate(f"/api/v1/clouds/{cloud}/nodes", page_size=page_size)

    def node(self, node_id: str, cloud: str = "default") -> Node:
        return self.request("GET", f"/api/v1/clouds/{cloud}/nodes/{node_id}")

    def create_nodes(self, name: str, image: str, size: str, cloud: str = "default", location: str | None = None,
                     count: int = 1, wait: bool = False, timeout: float | None = None,
                     async_: bool = False) -> NodesCreated | NodeCreateStarted:
        """Create nodes: ``{"nodes": [...]}``, or with ``async_`` ``{"run_id", "status"}`` at once.
        ``{n}`` in ``name`` counts from 1 when ``count`` > 1; ``wait`` answers once they run."""
        body = {"name": name, "image": image, "size": size, "count": count, "wait": wait, "async": async_}
        if location is not None:
            body["location"] = location
        if timeout is not None:
            body["timeout"] = timeout
        return self.request("POST", f"/api/v1/clouds/{cloud}/nodes", json=body)

    def reboot_node(self, node_id: str, cloud: str = "default") -> Node:
        """Reboot a node; its state once the cloud accepted."""
        return self.request("POST", f"/api/v1/clouds/{cloud}/nodes/{node_id}/reboot")

    def destroy_node(self, node_id: str, cloud: str = "default") -> None:
        self.request("DELETE", f"/api/v1/clouds/{cloud}/nodes/{node_id}")

    def ping_node(self, node_id: str, cloud: str = "default", port: int | None = None,
                  timeout: float | None = None) -> PingResult:
        """``{state, address, reachable, latency_ms?, error?}``."""
        body = {k: v for k, v in {"port": port, "timeout": timeout}.items() if v is not None}
        return self.request("POST", f"/api/v1/clouds/{cloud}/nodes/{node_id}/ping", json=body)

    # -- jobs ----------------------------------------------------------------------------------

    def jobs(self, group: str | None = None, page_size: int | None = None) -> Iterator[Job]:
        """The caller's jobs (every job for the administrator), optionally of one group."""
        return self.paginate("/api/v1/jobs", {"group": group}, page_size=page_size)

    def job(self, job_id: str) -> Job:
        """One job with ``next_run_at``."""
        return self.request("GET", f"/api/v1/jobs/{job_id}")

    def create_job(self, schedule: Mapping[str, Any] | None = None, action: Mapping[str, Any] | None = None,
                   body: Mapping[str, Any] | None = None, **fields: Any) -> Job:
        """Schedule a job: pass ``schedule`` and ``action`` (and ``name``, ``group``... as
        keywords), or a whole job ``body``."""
        body = dict(body or {})
        if schedule is not None:
            body["schedule"] = schedule
        if action is not None:
            body["action"] = action
        body.update(fields)
        return self.request("POST", "/api/v1/jobs", json=body)

    def update_job(self, job_id: str, **changes: Any) -> Job:
        """Change a job (``paused``, ``schedule``, ``action``, ``name``, ``group``...)."""
        return self.request("PATCH", f"/api/v1/jobs/{job_id}", json=changes)

    def pause_job(self, job_id: str) -> Job:
        return self.update_job(job_id, paused=True)

    def resume_job(self, job_id: str) -> Job:
        return self.update_job(job_id, paused=False)

    def run_job(self, job_id: str) -> str:
        """Run a job now; the id of the run submitted."""
        return self.request("POST", f"/api/v1/jobs/{job_id}/run")["run_id"]

    def delete_job(self, job_id: str) -> None:
        self.request("DELETE", f"/api/v1/jobs/{job_id}")

    def job_runs(self, job_id: str, page_size: int | None = None) -> Iterator[Run]:
        """The runs of a job, newest first."""
        return self.paginate(f"/api/v1/jobs/{job_id}/runs", page_size=page_size)

    def notifications(self, job_id: str, page_size: int | None = None) -> Iterator[Notification]:
        """The deliveries of a job's notifications, newest first: ``event``, ``channel``,
        ``target``, ``status``, ``attempts``... (they stay listed after the job is deleted)."""
        return self.paginate(f"/api/v1/jobs/{job_id}/notifications", page_size=page_size)

    # -- runs ----------------------------------------------------------------------------------

    def runs(self, status: str | None = None, job_id: str | None = None, since: When | None = None,
             until: When | None = None, page_size: int | None = None) -> Iterator[Run]:
        """The caller's runs across jobs, newest first; ``since``/``until`` are datetimes or
        ISO 8601 strings."""
        return self.paginate("/api/v1/runs", {"status": status, "job_id": job_id, "since": since, "until": until},
                             page_size=page_size)

    def run(self, run_id: str) -> RunWithEvents:
        """One run with its ``events``."""
        return self.request("GET", f"/api/v1/runs/{run_id}")

    def last_event(self, run_id: str) -> RunState:
        """``{"status", "uuid", "completion_date"?}``: the ``state`` of a run."""
        return self.request("GET", f"/api/v1/last-events/{run_id}")["state"]

    # -- groups and schedules ------------------------------------------------------------------

    def groups(self, page_size: int | None = None) -> Iterator[GroupSummary]:
        """``{"group", "jobs"}`` for each of the caller's groups."""
        return self.paginate("/api/v1/groups", page_size=page_size)

    def replace_group(self, group: str, jobs: Iterable[Mapping[str, Any]], rename_to: str | None = None,
                      replace: bool = False) -> GroupJobs:
        """Replace every job of a group at once; ``{"group", "jobs"}``."""
        body: JSON = {"jobs": list(jobs)}
        if rename_to is not None:
            body.update(rename_to=rename_to, replace=replace)
        return self.request("PUT", f"/api/v1/groups/{group}", json=body)

    def delete_group(self, group: str) -> None:
        self.request("DELETE", f"/api/v1/groups/{group}")

    def preview_schedule(self, schedule: Mapping[str, Any], count: int = 5) -> Preview:
        """The next fire times of a schedule: ``{"timezone", "fire_times", "more", ...}``."""
        return self.request("POST", "/api/v1/schedules/preview", json={"schedule": schedule, "count": count})

    # -- accounts and keys ---------------------------------------------------------------------

    def me(self) -> Account:
        """The caller's account: plan, ``jobs_scheduled``, ``jobs_allowed``."""
        return self.request("GET", "/api/v1/accounts/me")

    def accounts(self, page_size: int | None = None) -> Iterator[Account]:
        """Every account (administrator only)."""
        return self.paginate("/api/v1/accounts", page_size=page_size)

    def account(self, account_id: str) -> Account:
        return self.request("GET", f"/api/v1/accounts/{account_id}")

    def create_account(self, name: str, plan: str) -> AccountCreated:
        """A new account with its first key: ``{id, name, plan, key_id, api_key}``."""
        return self.request("POST", "/api/v1/accounts", json={"name": name, "plan": plan})

    def update_account(self, account_id: str, **changes: Any) -> Account:
        """Change an account's ``name`` or ``plan``."""
        return self.request("PATCH", f"/api/v1/accounts/{account_id}", json=changes)

    def set_account_defaults(self, account_id: str, **defaults: Any) -> Account:
        """Replace an account's job defaults (``notify``, ``disable_after``)."""
        return self.request("PUT", f"/api/v1/accounts/{account_id}/defaults", json=defaults)

    def delete_account(self, account_id: str) -> None:
        self.request("DELETE", f"/api/v1/accounts/{account_id}")

    def keys(self, account_id: str, page_size: int | None = None) -> Iterator[Key]:
        """An account's API keys (ids and dates, never the keys)."""
        return self.paginate(f"/api/v1/accounts/{account_id}/keys", page_size=page_size)

    def create_key(self, account_id: str) -> KeyCreated:
        """A new key: ``{key_id, api_key}``; the key is shown this once."""
        return self.request("POST", f"/api/v1/accounts/{account_id}/keys")

    def revoke_key(self, key_id: str) -> None:
        self.request("DELETE", f"/api/v1/keys/{key_id}")
