"""Request and response schemas: the same objects validate requests and describe the API."""
from marshmallow import Schema, fields, validate

from dispatcher.lib.validation import FullMatch, SettingRange, StrictBoolean


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"description": "machine-readable error code"})
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class Error(Schema):
    """Every error answer: ``{"error": {"code", "message", "details"}}``."""

    error = fields.Nested(ErrorBody, required=True)


class PageQuery(Schema):
    limit = fields.Integer(load_default=None, validate=SettingRange(1, "PAGE_SIZE_MAX"),
                           metadata={"description": "items per page (default PAGE_SIZE_DEFAULT, 100 unless "
                                                    "the operator set it)"})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31))


def page_of(item_schema, name=None):
    """A paginated envelope schema around ``item_schema``."""
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item_schema), required=True),
        "total": fields.Integer(required=True),
        "limit": fields.Integer(required=True),
        "offset": fields.Integer(required=True),
    }, name=name or f"{item_schema.__name__}Page")


class Health(Schema):
    status = fields.String(required=True)


class CloudSummary(Schema):
    name = fields.String(required=True)
    engine = fields.String(required=True)
    driver = fields.String(required=True)
    default = fields.Boolean(required=True)


class CloudDetail(CloudSummary):
    capabilities = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True,
                               metadata={"description": "operation -> whether the driver supports it"})


class Image(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    extra = fields.Dict(required=True)


class Size(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    ram = fields.Integer(allow_none=True, required=True)
    disk = fields.Integer(allow_none=True, required=True)
    bandwidth = fields.Integer(allow_none=True, required=True)
    price = fields.Float(allow_none=True, required=True)
    extra = fields.Dict(required=True)


class Location(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    country = fields.String(allow_none=True, required=True)


class Node(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    state = fields.String(required=True, metadata={"description": "libcloud node state: running, pending, ..."})
    public_ips = fields.List(fields.String(), required=True)
    private_ips = fields.List(fields.String(), required=True)
    size = fields.String(allow_none=True, required=True)
    image = fields.String(allow_none=True, required=True)
    extra = fields.Dict(required=True)


NAME_PATTERN = FullMatch(r"^[A-Za-z0-9][A-Za-z0-9{}_.-]*$",
                               error="letters, digits, '.', '_', '-' and the {{n}} counter only")


class NodeCreate(Schema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=64), NAME_PATTERN],
                         metadata={"description": "node name; {n} counts from 1 when count > 1"})
    image = fields.String(required=True, validate=validate.Length(min=1, max=255))
    size = fields.String(required=True, validate=validate.Length(min=1, max=255))
    location = fields.String(load_default=None, validate=validate.Length(min=1, max=255))
    count = fields.Integer(strict=True, load_default=1, validate=SettingRange(1, "NODES_PER_REQUEST_MAX"))
    wait = StrictBoolean(load_default=False, metadata={"description": "answer once every node runs"})
    timeout = fields.Float(load_default=600.0, validate=SettingRange(0.1, "NODE_WAIT_TIMEOUT_MAX"),
                           metadata={"description": "seconds to wait when wait is true"})
    async_ = StrictBoolean(data_key="async", load_default=False,
                           metadata={"description": "answer 202 with a run id at once; the nodes are made by "
                                                    "that run (follow it at /runs/{id})"})


class NodeCreated(Schema):
    nodes = fields.List(fields.Nested(Node), required=True)


class NodeCreateStarted(Schema):
    run_id = fields.String(required=True, metadata={"description": "the run making the nodes"})
    status = fields.String(required=True)


class Ping(Schema):
    port = fields.Integer(strict=True, load_default=22, validate=validate.Range(min=1, max=65535))
    timeout = fields.Float(load_default=2.0, validate=validate.Range(min=0.05, max=30))


class PingResult(Schema):
    node_id = fields.String(required=True)
    state = fields.String(required=True)
    address = fields.String(allow_none=True, required=True)
    port = fields.Integer(required=True)
    reachable = fields.Boolean(required=True)
    latency_ms = fields.Float(allow_none=True, required=True)
    error = fields.String(allow_none=True, required=True)


class Accepted(Schema):
    status = fields.String(required=True)
