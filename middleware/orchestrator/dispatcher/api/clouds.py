"""Clouds and their catalogs: images, sizes, locations."""
from flask import Blueprint, current_app

from dispatcher.api import schemas
from dispatcher.api.contract import operation, page

bp = Blueprint("clouds", __name__, url_prefix="/api/v1/clouds")


def farm():
    return current_app.extensions["orchestrator.clouds"]


def usable_cloud(name):
    """The named cloud, if the caller may use it (404 for unknown, 403 for refused)."""
    cloud = farm().get(name)
    current_app.extensions["orchestrator.access"].check_cloud(cloud)
    return cloud


@bp.get("")
@operation(query=schemas.PageQuery, response=schemas.page_of(schemas.CloudSummary))
def list_clouds(query):
    """List the clouds the caller may use.

    .. sourcecode:: http

       GET /api/v1/clouds HTTP/1.1
       Authorization: Bearer <key>

    :query limit: items per page (1-1000, default 100)
    :query offset: items to skip
    :>json array items: clouds: ``name``, ``engine``, ``driver``, ``default``
    :>json int total: how many clouds in all
    :statuscode 200: the clouds
    :statuscode 401: no valid API key
    """
    access = current_app.extensions["orchestrator.access"]
    return page([c.info() for c in farm() if access.may_use_cloud(c)], query)


@bp.get("/<cloud>")
@operation(response=schemas.CloudDetail)
def show_cloud(cloud):
    """Show one cloud with the operations its driver supports.

    :param cloud: the cloud's name in ``CLOUD_FARM``
    :>json string name: the cloud's name
    :>json string engine: its provider label
    :>json string driver: the driver class serving it
    :>json boolean default: whether it is the default cloud
    :>json object capabilities: operation name -> supported
    :statuscode 200: the cloud
    :statuscode 403: the caller's plan may not use this cloud
    :statuscode 404: no such cloud
    """
    found = usable_cloud(cloud)
    return {**found.info(), "capabilities": found.capabilities()}


@bp.get("/<cloud>/images")
@operation(query=schemas.PageQuery, response=schemas.page_of(schemas.Image))
def list_images(cloud, query):
    """List the images a node can be created from.

    :param cloud: the cloud's name
    :query limit: items per page
    :query offset: items to skip
    :>json array items: images: ``id``, ``name``, ``extra``
    :statuscode 200: the images
    :statuscode 404: no such cloud
    :statuscode 501: the driver cannot list images
    :statuscode 502: the cloud failed or refused our credentials
    :statuscode 504: the cloud did not answer in time
    """
    return page(usable_cloud(cloud).images(), query)


@bp.get("/<cloud>/sizes")
@operation(query=schemas.PageQuery, response=schemas.page_of(schemas.Size))
def list_sizes(cloud, query):
    """List the node sizes (flavors, instance types) of a cloud.

    :param cloud: the cloud's name
    :query limit: items per page
    :query offset: items to skip
    :>json array items: sizes: ``id``, ``name``, ``ram``, ``disk``, ``bandwidth``, ``price``, ``extra``
    :statuscode 200: the sizes
    :statuscode 404: no such cloud
    :statuscode 501: the driver cannot list sizes
    :statuscode 502: the cloud failed
    :statuscode 504: the cloud did not answer in time
    """
    return page(usable_cloud(cloud).sizes(), query)


@bp.get("/<cloud>/locations")
@operation(query=schemas.PageQuery, response=schemas.page_of(schemas.Location))
def list_locations(cloud, query):
    """List the locations (regions, zones) of a cloud.

    :param cloud: the cloud's name
    :query limit: items per page
    :query offset: items to skip
    :>json array items: locations: ``id``, ``name``, ``country``
    :statuscode 200: the locations
    :statuscode 404: no such cloud
    :statuscode 501: the driver cannot list locations
    :statuscode 502: the cloud failed
    :statuscode 504: the cloud did not answer in time
    """
    return page(usable_cloud(cloud).locations(), query)
