"""The per-view contract: the schemas that validate a request also document it.

``@operation(body=..., query=..., response=..., status=...)`` validates the JSON body and the
query string before the view runs (passing them as ``body`` and ``query``) and records the
schemas on the view, where :mod:`dispatcher.api.openapi` reads them.
"""
from dataclasses import dataclass
from functools import wraps
import json

from flask import current_app, request
from marshmallow import ValidationError

from dispatcher.errors import BadRequest, ValidationFailed


@dataclass(frozen=True)
class Contract:
    body: type | None
    query: type | None
    response: type | None
    status: int
    summary: str


_schema_cache = {}


def _schema(cls):
    instance = _schema_cache.get(cls)
    if instance is None:
        instance = _schema_cache[cls] = cls()
    return instance


def json_body():
    """The request body parsed as JSON (``{}`` when empty); 400 when it is not JSON."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def load(schema_cls, data, where):
    try:
        return _schema(schema_cls).load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        fields = ", ".join(sorted(str(k) for k in messages))
        raise ValidationFailed(f"invalid {where}: {fields}", messages) from None


def operation(*, body=None, query=None, response=None, status=200):
    """Declare a view's schemas; validate body and query against them on every call."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if body is not None:
                kwargs["body"] = load(body, json_body(), "body")
            if query is not None:
                kwargs["query"] = load(query, request.args.to_dict(), "query")
            return view(*args, **kwargs)

        summary = (view.__doc__ or "").strip().splitlines()[0] if view.__doc__ else view.__name__
        wrapper.contract = Contract(body, query, response, status, summary)
        return wrapper
    return decorate


def page(items, query):
    """One page of ``items`` as the list envelope ``{items, total, limit, offset}``."""
    limit = query.get("limit") or current_app.config["PAGE_SIZE_DEFAULT"]
    offset = query.get("offset", 0)
    chunk = items[offset:offset + limit]
    return {"items": [item.to_dict() if hasattr(item, "to_dict") else item for item in chunk],
            "total": len(items), "limit": limit, "offset": offset}
