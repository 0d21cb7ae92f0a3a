"""Build the OpenAPI 3 document from the application's routes and their contracts."""
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from dispatcher.api import schemas

_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
_ERROR_STATUSES = {"400": "malformed request", "401": "no valid API key", "403": "forbidden or over quota",
                   "404": "not found", "413": "body too large", "422": "invalid field",
                   "429": "too many requests", "501": "not supported by the driver",
                   "502": "the cloud failed", "504": "the cloud timed out"}


def _resolver(schema):
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__


def build_spec(app):
    """The OpenAPI document (a dict) of every route of ``app`` that declares a contract."""
    spec = APISpec(title="Orchestrator API", version="1", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_resolver)],
                   info={"description": "Cloud orchestration middleware: clouds, nodes, jobs and runs."})
    spec.components.schema("Error", schema=schemas.Error)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    paths = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        contract = getattr(view, "contract", None)
        if contract is None:
            continue
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, contract, path)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(rule, contract, path):
    op = {"operationId": rule.endpoint.replace(".", "_"), "summary": contract.summary,
          "tags": [rule.endpoint.split(".")[0]]}
    params = [{"name": name, "in": "path", "required": True,
               "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}
              for name in rule.arguments]
    if contract.query is not None:
        params.append({"in": "query", "schema": contract.query})
    if params:
        op["parameters"] = params
    if contract.body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": contract.body}}}
    ok = {"description": "success"}
    if contract.response is not None and contract.status != 204:
        ok["content"] = {"application/json": {"schema": contract.response}}
    op["responses"] = {str(contract.status): ok}
    error = {"content": {"application/json": {"schema": "Error"}}}
    for status, text in _ERROR_STATUSES.items():
        op["responses"][status] = {"description": text, **error}
    if not path.startswith("/api/") or path == "/api/v1/openapi.json":
        op["security"] = []
    else:
        op["security"] = [{"bearer": []}]
    return op
