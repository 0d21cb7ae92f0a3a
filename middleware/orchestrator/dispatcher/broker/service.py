"""The broker's operations over Orchestrator's accounts: an instance is an account on the plan the
platform chose, a binding an API key of that account.

Every operation completes within its request (none answers 202), so a platform never has an
operation to poll and the ``last_operation`` endpoints are left unimplemented (501). Quotas,
deletion and revocation are the accounts service's: a plan below the jobs an account holds is
refused there, deleting an account takes its jobs and keys (its runs stay for
``RUN_RETENTION_DAYS``), and a revoked key is refused at once by this process and by the
others within ``AUTH_CACHE_SECONDS``.
"""
import logging

from flask import request
from openbrokerapi import errors as osb
from openbrokerapi.service_broker import (BindState, Binding, DeprovisionServiceSpec, GetBindingSpec,
                                          GetInstanceDetailsSpec, ProvisionState, ProvisionedServiceSpec,
                                          ServiceBroker, UnbindSpec, UpdateServiceSpec)

from dispatcher.broker.catalog import account_name, check_parameters
from dispatcher.broker.errors import BadBrokerRequest, ConcurrencyError, InstanceConflict, Unprocessable
from dispatcher.errors import Conflict, NotFound

log = logging.getLogger(__name__)

#: The spec sets no limit on ids; the store keeps them in columns of this size.
ID_MAX = 255


def origin_of(details):
    """(platform, decoded identity) of the ``X-Broker-API-Originating-Identity`` header, or None."""
    identity = getattr(details, "originating_identity", None)
    return (identity["platform"][:64], identity["value"]) if identity else None


class OrchestratorBroker(ServiceBroker):
    """The Open Service Broker operations of one Orchestrator service offering."""

    def __init__(self, catalog, accounts, records, api_url=""):
        self._catalog = catalog
        self.accounts = accounts
        self.records = records
        self.api_url = api_url.rstrip("/")

    def catalog(self):
        return self._catalog.service

    # -- instances ---------------------------------------------------------------------
    def provision(self, instance_id, details, async_allowed, **kwargs):
        """Create the account; 200 for the same request again, 409 for another one of that id."""
        self._check_service(details.service_id)
        if len(instance_id) > ID_MAX:
            raise BadBrokerRequest(f"instance ids of more than {ID_MAX} characters are not supported")
        parameters = self._parameters(details.parameters)
        existing = self.records.instance(instance_id)
        if existing is not None:
            return self._provisioned_again(existing, details, parameters)
        name = account_name(instance_id, parameters)
        try:
            account, first_key, _ = self.accounts.create_account(name, self._catalog.plan_names[details.plan_id])
        except Conflict as exc:
            existing = self.records.instance(instance_id)
            if existing is not None:
                return self._provisioned_again(existing, details, parameters)
            if "name" in parameters:
                raise BadBrokerRequest(f"{exc.message}: pass another name in the parameters") from None
            raise InstanceConflict(f"{exc.message}: another request is provisioning instance {instance_id!r}, "
                                   f"or the account was made by hand") from None
        # An account's first key is made to be shown once to a person; here nobody sees it, and
        # the keys applications use are the bindings'.
        self.accounts.revoke_key(first_key)
        origin = origin_of(details)
        if not self.records.add_instance(instance_id, account["id"], details.service_id, details.plan_id,
                                         parameters, details.context, origin):
            self.accounts.delete_account(account["id"])   # a concurrent request recorded it first
            existing = self.records.instance(instance_id)
            if existing is None:
                raise ConcurrencyError(f"instance {instance_id!r} is being changed by another request; try again")
            return self._provisioned_again(existing, details, parameters)
        log.info("broker: instance %s provisioned as account %s (%s) on plan %s, by %s", instance_id, account["id"],
                 name, account["plan"], _who(origin))
        return ProvisionedServiceSpec(ProvisionState.SUCCESSFUL_CREATED)

    def _provisioned_again(self, existing, details, parameters):
        asked = {"service_id": details.service_id, "plan_id": details.plan_id, "parameters": parameters}
        differ = sorted(field for field, value in asked.items() if existing[field] != value)
        if differ:
            raise InstanceConflict(f"instance {existing['id']!r} exists already with another {' and '.join(differ)}")
        return ProvisionedServiceSpec(ProvisionState.IDENTICAL_ALREADY_EXISTS)

    def update(self, instance_id, details, async_allowed, **kwargs):
        """Move the account to another plan (quota rules apply) or rename it."""
        record = self._instance_or_422(instance_id)
        self._check_service(details.service_id)
        given = None if details.parameters is None else self._parameters(details.parameters)
        plan = self._catalog.plan_names[details.plan_id] if details.plan_id else None
        try:
            self.accounts.update_account(record["account_id"], name=(given or {}).get("name"), plan=plan)
        except Conflict as exc:            # a plan below the jobs it holds, a name taken
            raise Unprocessable(exc.message) from None
        except NotFound:
            raise Unprocessable(f"there is no service instance {instance_id!r}") from None
        parameters = record["parameters"] if given is None else {**record["parameters"], **given}
        self.records.update_instance(instance_id, details.plan_id or record["plan_id"], parameters)
        if plan:
            log.info("broker: instance %s (account %s) on plan %s, by %s", instance_id, record["account_id"], plan,
                     _who(origin_of(details)))
        return UpdateServiceSpec(is_async=False)

    def deprovision(self, instance_id, details, async_allowed, **kwargs):
        """Delete the account with its jobs and keys; its runs stay for the retention period."""
        record = self.records.instance(instance_id)
        if record is None:
            raise osb.ErrInstanceDoesNotExist()
        try:
            removed = self.accounts.delete_account(record["account_id"])
        except NotFound:                   # deleted meanwhile, through the API or another request
            raise osb.ErrInstanceDoesNotExist() from None
        self.records.delete_instance(instance_id)
        log.info("broker: instance %s deprovisioned: account %s deleted with %d jobs and %d keys, by %s",
                 instance_id, record["account_id"], removed["jobs"], removed["keys"], _who(origin_of(details)))
        return DeprovisionServiceSpec(is_async=False)

    def get_instance(self, instance_id, **kwargs):
        """The instance's service, its account's current plan and its parameters."""
        record = self.records.instance(instance_id)
        if record is None:
            raise osb.ErrInstanceDoesNotExist()
        try:
            plan = self.accounts.account(record["account_id"])["plan"]
        except NotFound:
            raise osb.ErrInstanceDoesNotExist() from None
        # The administrator may have moved the account through the API: its plan is the truth.
        return GetInstanceDetailsSpec(service_id=record["service_id"],
                                      plan_id=self._catalog.plan_ids.get(plan, record["plan_id"]),
                                      parameters=record["parameters"])

    # -- bindings ----------------------------------------------------------------------
    def bind(self, instance_id, binding_id, details, async_allowed, **kwargs):
        """Issue an API key of the instance's account."""
        record = self._instance_or_422(instance_id)
        self._check_service(details.service_id)
        if len(binding_id) > ID_MAX:
            raise BadBrokerRequest(f"binding ids of more than {ID_MAX} characters are not supported")
        if details.parameters:
            raise BadBrokerRequest(f"unknown parameter(s) {', '.join(sorted(details.parameters))}: "
                                   f"a binding takes none")
        resource = details.bind_resource
        asked = {"service_id": details.service_id, "plan_id": details.plan_id,
                 "app_guid": (resource.app_guid if resource else None) or details.app_guid}
        existing = self.records.binding(binding_id)
        if existing is not None:
            return self._bound_again(existing, instance_id, asked, record["account_id"])
        key_id, token = self._new_key(record)
        origin = origin_of(details)
        if not self.records.add_binding(binding_id, instance_id, key_id, asked, origin):
            self.accounts.revoke_key(key_id)
            existing = self.records.binding(binding_id)
            if existing is None:
                raise Unprocessable(f"there is no service instance {instance_id!r}")
            self._check_same_binding(existing, instance_id, asked)
            raise ConcurrencyError(f"binding {binding_id!r} is being made by another request; try again")
        log.info("broker: binding %s of instance %s issued key %s, by %s", binding_id, instance_id, key_id,
                 _who(origin))
        return Binding(BindState.SUCCESSFUL_BOUND, credentials=self._credentials(token))

    def _bound_again(self, existing, instance_id, asked, account_id):
        """The same binding asked for again. Keys are stored only as digests, so the first answer's
        key cannot be shown again: a new key replaces it, and the old one, which the platform
        evidently did not receive, is revoked."""
        self._check_same_binding(existing, instance_id, asked)
        key_id, token = self._new_key({"account_id": account_id, "id": instance_id})
        if not self.records.replace_key(existing["id"], existing["key_id"], key_id):
            self.accounts.revoke_key(key_id)
            raise ConcurrencyError(f"binding {existing['id']!r} is being changed by another request; try again")
        self._revoke(existing["key_id"])
        log.info("broker: binding %s of instance %s asked for again: key %s replaces key %s", existing["id"],
                 instance_id, key_id, existing["key_id"])
        return Binding(BindState.IDENTICAL_ALREADY_EXISTS, credentials=self._credentials(token))

    @staticmethod
    def _check_same_binding(existing, instance_id, asked):
        if existing["instance_id"] != instance_id:
            raise InstanceConflict(f"binding {existing['id']!r} exists already, for another instance")
        differ = sorted(field for field, value in asked.items() if existing["request"].get(field) != value)
        if differ:
            raise InstanceConflict(f"binding {existing['id']!r} exists already with another {' and '.join(differ)}")

    def unbind(self, instance_id, binding_id, details, async_allowed, **kwargs):
        """Revoke the binding's key."""
        existing = self.records.binding(binding_id)
        if existing is None or existing["instance_id"] != instance_id:
            raise osb.ErrBindingDoesNotExist()
        self._revoke(existing["key_id"])
        if not self.records.delete_binding(binding_id):
            raise osb.ErrBindingDoesNotExist()
        log.info("broker: binding %s of instance %s removed, key %s revoked, by %s", binding_id, instance_id,
                 existing["key_id"], _who(origin_of(details)))
        return UnbindSpec(is_async=False)

    def get_binding(self, instance_id, binding_id, **kwargs):
        """The binding, without credentials: its key was shown once, when it was made."""
        existing = self.records.binding(binding_id)
        if existing is None or existing["instance_id"] != instance_id:
            raise osb.ErrBindingDoesNotExist()
        return GetBindingSpec(parameters={})

    # -- helpers -----------------------------------------------------------------------
    def _check_service(self, service_id):
        if service_id != self._catalog.service_id:
            raise BadBrokerRequest(f"unknown service_id {service_id!r}: this broker offers "
                                   f"{self._catalog.service.name} ({self._catalog.service_id})")

    @staticmethod
    def _parameters(parameters):
        try:
            return check_parameters(parameters)
        except ValueError as exc:
            raise BadBrokerRequest(str(exc)) from None

    def _instance_or_422(self, instance_id):
        record = self.records.instance(instance_id)
        if record is None:
            raise Unprocessable(f"there is no service instance {instance_id!r}")
        return record

    def _new_key(self, record):
        try:
            return self.accounts.create_key(record["account_id"])
        except NotFound:
            raise Unprocessable(f"there is no service instance {record['id']!r}") from None

    def _revoke(self, key_id):
        try:
            self.accounts.revoke_key(key_id)
        except NotFound:  # gone with its account
            pass

    def _credentials(self, token):
        return {"url": self.api_url or request.host_url.rstrip("/"), "api_key": token}


def _who(origin):
    return f"{origin[0]} {origin[1]}" if origin else "the platform"
