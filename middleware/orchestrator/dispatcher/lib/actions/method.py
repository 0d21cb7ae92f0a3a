"""The ``method`` action: call a function the application registered by name.

``{"type": "method", "name", "parameters"?}``. Only registered names run: a job names a method,
never an import path. The application registers with ``@register_method("name")``; an
installed package through the ``orchestrator.methods`` entry-point group
(``name = "package.module:function"``); a name registered in code wins over an entry point.

Call convention: ``fn(context, **parameters)``: the :class:`RunContext` first, then the job's
parameters as keyword arguments, so a method declares exactly what it accepts (a job whose
parameters do not fit the signature is refused when it is validated). The result is
``{"name", "value"}`` where ``value`` is the return value if it is JSON-able, else ``str()`` of it.
A method fails a run by raising; :class:`ActionFailed` passes through as it is.
"""
from functools import lru_cache
from importlib.metadata import entry_points
import inspect
import json
import logging
import re
import threading

from marshmallow import Schema, fields, validate

from dispatcher.lib.actions.base import Action, ActionFailed, invalid, load_params

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "orchestrator.methods"
_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}\Z"


class UnknownMethod(LookupError):
    """No method is registered under this name; ``known`` lists the names that are."""

    def __init__(self, name, known):
        super().__init__(f"no method registered as {name!r} (known: {', '.join(known) or 'none'})")
        self.name = name
        self.known = known


class ConflictingMethod(KeyError):
    """Another function is already registered under this name."""


@lru_cache(maxsize=1)
def plugin_methods():
    """Entry points of the ``orchestrator.methods`` group, by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


class MethodRegistry:
    """Name -> callable: those registered in code, then those of entry points (loaded on use)."""

    def __init__(self):
        self._methods = {}
        self._lock = threading.Lock()

    def register(self, name):
        """Decorator: register the function under ``name`` (re-registering the same one is a no-op)."""
        if not isinstance(name, str) or not re.match(_NAME, name):
            raise ValueError(f"method name {name!r}: letters, digits, '_', '.', ':' and '-', at most 100")

        def decorate(fn):
            if not callable(fn):
                raise TypeError(f"method {name!r}: {fn!r} is not callable")
            with self._lock:
                current = self._methods.get(name)
                if current is not None and current is not fn:
                    raise ConflictingMethod(f"method {name!r} is already registered ({current!r})")
                self._methods[name] = fn
            return fn
        return decorate

    def unregister(self, name):
        with self._lock:
            self._methods.pop(name, None)

    def names(self):
        return sorted(set(self._methods) | set(plugin_methods()))

    def get(self, name):
        """The callable registered as ``name``; :class:`UnknownMethod` lists the known names."""
        fn = self._methods.get(name)
        if fn is None:
            plugin = plugin_methods().get(name)
            if plugin is None:
                raise UnknownMethod(name, self.names())
            fn = plugin.load()
        return fn

    def __contains__(self, name):
        return name in self._methods or name in plugin_methods()


methods = MethodRegistry()
register_method = methods.register


class MethodParams(Schema):
    name = fields.String(required=True, validate=validate.Regexp(_NAME, error="not a method name"))
    parameters = fields.Dict(keys=fields.String(), load_default=dict)


class MethodAction(Action):
    """``method``: ``fn(context, **parameters)`` for the function registered as ``name``."""

    alias = "method"
    schema = MethodParams

    @classmethod
    def document(cls, params):
        """Only the names registered now, each with the parameters its signature takes."""
        names = methods.names()
        if not names:
            return {**params, "description": "no method is registered on this service", "not": {}}
        properties = {**params["properties"], "name": {**params["properties"]["name"], "enum": names}}
        return {**params, "properties": properties,
                "anyOf": [_method_form(name) for name in names]}

    @classmethod
    def validate(cls, params, settings, clouds):
        params = load_params(cls.schema, params)
        try:
            fn = methods.get(params["name"])
        except UnknownMethod as exc:
            raise invalid({"action.name": [str(exc)]}) from None
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            return params   # a callable without a signature: its call will tell
        try:
            signature.bind(None, **params["parameters"])
        except TypeError as exc:
            raise invalid({"action.parameters": [f"do not fit method {params['name']!r}: {exc}"]}) from None
        return params

    def run(self, context):
        name = self.params["name"]
        result = {"name": name, "value": None}
        try:
            fn = methods.get(name)
        except UnknownMethod as exc:
            raise ActionFailed(str(exc), result) from None
        try:
            value = fn(context, **self.params.get("parameters", {}))
        except ActionFailed:
            raise
        except Exception as exc:
            log.exception("method %s failed in run %s", name, context.run_id)
            result["error"] = {"type": type(exc).__name__, "message": str(exc)[:1000]}
            raise ActionFailed(f"method {name!r} raised {type(exc).__name__}: {str(exc)[:300]}", result) from None
        result["value"] = _jsonable(value)
        return result


def _method_form(name):
    """The action's schema for the method ``name``: its parameters, required when it needs some."""
    parameters = _parameters_schema(name)
    form = {"properties": {"name": {"enum": [name]}, "parameters": parameters}}
    return {**form, "required": ["parameters"]} if parameters.get("required") else form


def _parameters_schema(name):
    """The JSON schema of the ``parameters`` that bind to the method's signature after the
    context, as :meth:`MethodAction.validate` binds them: ``{"not": {}}`` when none can."""
    try:
        signature = inspect.signature(methods.get(name))
    except Exception:       # a plugin that does not load, a callable without a signature: its call will tell
        return {"type": "object"}
    params = list(signature.parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                  inspect.Parameter.VAR_POSITIONAL)
    context = next((p for p in params if p.kind in positional), None)
    rest = [p for p in params if p is not context]
    if context is None or any(p.kind is inspect.Parameter.POSITIONAL_ONLY and p.default is p.empty for p in rest):
        return {"not": {}}
    named = [p for p in rest if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    properties = {p.name: {} for p in named}
    if context.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
        properties[context.name] = {"not": {}}     # the context is passed already
    schema = {"type": "object", "properties": properties,
              "additionalProperties": any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest)}
    required = [p.name for p in named if p.default is p.empty]
    return {**schema, "required": required} if required else schema


def _jsonable(value):
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return str(value)
    return value
