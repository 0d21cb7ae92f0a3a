"""Build the OpenAPI 3 document from the application's routes and their contracts.

The document is what the contract tests fuzz (``tests/test_openapi.py``), so it says what the
API really answers: each path parameter as its URL converter matches it, a body marked required
when its schema has required fields, no content on a 204, and every error status a view or the
framework can answer, all in the one error shape.
"""
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from werkzeug.routing import AnyConverter, FloatConverter, IntegerConverter, PathConverter, UUIDConverter

from dispatcher.api import schemas, typed
from dispatcher.api.auth import PUBLIC_PATHS
from dispatcher.lib.validation import CHOICES_FROM, NEEDS_SETTING, SettingRange

# ``<converter(args):name>`` -> ``{name}``
_ARGUMENT = re.compile(r"<(?:[A-Za-z_][A-Za-z0-9_]*(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>")
# Error statuses: those any operation may answer, those of a body or a query string, those of an
# operation that needs a key (its view may also answer the rest), and those of a path parameter.
_ANY_STATUSES = {"400": "malformed request", "429": "too many requests"}
_BODY_STATUSES = {"413": "body too large", "415": "not sent as JSON", "422": "invalid field"}
_QUERY_STATUSES = {"422": "invalid field"}
_KEY_STATUSES = {"401": "no valid API key", "403": "forbidden or over quota", "404": "not found",
                 "409": "conflict with the current state", "501": "not supported by the driver",
                 "502": "the cloud failed", "504": "the cloud timed out"}
_PATH_STATUSES = {"404": "not found"}


def _resolver(schema):
    cls = schema if isinstance(schema, type) else type(schema)
    return cls.__name__


def build_spec(app):
    """The OpenAPI document (a dict) of every route of ``app`` that declares a contract."""
    plugin = MarshmallowPlugin(schema_name_resolver=_resolver)
    spec = APISpec(title="Orchestrator API", version="1", openapi_version="3.0.3", plugins=[plugin],
                   info={"description": "Cloud orchestration middleware: clouds, nodes, jobs and runs."})
    plugin.converter.add_attribute_function(_choices_from(app.config))
    plugin.converter.add_attribute_function(_setting_range(app.config))
    plugin.converter.add_attribute_function(_needs_setting(app.config))
    plugin.converter.add_attribute_function(typed.register(spec, plugin.converter))
    spec.components.schema("Error", schema=schemas.Error)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    paths = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        contract = getattr(view, "contract", None)
        if contract is None:
            continue
        path = _ARGUMENT.sub(r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, contract, path)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    for operations in document.get("paths", {}).values():
        for op in operations.values():
            for param in op.get("parameters", ()):
                _without_null(param)
    _as_json_schema(document)
    return document


def _as_json_schema(node):
    """Say in JSON Schema what apispec copied from Python.

    A nullable nested schema comes as ``anyOf: [{$ref}, {type: object, nullable: true}]``, whose
    second branch takes any object: it takes null alone. A pattern ends in ``\\Z`` (Python's end,
    which no trailing newline passes): ECMA 262, the patterns' language, says ``$``."""
    if isinstance(node, dict):
        for branch in node.get("anyOf", ()):
            if branch == {"type": "object", "nullable": True}:
                branch["enum"] = [None]
        if isinstance(node.get("pattern"), str):
            node["pattern"] = _ecma(node["pattern"])
        if isinstance(node.get("patternProperties"), dict):
            node["patternProperties"] = {_ecma(key): value for key, value in node["patternProperties"].items()}
        for value in node.values():
            _as_json_schema(value)
    elif isinstance(node, list):
        for value in node:
            _as_json_schema(value)


def _ecma(pattern):
    return pattern[:-2] + "$" if pattern.endswith("\\Z") else pattern


def _choices_from(config):
    """An apispec attribute function: ``enum`` from the setting a field's metadata names."""
    def choices_from(self, field, **kwargs):
        setting = field.metadata.get(CHOICES_FROM)
        return {"enum": sorted(config[setting])} if setting else {}
    return choices_from


def _needs_setting(config):
    """An apispec attribute function: ``maxItems: 0`` for a list whose setting is not set."""
    def needs_setting(self, field, **kwargs):
        setting = field.metadata.get(NEEDS_SETTING)
        return {"maxItems": 0} if setting and not config.get(setting) else {}
    return needs_setting


def _setting_range(config):
    """An apispec attribute function: ``minimum``/``maximum`` of a :class:`SettingRange`."""
    def setting_range(self, field, **kwargs):
        for validator in field.validators:
            if isinstance(validator, SettingRange):
                return {"minimum": validator.min, "maximum": config[validator.setting]}
        return {}
    return setting_range


def _operation(rule, contract, path):
    op = {"operationId": rule.endpoint.replace(".", "_"), "summary": contract.summary,
          "tags": [rule.endpoint.split(".")[0]]}
    # In the order they appear in the path: rule.arguments is a set, and the document must be stable.
    patterns = {name: {"type": "string", "pattern": validator.regex.pattern} for name, validator in contract.path}
    params = [{"name": name, "in": "path", "required": True, "schema": patterns.get(name) or _path_schema(rule, name)}
              for name in _ARGUMENT.findall(rule.rule)]
    if contract.query is not None:
        params.append({"in": "query", "schema": contract.query})
    if params:
        op["parameters"] = params
    if contract.body is not None:
        op["requestBody"] = {"required": _has_required_field(contract.body),
                             "content": {"application/json": {"schema": contract.body}}}
    ok = {"description": "success"}
    if contract.status != 204:
        # Every answer but a 204 is JSON; a contract without a response schema still says so.
        ok["content"] = {"application/json": {"schema": contract.response if contract.response else {}}}
    op["responses"] = {str(contract.status): ok}
    for status, schema in contract.others:
        op["responses"][str(status)] = {"description": "success", "content": {"application/json": {"schema": schema}}}
    secured = path.startswith("/api/") and path not in PUBLIC_PATHS
    errors = dict(_ANY_STATUSES)
    for applies, statuses in ((contract.body is not None, _BODY_STATUSES),
                              (contract.query is not None, _QUERY_STATUSES),
                              (secured, _KEY_STATUSES), (bool(rule.arguments), _PATH_STATUSES)):
        if applies:
            errors.update(statuses)
    error = {"content": {"application/json": {"schema": "Error"}}}
    for status in sorted(errors):
        op["responses"][status] = {"description": errors[status], **error}
    op["security"] = [{"bearer": []}] if secured else []
    return op


def _without_null(param):
    """A query string has no null: a field that loads None when absent is simply optional."""
    schema = param.get("schema", {})
    schema.pop("nullable", None)
    if "default" in schema and schema["default"] is None:
        del schema["default"]


def _path_schema(rule, name):
    """The JSON schema of what the rule's URL converter for ``name`` matches."""
    converter = rule._converters.get(name)     # werkzeug keeps them only there, by argument
    if isinstance(converter, UUIDConverter):
        return {"type": "string", "format": "uuid"}
    if isinstance(converter, (IntegerConverter, FloatConverter)):
        schema = {"type": "integer" if isinstance(converter, IntegerConverter) else "number"}
        if not converter.signed:
            schema["minimum"] = 0
        if converter.min is not None:
            schema["minimum"] = converter.min
        if converter.max is not None:
            schema["maximum"] = converter.max
        return schema
    if isinstance(converter, AnyConverter):
        return {"type": "string", "enum": sorted(converter.items)}
    if isinstance(converter, PathConverter):
        return {"type": "string", "minLength": 1}
    # The default converter: one segment, without a slash, of the converter's length.
    return {"type": "string", "pattern": f"^{converter.regex}$" if converter else "^[^/]+$"}


def _has_required_field(schema_cls):
    return any(field.required for field in schema_cls().fields.values())
