"""The catalog the broker offers, built from the settings: pure functions, no I/O.

One service offering, ``BROKER_SERVICE_NAME``, whose plans are those of ``PLANS``. A platform
knows a plan by its id alone and must see the same id on every call, from every host: the id is
a UUID 5 of the offering's id and the plan's name, so it needs no storage and never changes
while neither does.
"""
from dataclasses import dataclass
import re
from urllib.parse import urlsplit
import uuid

from openbrokerapi.catalog import Schemas, ServicePlan
from openbrokerapi.service_broker import Service

from dispatcher.errors import SettingsError

#: A plan at most this big is free unless ``BROKER_FREE_PLANS`` says which are.
FREE_MAX_JOBS = 10
#: The spec's "CLI-friendly" names: letters, digits, periods and hyphens.
_CLI_NAME = re.compile(r"^[A-Za-z0-9.\-]+$")
#: The account name is this prefix and the instance id, unless the platform passes ``name``.
ACCOUNT_PREFIX = "osb-"
ACCOUNT_NAME_MAX = 120
#: The account names POST /api/v1/accounts accepts.
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_.@+-]+$")

#: What a service instance accepts in ``parameters`` (JSON Schema draft 4, as the spec asks).
PARAMETERS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": ACCOUNT_NAME_MAX, "pattern": _ACCOUNT_NAME.pattern,
                 "description": "The account's name in Orchestrator (default: osb-<instance id>)."},
    },
    "additionalProperties": False,
}


def check_settings(config):
    """Raise :class:`SettingsError` naming the setting unless the ``BROKER_*`` settings make sense."""
    username, password = config["BROKER_USERNAME"], config["BROKER_PASSWORD"]
    for name, value in (("BROKER_USERNAME", username), ("BROKER_PASSWORD", password)):
        if not isinstance(value, str):
            raise SettingsError(f"{name} must be a string")
    if bool(username) != bool(password):
        raise SettingsError("BROKER_USERNAME and BROKER_PASSWORD: set both to turn the service broker on, "
                            "or neither to leave it off")
    if ":" in username:
        raise SettingsError("BROKER_USERNAME may not hold ':' (HTTP basic auth splits on it)")
    service_id, name = config["BROKER_SERVICE_ID"], config["BROKER_SERVICE_NAME"]
    if not isinstance(service_id, str) or not service_id.strip():
        raise SettingsError("BROKER_SERVICE_ID must be a non-empty string (a UUID is recommended)")
    if not isinstance(name, str) or not _CLI_NAME.match(name):
        raise SettingsError(f"BROKER_SERVICE_NAME {name!r}: use letters, digits, periods and hyphens only")
    plans = config["PLANS"]
    for setting in ("BROKER_PLANS", "BROKER_FREE_PLANS"):
        chosen = config[setting]
        if chosen is None:
            continue
        if isinstance(chosen, str) or not all(isinstance(p, str) for p in chosen):
            raise SettingsError(f"{setting} must be None or a list of plan names")
        unknown = sorted(set(chosen) - set(plans))
        if unknown:
            raise SettingsError(f"{setting} names plans that PLANS does not have: {', '.join(unknown)} "
                                f"(the plans are {', '.join(sorted(plans))})")
    if config["BROKER_PLANS"] is not None and not config["BROKER_PLANS"]:
        raise SettingsError("BROKER_PLANS is empty: a catalog needs at least one plan (None offers all of PLANS)")
    url = config["BROKER_API_URL"]
    if url and (not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        raise SettingsError(f"BROKER_API_URL {url!r}: expected an http:// or https:// URL, or empty")


def plan_id(service_id, plan):
    """The stable id of ``plan`` in the catalog of the offering ``service_id``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:orchestrator:broker:{service_id}:plan:{plan}"))


def is_free(plan, limits, free_plans=None):
    """Whether the catalog marks ``plan`` free: listed in ``free_plans``, or when that is None,
    holding at most :data:`FREE_MAX_JOBS` jobs."""
    if free_plans is not None:
        return plan in free_plans
    limit = limits.get("max_jobs")
    return limit is not None and limit <= FREE_MAX_JOBS


def describe(limit):
    return f"Up to {limit} scheduled jobs" if limit is not None else "Unlimited scheduled jobs"


@dataclass(frozen=True)
class Catalog:
    """The offering, and the plans it holds by id and by name."""

    service: Service
    plan_names: dict    # plan id -> plan name
    plan_ids: dict      # plan name -> plan id

    @property
    def service_id(self):
        return self.service.id


def build_catalog(config):
    """The :class:`Catalog` the settings describe."""
    service_id, plans = config["BROKER_SERVICE_ID"], config["PLANS"]
    offered = [p for p in plans if config["BROKER_PLANS"] is None or p in config["BROKER_PLANS"]]
    schemas = Schemas(service_instance={"create": {"parameters": PARAMETERS_SCHEMA},
                                        "update": {"parameters": PARAMETERS_SCHEMA}})
    service_plans = []
    for name in offered:
        limit = plans[name]["max_jobs"]
        # A dict, not ServicePlanMetadata: openbrokerapi drops an object's None fields, and
        # "max_jobs": null is how the catalog says "no limit".
        metadata = {"displayName": name.replace("-", " ").replace("_", " ").title(),
                    "bullets": [describe(limit)], "max_jobs": limit}
        free = is_free(name, plans[name], config["BROKER_FREE_PLANS"])
        service_plans.append(ServicePlan(id=plan_id(service_id, name), name=name, description=describe(limit),
                                         metadata=metadata, free=free, schemas=schemas))
    service = Service(
        id=service_id, name=config["BROKER_SERVICE_NAME"],
        description="Scheduled jobs, web cron and cloud nodes through Orchestrator's API: "
                    "an account per instance, an API key per binding.",
        bindable=True, plans=service_plans, tags=["orchestrator", "scheduler", "cron", "cloud"],
        metadata={"displayName": "Orchestrator jobs", "providerDisplayName": "Orchestrator"},
        plan_updateable=True, instances_retrievable=True, bindings_retrievable=True)
    return Catalog(service, {p.id: p.name for p in service_plans}, {p.name: p.id for p in service_plans})


def account_name(instance_id, parameters):
    """The name of the account an instance makes: the ``name`` parameter, or osb-<instance id>
    (a UUID 5 of the id when that would be too long or hold other characters than an account
    name may)."""
    if parameters.get("name"):
        return parameters["name"]
    name = ACCOUNT_PREFIX + instance_id
    if len(name) <= ACCOUNT_NAME_MAX and _ACCOUNT_NAME.fullmatch(name):
        return name
    return ACCOUNT_PREFIX + uuid.uuid5(uuid.NAMESPACE_URL, f"urn:orchestrator:broker:instance:{instance_id}").hex


def check_parameters(parameters):
    """The instance's ``parameters`` (None is no parameter), or :class:`ValueError` saying what
    is wrong with them, as :data:`PARAMETERS_SCHEMA` does."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise ValueError("parameters must be a JSON object")
    unknown = sorted(set(parameters) - set(PARAMETERS_SCHEMA["properties"]))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}: this service takes only "
                         f"{', '.join(PARAMETERS_SCHEMA['properties'])}")
    name = parameters.get("name")
    if "name" in parameters and (not isinstance(name, str) or len(name) > ACCOUNT_NAME_MAX
                                 or not _ACCOUNT_NAME.fullmatch(name)):
        raise ValueError(f"parameter name must be 1 to {ACCOUNT_NAME_MAX} letters, digits or ._@+-")
    return dict(parameters)
