"""The reference of each ``/v2`` route, by openbrokerapi's endpoint name.

openbrokerapi defines the views; :func:`dispatcher.broker.routes.document` gives them these
docstrings, from which ``docs/broker.rst`` is built as the ``/api/v1`` reference is. What every
route shares (basic auth, the version header, the error shape) is said once, in that page.
"""

_COMMON = """
    :reqheader Authorization: ``Basic`` with ``BROKER_USERNAME`` and ``BROKER_PASSWORD``
    :reqheader X-Broker-API-Version: ``2.13`` or later, e.g. ``2.17``
    :statuscode 400: the version header is malformed{more400}
    :statuscode 401: the credentials are missing or wrong
    :statuscode 404: the broker is off (``BROKER_USERNAME``/``BROKER_PASSWORD`` unset){more404}
    :statuscode 412: the version header is missing, or older than 2.13
"""


def _doc(text, more400="", more404=""):
    return text.rstrip() + "\n" + _COMMON.format(more400=more400, more404=more404)


def _identity(kept):
    return f"""
    :reqheader X-Broker-API-Originating-Identity: ``<platform> <base64 JSON>``: the platform's user who
        asked, {kept} (optional; malformed: 400)"""

DOCSTRINGS = {
    "catalog": _doc("""The catalog: one service offering (``BROKER_SERVICE_NAME``) whose plans are
    those of ``PLANS`` (or of ``BROKER_PLANS``).

    A plan's id is a UUID 5 of ``BROKER_SERVICE_ID`` and its name: stable across restarts and
    hosts. It is ``free`` when ``BROKER_FREE_PLANS`` lists it, or, when that is ``None``, when it
    holds at most 10 jobs.

    :>json array services: one offering: ``id``, ``name``, ``description``, ``bindable``,
        ``plan_updateable``, ``instances_retrievable``, ``bindings_retrievable`` (all true) and
        ``plans``: ``id``, ``name``, ``description``, ``free``, ``metadata`` (``max_jobs``: the
        plan's job quota, ``null`` for none) and the JSON schema of the instance ``parameters``
    :statuscode 200: the catalog"""),

    "provision": _doc("""Provision a service instance: an account on the chosen plan.

    The account is named after the ``name`` parameter, else ``osb-<instance_id>``; it has no
    key until a binding issues one.
    """ + _identity("recorded with the instance") + """
    :query accepts_incomplete: ignored: provisioning completes within the request
    :<json string service_id: the offering's id (``BROKER_SERVICE_ID``)
    :<json string plan_id: a plan's id from the catalog
    :<json string organization_guid: the platform's organization (required by the spec)
    :<json string space_guid: the platform's space (required by the spec)
    :<json object context: the platform's context, recorded with the instance
    :<json object parameters: optional ``{"name": "<account name>"}``; nothing else is accepted
    :statuscode 201: provisioned
    :statuscode 200: the same request again: the instance exists, as asked
    :statuscode 409: an instance of that id exists with another plan or parameters""",
                    more400="; the body is not JSON or lacks a field; the service, the plan or a parameter "
                            "is unknown; or the ``name`` asked for is taken"),

    "update": _doc("""Change the instance's plan (or its account's name).

    The quota rules of ``PATCH /api/v1/accounts`` apply: a plan that holds fewer jobs than the
    account has is refused, with a message that says how many to delete.
    """ + _identity("logged") + """
    :<json string service_id: the offering's id
    :<json string plan_id: the new plan's id (absent: the plan stays)
    :<json object parameters: optional ``{"name": "<new account name>"}``
    :statuscode 200: changed (or nothing to change)
    :statuscode 422: the plan holds fewer jobs than the account has, the name is taken, or there is
        no such instance""",
                 more400="; the body is not JSON; or the service, the plan or a parameter is unknown"),

    "deprovision": _doc("""Deprovision the instance: delete its account with its jobs and keys
    (its runs stay in the history for ``RUN_RETENTION_DAYS``).
    """ + _identity("logged") + """
    :query service_id: the offering's id (required)
    :query plan_id: the instance's plan id (required)
    :statuscode 200: deleted
    :statuscode 410: there is no such instance (already deleted)""",
                      more400="; or the service_id or plan_id query parameter is missing, or the plan unknown"),

    "get_instance": _doc("""The instance: its service, its account's current plan, its parameters.

    :>json string service_id: the offering's id
    :>json string plan_id: the id of the account's plan now (the administrator may move it)
    :>json object parameters: the parameters it was provisioned and updated with
    :statuscode 200: the instance""", more404=", or there is no such instance"),

    "bind": _doc("""Bind: issue an API key of the instance's account.

    The key is stored only as a digest, like every key: it is in this answer only. Asked for
    again with the same fields, the binding answers 200 with a new key, which replaces (and
    revokes) the one before: the platform asking again evidently did not receive it.
    """ + _identity("recorded with the binding") + """
    :<json string service_id: the offering's id
    :<json string plan_id: a plan's id from the catalog
    :<json object bind_resource: optional, ``app_guid`` recorded with the binding
    :>json object credentials: ``url`` (``BROKER_API_URL``, else the URL the broker was called on;
        the API is under ``/api/v1`` there) and ``api_key``, sent as ``Authorization: Bearer <api_key>``
    :statuscode 201: bound
    :statuscode 200: the same request again: a new key replaces the binding's
    :statuscode 409: a binding of that id exists for another instance or with other fields
    :statuscode 422: there is no such instance, or another request is making this binding
        (``ConcurrencyError``)""",
               more400="; the body is not JSON or lacks a field; the service or the plan is unknown; "
                       "or parameters are given"),

    "unbind": _doc("""Unbind: revoke the binding's key. It is refused (401) at once by the process that
    answered and by every other within ``AUTH_CACHE_SECONDS``.
    """ + _identity("logged") + """
    :query service_id: the offering's id (required)
    :query plan_id: the plan's id (required)
    :statuscode 200: revoked
    :statuscode 410: there is no such binding of this instance""",
                 more400="; or the service_id or plan_id query parameter is missing"),

    "get_binding": _doc("""The binding, without its credentials: its key was shown once, when it
    was made.

    :>json object parameters: always empty: a binding takes none
    :statuscode 200: the binding""", more404=", or there is no such binding of this instance"),

    "last_operation": _doc("""Not implemented: every operation of this broker completes within its
    request (none answers 202), so a platform has no operation to poll.

    :statuscode 501: not implemented"""),

    "last_binding_operation": _doc("""Not implemented, as
    :http:get:`/v2/service_instances/(instance_id)/last_operation`.

    :statuscode 501: not implemented"""),
}
