"""The ``ping``, ``reboot`` and ``destroy`` actions: one operation on each of a set of nodes.

``{"type": "ping" | "reboot" | "destroy", "cloud"?, "nodes": [ids] | "selector": {"name": glob},
"port"?, "timeout"?}`` (``port`` and ``timeout``, the TCP probe's, for ``ping`` only). The nodes
are resolved when the run starts: a selector matches node names with a case-sensitive
``fnmatch`` glob over the cloud's current nodes. An account that is not the administrator
reaches only the nodes it owns: a selector silently skips the others, a listed id it does not
own fails as "no such node" (whether another account's node exists is not its business).

The result is ``{"cloud", "nodes": [{"node_id", "ok", "error", ...}], "succeeded", "failed"}``;
one node failing (for ``ping``: not found, cloud error, or not reachable) fails the run, with
every node's result kept. A selector that matches nothing completes with no nodes.
"""
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from dispatcher.errors import DispatcherError, NotFound
from dispatcher.lib.actions.base import Action, ActionFailed, cloud_at_run, known_cloud, load_params
from dispatcher.lib.validation import CHOICES_FROM

PARALLEL_NODES = 8      # nodes handled at once by one run


class Selector(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255),
                         metadata={"description": "fnmatch glob over node names, e.g. web-*"})


class NodesParams(Schema):
    cloud = fields.String(load_default="default", validate=validate.Length(min=1, max=64),
                          metadata={CHOICES_FROM: "CLOUD_FARM"})
    nodes = fields.List(fields.String(validate=validate.Length(min=1, max=255)),
                        validate=validate.Length(min=1, max=1000))
    selector = fields.Nested(Selector)

    @validates_schema
    def one_target(self, data, **kwargs):
        if ("nodes" in data) == ("selector" in data):
            raise ValidationError("give exactly one of nodes (a list of ids) and selector", "nodes")


class PingParams(NodesParams):
    port = fields.Integer(strict=True, load_default=22, validate=validate.Range(min=1, max=65535))
    timeout = fields.Float(load_default=2.0, validate=validate.Range(min=0.05, max=30))


class NodesAction(Action):
    """One cloud operation per node; subclasses say which in :meth:`operate`."""

    schema = NodesParams
    verb = "handle"

    @classmethod
    def document(cls, params):
        """Exactly one of ``nodes`` and ``selector``, as :meth:`NodesParams.one_target` checks."""
        return {**params, "oneOf": [{"required": ["nodes"]}, {"required": ["selector"]}]}

    @classmethod
    def validate(cls, params, settings, clouds):
        params = load_params(cls.schema, params)
        known_cloud(clouds, params["cloud"])
        if "nodes" in params:
            params["nodes"] = list(dict.fromkeys(params["nodes"]))     # once each, order kept
        return params

    def run(self, context):
        cloud = cloud_at_run(context, self.params["cloud"])
        try:
            targets = self.targets(cloud, context)
        except DispatcherError as exc:
            raise ActionFailed(f"could not list the nodes of cloud {cloud.name!r}: {exc.message}",
                               {"cloud": cloud.name, "nodes": []}) from None
        with ThreadPoolExecutor(max_workers=max(1, min(len(targets), PARALLEL_NODES))) as pool:
            outcomes = list(pool.map(lambda target: self.attempt(cloud, context, *target), targets))
        failed = sum(not o["ok"] for o in outcomes)
        result = {"cloud": cloud.name, "nodes": outcomes, "succeeded": len(outcomes) - failed, "failed": failed}
        if failed:
            raise ActionFailed(f"{failed} of {len(outcomes)} nodes failed to {self.verb} on cloud {cloud.name!r}",
                               result)
        return result

    def targets(self, cloud, context):
        """``(node_id, refusal)`` pairs: the refusal is a NotFound for a node the account may not touch."""
        owned = None if context.is_admin else context.owners.owned(cloud.name, context.account_id)
        if "selector" in self.params:
            pattern = self.params["selector"]["name"]
            return [(n.id, None) for n in cloud.nodes()
                    if fnmatchcase(n.name, pattern) and (owned is None or n.id in owned)]
        return [(node_id, None if owned is None or node_id in owned else
                 NotFound(f"cloud {cloud.name!r} has no node {node_id!r}"))
                for node_id in self.params["nodes"]]

    def attempt(self, cloud, context, node_id, refusal):
        try:
            if refusal is not None:
                raise refusal
            return {"node_id": node_id, "ok": True, "error": None, **self.operate(cloud, context, node_id)}
        except DispatcherError as exc:
            return {"node_id": node_id, "ok": False, "error": exc.message, "code": exc.code}

    @abstractmethod
    def operate(self, cloud, context, node_id):
        """Do the operation on one node; return extra result fields, raise a DispatcherError on failure."""


class PingAction(NodesAction):
    """``ping``: each node's cloud state plus a TCP probe of ``port`` (``Cloud.ping``)."""

    alias = "ping"
    schema = PingParams
    verb = "answer"

    def operate(self, cloud, context, node_id):
        answer = cloud.ping(node_id, port=self.params["port"], timeout=self.params["timeout"])
        return {**answer, "ok": answer["reachable"]}


class RebootAction(NodesAction):
    """``reboot``: reboot each node."""

    alias = "reboot"
    verb = "reboot"

    def operate(self, cloud, context, node_id):
        cloud.reboot(node_id)
        return {}


class DestroyAction(NodesAction):
    """``destroy``: destroy each node and forget who owned it."""

    alias = "destroy"
    verb = "be destroyed"

    def operate(self, cloud, context, node_id):
        cloud.destroy(node_id)
        context.owners.forget(cloud.name, node_id)
        return {}
