"""The ``provision`` action: create nodes on a cloud and, by default, wait until they run.

``{"type": "provision", "cloud"?, "image", "size", "location"?, "name", "count"?, "wait"?,
"timeout"?}``. Every node created is recorded as the job's account's at once, before any wait,
so a failed run still leaves its nodes visible to (and destroyable by) their owner. The result
is ``{"cloud", "created": [nodes], "failed": [{"name", "error"}]}``; when some nodes could not be
created, or did not run in time, the run fails with that same result (plus ``not_running``).
The image, size and location are checked against the cloud when the run starts, not when the
job is validated: validating a job makes no provider call.
"""
from marshmallow import Schema, fields, validate

from dispatcher.errors import CloudTimeout, DispatcherError
from dispatcher.lib.actions.base import Action, ActionFailed, cloud_at_run, known_cloud, load_params
from dispatcher.lib.validation import CHOICES_FROM, SettingRange, StrictBoolean

# A node name: letters, digits, '.', '_', '-', and the counter {n} (1, 2, ... when count > 1).
NAME_PATTERN = r"^(?:[A-Za-z0-9]|\{n\})(?:[A-Za-z0-9_.-]|\{n\})*\Z"


class ProvisionParams(Schema):
    cloud = fields.String(load_default="default", validate=validate.Length(min=1, max=64),
                          metadata={CHOICES_FROM: "CLOUD_FARM"})
    image = fields.String(required=True, validate=validate.Length(min=1, max=255))
    size = fields.String(required=True, validate=validate.Length(min=1, max=255))
    location = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=255))
    name = fields.String(required=True, validate=[
        validate.Length(min=1, max=64),
        validate.Regexp(NAME_PATTERN, error="letters, digits, '.', '_', '-' and the {{n}} counter only")])
    count = fields.Integer(strict=True, load_default=1, validate=SettingRange(1, "NODES_PER_REQUEST_MAX"))
    wait = StrictBoolean(load_default=True)
    timeout = fields.Float(load_default=600.0, validate=SettingRange(0.1, "NODE_WAIT_TIMEOUT_MAX"))


class ProvisionAction(Action):
    """``provision``: ``Cloud.create_nodes`` (parallel), then ``Cloud.wait_running``."""

    alias = "provision"
    schema = ProvisionParams

    @classmethod
    def validate(cls, params, settings, clouds):
        params = load_params(cls.schema, params)
        known_cloud(clouds, params["cloud"])
        return params

    def run(self, context):
        p = self.params
        cloud = cloud_at_run(context, p["cloud"])
        result = {"cloud": cloud.name, "created": [], "failed": []}
        try:
            created, failures = cloud.create_nodes(p["name"], p["image"], p["size"], p.get("location"), p["count"])
        except DispatcherError as exc:
            raise ActionFailed(exc.message, {**result, "error": exc.to_dict()["error"]}) from None
        try:
            context.owners.record_created(cloud, created, context.account_id)
        except DispatcherError as exc:
            raise ActionFailed(exc.message, {**result, "error": exc.to_dict()["error"]}) from None
        result.update(created=[n.to_dict() for n in created], failed=failures)
        if failures:
            raise ActionFailed(f"{len(failures)} of {p['count']} nodes could not be created on cloud {cloud.name!r}",
                               result)
        if p["wait"] and created:
            try:
                result["created"] = [n.to_dict() for n in cloud.wait_running([n.id for n in created], p["timeout"])]
            except CloudTimeout as exc:
                raise ActionFailed(exc.message, {**result, "not_running": exc.details.get("waiting_for", [])}) from None
            except DispatcherError as exc:
                raise ActionFailed(f"waiting for the nodes failed: {exc.message}",
                                   {**result, "error": exc.to_dict()["error"]}) from None
        return result
