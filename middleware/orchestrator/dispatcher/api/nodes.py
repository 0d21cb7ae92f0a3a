"""Nodes of a cloud: list, show, create, reboot, destroy, ping."""
from flask import Blueprint, current_app, g, request

from dispatcher.api import schemas
from dispatcher.api.clouds import usable_cloud
from dispatcher.api.contract import operation, page
from dispatcher.errors import CloudError
from dispatcher.lib.actions import validate_action

#: Seconds an asynchronous node creation may wait for the scheduler to start it.
ASYNC_START_SECONDS = 300

bp = Blueprint("nodes", __name__, url_prefix="/api/v1/clouds/<cloud>/nodes")


def access():
    return current_app.extensions["orchestrator.access"]


def owned_node(cloud, node_id):
    """The cloud, once the caller is known to own ``node_id`` on it (404 otherwise)."""
    found = usable_cloud(cloud)
    access().check_node(found, node_id)
    return found


def submit_creation(cloud, body, message):
    """Submit the run (a ``provision`` action) that creates the nodes of a validated
    ``NodeCreate`` body on ``cloud``, for the caller; returns its id."""
    action = {"type": "provision", "cloud": cloud.name, "image": body["image"], "size": body["size"],
              "name": body["name"], "count": body["count"], "wait": body["wait"], "timeout": body["timeout"]}
    if body["location"] is not None:
        action["location"] = body["location"]
    action = validate_action(action, current_app.config, current_app.extensions["orchestrator.clouds"])
    return current_app.extensions["orchestrator.jobs"].submit_action(g.caller, action, ASYNC_START_SECONDS, message)


@bp.get("")
@operation(query=schemas.PageQuery, response=schemas.page_of(schemas.Node))
def list_nodes(cloud, query):
    """List the nodes of a cloud: every node for the administrator, one's own for others.

    :param cloud: the cloud's name
    :query limit: items per page (1-1000, default 100)
    :query offset: items to skip
    :>json array items: nodes: ``id``, ``name``, ``state``, ``public_ips``, ``private_ips``,
        ``size``, ``image``, ``extra``
    :>json int total: how many nodes in all
    :statuscode 200: the nodes
    :statuscode 403: the caller may not use this cloud
    :statuscode 404: no such cloud
    :statuscode 502: the cloud failed or refused our credentials
    :statuscode 504: the cloud did not answer in time
    """
    found = usable_cloud(cloud)
    listed = found.listed_nodes()
    visible = access().visible_nodes(found, listed)
    if visible is not listed:  # another account's view: filtered per request
        return page(visible, query)
    # Every caller who sees the whole list gets the same bytes while the list is reused.
    body = found.encoded_page(listed, (query.get("limit"), query.get("offset", 0)),
                              lambda: current_app.json.response(page(listed, query)).get_data())
    # Answered before dispatch while the list is reused (dispatcher.api.hotpages).
    rules = access()
    current_app.extensions["orchestrator.hot_pages"].publish(
        request.environ, request.url_rule.rule, body,
        may_see=lambda caller: rules.sees_all_nodes(found, caller), current=lambda: found.still_listed(listed))
    return current_app.response_class(body, mimetype="application/json")


@bp.post("")
@operation(body=schemas.NodeCreate, response=schemas.NodeCreated, status=201,
           others={202: schemas.NodeCreateStarted})
def create_nodes(cloud, body):
    """Create one or more nodes, optionally waiting until they run, or asynchronously.

    With ``"async": true`` the answer is 202 with a run id at once: the run (a ``provision``
    action, executed like a job's run) makes the nodes; follow it at ``/api/v1/runs/{id}`` or
    ``/api/v1/last-events/{id}``, whose result lists the nodes created (and, with ``wait``, running).

    .. sourcecode:: http

       POST /api/v1/clouds/default/nodes HTTP/1.1
       Content-Type: application/json

       {"name": "web-{n}", "image": "1", "size": "1", "count": 2, "wait": true}

    :param cloud: the cloud's name
    :<json string name: node name; ``{n}`` counts from 1 when ``count`` > 1
    :<json string image: image id (see ``/images``)
    :<json string size: size id (see ``/sizes``)
    :<json string location: location id (optional)
    :<json int count: how many nodes (1-50, default 1)
    :<json boolean wait: answer only once every node runs (default false)
    :<json number timeout: seconds to wait (default 600)
    :<json boolean async: answer 202 with the run making the nodes, at once (default false)
    :>json array nodes: the nodes created
    :>json string run_id: with ``async``: the run to follow
    :statuscode 201: created
    :statuscode 202: with ``async``: the run making the nodes is submitted
    :statuscode 403: the caller may not use this cloud
    :statuscode 404: no such cloud
    :statuscode 422: a field is invalid, or the image, size or location is unknown
    :statuscode 501: the driver cannot create nodes
    :statuscode 502: the cloud failed; ``details`` lists the nodes created and those that failed
    :statuscode 503: the store could not record the new nodes' owner; they were destroyed again
        (``details`` lists any the cloud refused to destroy)
    :statuscode 504: the cloud, or the nodes, were not ready in time
    """
    found = usable_cloud(cloud)
    if body["async_"]:
        run_id = submit_creation(found, body, "node creation requested through the API")
        return {"run_id": run_id, "status": "Submitted"}, 202, {"Location": f"/api/v1/runs/{run_id}"}
    created, failures = found.create_nodes(body["name"], body["image"], body["size"], body["location"],
                                           body["count"])
    current_app.extensions["orchestrator.owners"].record_created(found, created, g.caller.account_id)
    if failures:
        raise CloudError(f"{len(failures)} of {body['count']} nodes could not be created on cloud {found.name!r}",
                         {"created": [n.to_dict() for n in created], "failed": failures})
    if body["wait"]:
        created = found.wait_running([n.id for n in created], body["timeout"])
    return {"nodes": [n.to_dict() for n in created]}, 201


@bp.get("/<node_id>")
@operation(response=schemas.Node)
def show_node(cloud, node_id):
    """Show one node.

    :param cloud: the cloud's name
    :param node_id: the node's id
    :>json string state: ``running``, ``pending``, ``rebooting``, ``terminated``, ...
    :statuscode 200: the node
    :statuscode 404: no such cloud or node (or a node of another account)
    :statuscode 502: the cloud failed
    :statuscode 504: the cloud did not answer in time
    """
    return owned_node(cloud, node_id).node(node_id).to_dict()


@bp.delete("/<node_id>")
@operation(status=204)
def destroy_node(cloud, node_id):
    """Destroy a node.

    :param cloud: the cloud's name
    :param node_id: the node's id
    :statuscode 204: destroyed
    :statuscode 404: no such cloud or node
    :statuscode 501: the driver cannot destroy nodes
    :statuscode 502: the cloud failed or refused
    :statuscode 504: the cloud did not answer in time
    """
    destroy(owned_node(cloud, node_id), node_id)
    return "", 204


def destroy(cloud, node_id):
    """Destroy a node the caller owns on ``cloud``, and forget its owner."""
    cloud.destroy(node_id)
    current_app.extensions["orchestrator.owners"].forget(cloud.name, node_id)


@bp.post("/<node_id>/reboot")
@operation(response=schemas.Node, status=202)
def reboot_node(cloud, node_id):
    """Reboot a node; answers with its state once the cloud accepted the reboot.

    :param cloud: the cloud's name
    :param node_id: the node's id
    :>json string id: the node's id
    :>json string state: its state once the cloud accepted the reboot (e.g. ``rebooting``)
    :statuscode 202: the reboot was accepted
    :statuscode 404: no such cloud or node
    :statuscode 501: the driver cannot reboot nodes
    :statuscode 502: the cloud failed or refused
    :statuscode 504: the cloud did not answer in time
    """
    found = owned_node(cloud, node_id)
    found.reboot(node_id)
    return found.node(node_id).to_dict(), 202


@bp.post("/<node_id>/ping")
@operation(body=schemas.Ping, response=schemas.PingResult)
def ping_node(cloud, node_id, body):
    """Ping a node: its state in the cloud plus a TCP probe of a port.

    :param cloud: the cloud's name
    :param node_id: the node's id
    :<json int port: TCP port to probe (default 22)
    :<json number timeout: seconds the probe may take (default 2)
    :>json string state: the node's state in the cloud
    :>json string address: the address probed (first public, else private)
    :>json boolean reachable: whether the port accepted a connection
    :>json number latency_ms: time to connect, when reachable
    :>json string error: why the probe failed, when it did
    :statuscode 200: the probe ran (reachable or not)
    :statuscode 404: no such cloud or node
    :statuscode 502: the cloud failed
    """
    return owned_node(cloud, node_id).ping(node_id, body["port"], body["timeout"])
