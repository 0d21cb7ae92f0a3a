"""The shapes of the API's answers, as the client's methods return them (plain ``dict`` objects
at run time; these ``TypedDict`` classes are for type checkers and readers).

Each mirrors a schema of the service's OpenAPI document, field for field: the client's tests
compare them with the live document, so a field the API adds or drops fails them. Nested
objects whose shape depends on a kind (a schedule, an action, a run's result) stay ``dict``.
"""
from typing import Any, NotRequired, TypedDict

JSON = dict[str, Any]


class Health(TypedDict):
    status: str


class CloudSummary(TypedDict):
    name: str
    engine: str
    driver: str
    default: bool


class CloudDetail(CloudSummary):
    capabilities: JSON


class Image(TypedDict):
    id: str
    name: str
    extra: JSON


class Size(TypedDict):
    id: str
    name: str
    ram: int | None
    disk: int | None
    bandwidth: int | None
    price: float | None
    extra: JSON


class Location(TypedDict):
    id: str
    name: str
    country: str | None


class Node(TypedDict):
    id: str
    name: str
    state: str
    public_ips: list[str]
    private_ips: list[str]
    size: str | None
    image: str | None
    extra: JSON


class NodesCreated(TypedDict):
    nodes: list[Node]


class NodeCreateStarted(TypedDict):
    """An asynchronous creation: poll the run."""

    run_id: str
    status: str


class PingResult(TypedDict):
    node_id: str
    state: str
    address: str | None
    port: int
    reachable: bool
    latency_ms: float | None
    error: str | None


class Job(TypedDict):
    id: str
    account_id: str
    name: str
    group: str | None
    schedule: JSON
    action: JSON
    paused: bool
    paused_reason: str | None
    overlap: str
    retry: JSON | None
    timeout: float | None
    notify: JSON | None
    disable_after: int | None
    failures: int
    next_run_at: str | None
    created_at: str
    updated_at: str


class Run(TypedDict):
    id: str
    job_id: str | None
    status: str
    scheduled_for: str
    submitted_at: str
    started_at: str | None
    finished_at: str | None
    result: Any
    error: str | None


class RunEvent(TypedDict):
    status: str
    at: str
    message: str | None


class RunWithEvents(Run):
    events: list[RunEvent]


class RunState(TypedDict):
    """The ``state`` of ``/api/v1/last-events/{run}``."""

    status: str
    uuid: str
    completion_date: NotRequired[str]


class Notification(TypedDict):
    id: str
    job_id: str
    run_id: str | None
    event: str
    channel: str
    target: str
    status: str
    attempts: int
    last_error: str | None
    created_at: str
    delivered_at: str | None


class GroupSummary(TypedDict):
    group: str
    jobs: int


class GroupJobs(TypedDict):
    group: str
    jobs: list[Job]


class FireTime(TypedDict):
    utc: str
    local: str


class Preview(TypedDict):
    timezone: str
    tolerance: float
    fire_times: list[FireTime]
    more: bool


class Account(TypedDict):
    id: str
    name: str
    plan: str
    is_admin: bool
    created_at: str
    jobs_scheduled: int
    jobs_allowed: int | None
    defaults: JSON


class AccountCreated(TypedDict):
    id: str
    name: str
    plan: str
    key_id: str
    api_key: str


class Key(TypedDict):
    id: str
    created_at: str
    revoked_at: str | None


class KeyCreated(TypedDict):
    key_id: str
    api_key: str
