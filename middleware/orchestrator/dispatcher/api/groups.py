"""Groups of jobs: replace a whole group atomically, or remove it."""
from flask import Blueprint, g

from dispatcher.api import job_schemas as schemas
from dispatcher.api.contract import operation, page
from dispatcher.api.jobs import check_quota, job_spec, jobs
from dispatcher.api.schemas import PageQuery

bp = Blueprint("groups", __name__, url_prefix="/api/v1/groups")


@bp.get("")
@operation(query=PageQuery, response=schemas.GroupList)
def list_groups(query):
    """The caller's groups with how many jobs each holds.

    :query limit: items per page
    :query offset: items to skip
    :>json array items: ``group`` and ``jobs``
    :>json int total: how many groups in all
    :statuscode 200: the groups
    """
    return page(jobs().groups(g.caller), query)


@bp.put("/<group>")
@operation(body=schemas.GroupReplace, path={"group": schemas.GROUP_NAME}, response=schemas.GroupJobs)
def replace_group(group, body):
    """Replace every job of a group, all or nothing.

    A single invalid job leaves the group as it was. With ``rename_to`` the new jobs are stored
    under that name and the old group disappears.

    :param group: the group's name
    :<json array jobs: job bodies, as for ``POST /api/v1/jobs``
    :<json string rename_to: store the new jobs under this group name instead
    :<json boolean replace: with ``rename_to``, replace the jobs of an existing group of that
        name (default false: answer 409)
    :>json string group: the group's name after the call
    :>json array jobs: its jobs
    :statuscode 200: replaced
    :statuscode 403: the plan's quota would be exceeded (answered before the jobs are looked at),
        or an action names a refused cloud
    :statuscode 409: ``rename_to`` names a group that has jobs, and ``replace`` is not true
    :statuscode 422: the group's name is invalid, or a job is; ``details`` names it
        (``jobs.<i>.<field>``)
    """
    target = body["rename_to"] or group
    jobs().check_room(g.caller, len(body["jobs"]), check_quota, replacing={group, target})
    specs = [job_spec(job, prefix=f"jobs.{i}") for i, job in enumerate(body["jobs"])]
    return {"group": target, "jobs": jobs().replace_group(g.caller, group, specs, check_quota, body["rename_to"],
                                                              body["replace"])}


@bp.delete("/<group>")
@operation(status=204)
def delete_group(group):
    """Remove every job of a group.

    :param group: the group's name
    :statuscode 204: removed
    :statuscode 404: no such group
    """
    jobs().delete_group(g.caller, group)
    return "", 204
