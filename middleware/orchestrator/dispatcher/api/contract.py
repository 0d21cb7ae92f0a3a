"""The per-view contract: the schemas that validate a request also document it.

``@operation(body=..., query=..., path=..., response=..., status=...)`` validates the JSON body,
the query string and the path parameters ``path`` names (each with a pattern validator) before
the view runs (passing the first two as ``body`` and ``query``) and records the schemas on the
view, where :mod:`dispatcher.api.openapi` reads them.
"""
from dataclasses import dataclass
from functools import wraps
import json

from flask import current_app, request
from marshmallow import ValidationError

from dispatcher.errors import BadRequest, UnsupportedMediaType, ValidationFailed

#: Deepest nesting a request body may have: deeper documents could be stored but not answered
#: (encoders stop at a fixed depth), and nothing the API takes needs more.
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Contract:
    body: type | None
    query: type | None
    response: type | None
    status: int
    summary: str
    others: tuple = ()      # ((status, schema), ...): other success answers (202 of an async call)
    path: tuple = ()        # ((name, validator), ...): path parameters checked beyond their URL converter


_schema_cache = {}


def _schema(cls):
    instance = _schema_cache.get(cls)
    if instance is None:
        instance = _schema_cache[cls] = cls()
    return instance


def json_body():
    """The request body parsed as JSON (``{}`` when empty).

    415 unless it is sent as JSON; 400 when it is not JSON; 422 when it is JSON that could not
    be stored and answered again (too deeply nested, or text with a lone surrogate)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    if not request.is_json:
        raise UnsupportedMediaType(f"the body must be sent as application/json, not {request.mimetype or 'untyped'}",
                                   {"content_type": request.mimetype or None})
    try:
        data = json.loads(raw)
    except RecursionError:
        raise BadRequest(f"the body is not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    check_storable(data)
    return data


def check_storable(document):
    """Raise :class:`ValidationFailed` naming the first place where ``document`` nests deeper
    than :data:`MAX_JSON_DEPTH` or holds text that is not valid Unicode (a lone surrogate)."""
    stack = [(document, (), 0)]
    while stack:
        value, path, depth = stack.pop()
        where = ".".join(map(str, path)) or "_schema"
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise ValidationFailed(f"invalid body: {where} nests deeper than {MAX_JSON_DEPTH} levels",
                                       {where: [f"at most {MAX_JSON_DEPTH} levels of nesting"]})
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    # The key is named escaped: an answer never carries a lone surrogate either.
                    key = _check_text(key, ".".join(map(str, (*path, key.encode("utf-8", "backslashreplace")
                                                                  .decode()))))
                stack.append((item, (*path, key), depth + 1))


def _check_text(text, where):
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raise ValidationFailed(f"invalid body: {where} is not valid Unicode text (a lone surrogate)",
                               {where: ["not valid Unicode text: a lone surrogate such as \\udc00"]}) from None


def load(schema_cls, data, where):
    if where == "body" and not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
        raise ValidationFailed(f"invalid body: expected a JSON object, got {kind}",
                               {"_schema": [f"expected a JSON object, got {kind}"]})
    try:
        return _schema(schema_cls).load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        fields = ", ".join(sorted(str(k) for k in messages))
        raise ValidationFailed(f"invalid {where}: {fields}", messages) from None


def load_query(schema_cls):
    """The query string loaded by ``schema_cls``; a copy of the earlier result for one the
    application saw before (clients repeat the same few queries, and the limits they are
    checked against are the application's settings)."""
    queries = current_app.extensions.setdefault("orchestrator.queries", {})
    key = (schema_cls, request.query_string)
    loaded = queries.get(key)
    if loaded is None:
        loaded = load(schema_cls, request.args.to_dict(), "query")
        if len(queries) > 1024:
            queries.clear()
        queries[key] = loaded
    return dict(loaded)


def check_path(name, value, validator):
    try:
        validator(value)
    except ValidationError as exc:
        raise ValidationFailed(f"invalid {name} {value!r}: {exc.messages[0]}", {name: exc.messages}) from None


def operation(*, body=None, query=None, path=None, response=None, status=200, others=None):
    """Declare a view's schemas; validate body and query against them on every call.
    ``path`` maps path parameters to the :class:`~marshmallow.validate.Regexp` they must match;
    ``others`` maps other success statuses the view may answer to their schemas."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            for name, validator in (path or {}).items():
                check_path(name, kwargs[name], validator)
            if body is not None:
                kwargs["body"] = load(body, json_body(), "body")
            if query is not None:
                kwargs["query"] = load_query(query)
            return view(*args, **kwargs)

        summary = (view.__doc__ or "").strip().splitlines()[0] if view.__doc__ else view.__name__
        wrapper.contract = Contract(body, query, response, status, summary, tuple(sorted((others or {}).items())),
                                    tuple((path or {}).items()))
        return wrapper
    return decorate


def page(items, query):
    """One page of ``items`` as the list envelope ``{items, total, limit, offset}``."""
    limit = query.get("limit") or current_app.config["PAGE_SIZE_DEFAULT"]
    offset = query.get("offset", 0)
    chunk = items[offset:offset + limit]
    return {"items": [item.to_dict() if hasattr(item, "to_dict") else item for item in chunk],
            "total": len(items), "limit": limit, "offset": offset}
