"""Clouds and their nodes: list, create (with progress while they boot), reboot, destroy."""
from flask import current_app, g, render_template, request, url_for

from dispatcher.api import schemas
from dispatcher.api.clouds import usable_cloud
from dispatcher.api.contract import load
from dispatcher.api.nodes import destroy, owned_node, submit_creation
from dispatcher.errors import DispatcherError, ValidationFailed
from dispatcher.lib.jobs import FINISHED
from dispatcher.ui import bp, done
from dispatcher.ui.forms import number

NODE_FIELDS = ("name", "image", "size", "location", "count")


def access():
    return current_app.extensions["orchestrator.access"]


@bp.get("/clouds")
def clouds():
    """The clouds the caller may use.

    :statuscode 200: the page
    """
    farm = current_app.extensions["orchestrator.clouds"]
    return render_template("clouds.html", clouds=[c.info() for c in farm if access().may_use_cloud(c)])


def cloud_page(name, fields=None, error=None, status=200):
    found = usable_cloud(name)
    catalog_error = None
    try:
        images, sizes, locations = found.images(), found.sizes(), found.locations()
    except DispatcherError as exc:      # the page still shows; the form says why it cannot work
        images, sizes, locations, catalog_error = [], [], [], exc.message
    return render_template("cloud.html", cloud=found.info(), nodes=nodes_of(found), images=images, sizes=sizes,
                           locations=locations, fields=fields or {"name": "node-{n}", "count": "1"},
                           error=error, catalog_error=catalog_error, run=progress_of(request.args.get("run")),
                           finished=FINISHED), status


def nodes_of(cloud):
    return [n.to_dict() for n in access().visible_nodes(cloud, cloud.nodes())]


def progress_of(run_id):
    """The caller's run that creates nodes, to follow on the page (404 for another's)."""
    return current_app.extensions["orchestrator.jobs"].run(g.caller, run_id) if run_id else None


@bp.get("/clouds/<cloud>")
def cloud(cloud):
    """A cloud's nodes (one's own; every node for the administrator) with their state and
    addresses, and the form that creates more.

    :query run: a run creating nodes, whose progress the page follows
    :statuscode 200: the page
    :statuscode 403: the caller may not use this cloud
    :statuscode 404: no such cloud
    """
    return cloud_page(cloud)


@bp.get("/clouds/<cloud>/nodes")
def nodes_fragment(cloud):
    """The nodes table, polled every second by the cloud's page while a creation's run goes on.

    :query run: the run creating nodes
    :statuscode 200: the fragment; it asks to be polled again until the run has finished
    :statuscode 404: no such cloud, or no such run
    """
    found = usable_cloud(cloud)
    return render_template("nodes.html", cloud=found.info(), nodes=nodes_of(found),
                           run=progress_of(request.args.get("run")), finished=FINISHED)


@bp.post("/clouds/<cloud>/nodes")
def create_nodes(cloud):
    """Create nodes through a run, as :http:post:`/api/v1/clouds/(cloud)/nodes` with
    ``async`` does, waiting until they run; the cloud's page follows them as they boot.

    :form name: the name pattern (``{n}`` counts from 1)
    :form count: how many
    :form image: the image's id
    :form size: the size's id
    :form location: the location's id (optional)
    :statuscode 302: to the cloud's page, following the run
    :statuscode 403: the caller may not use this cloud
    :statuscode 422: a field is invalid: the form again, with the API's message
    """
    found = usable_cloud(cloud)
    fields = {key: request.form.get(key, "").strip() for key in NODE_FIELDS}
    body = {"name": fields["name"], "image": fields["image"], "size": fields["size"],
            "count": number(fields["count"] or "1"), "wait": True, "async": True}
    if fields["location"]:
        body["location"] = fields["location"]
    try:
        run_id = submit_creation(found, load(schemas.NodeCreate, body, "body"),
                                 "node creation requested through the dashboard")
    except ValidationFailed as exc:
        return cloud_page(cloud, fields, exc, exc.status)
    return done("creating", "ui.cloud", cloud=found.name, run=run_id)


@bp.post("/clouds/<cloud>/nodes/<node_id>/reboot")
def reboot_node(cloud, node_id):
    """Reboot a node.

    :statuscode 302: to the cloud's page
    :statuscode 404: no such node (or another account's)
    :statuscode 502: the cloud failed
    """
    owned_node(cloud, node_id).reboot(node_id)
    return done("rebooting", "ui.cloud", cloud=cloud)


@bp.route("/clouds/<cloud>/nodes/<node_id>/destroy", methods=["GET", "POST"])
def destroy_node(cloud, node_id):
    """Ask first; destroy the node on the confirmation's POST.

    :statuscode 200: the confirmation
    :statuscode 302: destroyed: to the cloud's page
    :statuscode 404: no such node (or another account's)
    :statuscode 502: the cloud failed
    """
    found = owned_node(cloud, node_id)
    node = found.node(node_id)
    if request.method == "GET":
        return render_template("confirm.html", title=f"Destroy node {node.name}?",
                               message=f"Node {node.name} ({node.id}) of cloud {found.name} is destroyed for good.",
                               action=url_for("ui.destroy_node", cloud=found.name, node_id=node_id),
                               button="Destroy node", back=url_for("ui.cloud", cloud=found.name))
    destroy(found, node_id)
    return done("destroyed", "ui.cloud", cloud=found.name)
