"""What every action shares: the run context, the failure a run reports, the plugin base class."""
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
import threading
from typing import ClassVar

from marshmallow import Schema, ValidationError

from dispatcher.errors import NotFound, ValidationFailed
from dispatcher.lib.cloud_init import CloudFarm
from dispatcher.lib.ownership import NodeOwners


@dataclass(frozen=True)
class RunContext:
    """Who runs the action, for which scheduled time, and with which services."""

    run_id: str
    job_id: str
    account_id: str
    is_admin: bool
    scheduled_for: datetime     # aware, UTC
    clouds: CloudFarm
    owners: NodeOwners
    settings: Mapping           # the application's settings (URL_DENY_NETWORKS, ...)
    # Set when the job's timeout passed: an action that can stop early (a long method) checks it.
    cancelled: threading.Event = field(default_factory=threading.Event)
    # The account as it is now ({"plan", "name"}), read when a cloud action runs.
    account: Callable[[], Mapping] = None


class ActionFailed(RuntimeError):
    """A run that failed: ``message`` says why, ``result`` is what it did before (kept in the run).

    ``kind`` says how, for retry rules: ``"timeout"``, ``"connection"``, ``"status"`` (an answer
    with the wrong status, in ``result["status"]``), or None for any other failure."""

    def __init__(self, message, result=None, kind=None):
        super().__init__(message)
        self.message = message
        self.result = dict(result or {})
        self.kind = kind


class Action(ABC):
    """One kind of job action: validates its parameters once, then runs on every fire time.

    Subclasses name their ``alias`` (the ``type`` of the action in a job body), usually give a
    marshmallow ``schema`` for their parameters, and implement :meth:`run`.
    """

    alias: ClassVar[str]
    schema: ClassVar[type[Schema] | None] = None

    @classmethod
    def validate(cls, params, settings, clouds):
        """The parameters, normalised; :class:`ValidationFailed` with ``action.<field>`` keys."""
        if cls.schema is None:
            return dict(params)
        return load_params(cls.schema, params)

    @classmethod
    def document(cls, params):
        """The JSON schema of the parameters in the OpenAPI document: ``params`` (converted from
        :attr:`schema`), plus what :meth:`validate` checks beyond it that a JSON schema can say."""
        return params

    def __init__(self, params):
        """``params`` as :meth:`validate` returned them (a ``type`` key is ignored)."""
        self.params = {key: value for key, value in params.items() if key != "type"}

    @abstractmethod
    def run(self, context):
        """Do the work; return a JSON-able result dict or raise :class:`ActionFailed`."""


_schemas = {}


def load_params(schema_cls, params):
    """Load ``params`` through ``schema_cls``; errors become 422 details keyed ``action.<field>``."""
    schema = _schemas.get(schema_cls)
    if schema is None:
        schema = _schemas[schema_cls] = schema_cls()
    if not isinstance(params, Mapping):
        raise invalid({"action": ["must be a JSON object"]})
    try:
        return schema.load(params)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise invalid(flatten(messages, "action")) from None


def flatten(messages, prefix):
    """marshmallow's nested error dict as ``{"action.field.sub": [messages]}``."""
    flat = {}
    for key, value in messages.items():
        path = prefix if key == "_schema" else f"{prefix}.{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, path))
        else:
            flat.setdefault(path, []).extend(value if isinstance(value, list) else [str(value)])
    return flat


def invalid(details):
    """The 422 for an action whose fields ``details`` names."""
    return ValidationFailed(f"invalid action: {', '.join(sorted(details))}", details)


def known_cloud(clouds, name):
    """The cloud called ``name``; a 422 on ``action.cloud`` naming the known clouds otherwise."""
    try:
        return clouds.get(name)
    except NotFound:
        known = ", ".join(sorted(c.name for c in clouds)) or "none"
        raise invalid({"action.cloud": [f"unknown cloud {name!r} (known: {known})"]}) from None


def cloud_at_run(context, name):
    """The cloud at run time, if the account may still use it: the cloud may have left the
    settings, and the account's plan or the cloud's ``ALLOW`` may have changed, since the job
    was made."""
    try:
        cloud = context.clouds.get(name)
    except NotFound as exc:
        raise ActionFailed(exc.message, {"cloud": name}) from None
    if cloud.allow and not context.is_admin:
        account = context.account() if context.account is not None else {"plan": None, "name": None}
        if not cloud.allows(account["plan"], account["name"]):
            raise ActionFailed(f"the {account['plan']} plan may not use cloud {name!r}",
                               {"cloud": name, "plan": account["plan"]})
    return cloud
