"""Server-creation behaviors of a running mimic, chosen by server *name*.

:mod:`fakes.mimic` injects failures through server metadata, which our node-creation API does
not carry. mimic's Nova control plane (the ``cloudServersBehavior`` entry of a tenant's service
catalog) also matches creations by ``server_name`` (a regular expression, ``re.match``), so a
test can make the nodes it names fail or build slowly through our unchanged HTTP API::

    with creation_behavior(server, "openstack-user", "boom-", "fail",
                           {"message": "boom", "code": 500}):
        ...  # POST /api/v1/clouds/default/nodes {"name": "boom-1", ...} -> 502

Behaviors (mimic 2.2 ``mimic.model.nova_objects``): ``fail`` (``code``, ``message``,
optional ``type``: the create answers that error and nothing is created), ``build``
(``duration`` seconds in BUILD, then ACTIVE), ``error`` (ERROR at once),
``false-negative`` (created, but the create answers an error), ``active-then-error``.
Behaviors are per tenant and region; mimic gives every user name its own tenant.
"""
from contextlib import contextmanager
import json
import urllib.request

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def _call(method, url, payload=None, token=None):
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with _OPENER.open(request, timeout=10) as response:
        body = response.read().decode()
    return json.loads(body) if body else None


def control_endpoint(server, user, region="ORD"):
    """``(token, url)`` of the Nova control plane of ``user``'s tenant in ``region``."""
    access = _call("POST", f"{server.base_url}/identity/v2.0/tokens", {
        "auth": {"passwordCredentials": {"username": user, "password": "any"}}})["access"]
    for entry in access["serviceCatalog"]:
        if entry["name"] == "cloudServersBehavior":
            for endpoint in entry["endpoints"]:
                if endpoint["region"] == region:
                    return access["token"]["id"], endpoint["publicURL"]
    raise LookupError(f"mimic has no cloudServersBehavior endpoint in {region} for {user!r}")


@contextmanager
def creation_behavior(server, user, name_regex, behavior, parameters=None, region="ORD"):
    """Apply ``behavior`` to ``user``'s creations whose name matches; removed on exit."""
    token, url = control_endpoint(server, user, region)
    registered = _call("POST", f"{url}/behaviors/creation", {
        "criteria": [{"server_name": name_regex}], "name": behavior,
        "parameters": parameters or {}}, token)
    try:
        yield registered["id"]
    finally:
        _call("DELETE", f"{url}/behaviors/creation/{registered['id']}", token=token)
