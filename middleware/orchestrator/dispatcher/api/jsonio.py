"""JSON in and out through orjson: lists of a hundred nodes serialise several times faster."""
import json

import orjson
from flask.json.provider import JSONProvider


# Validation errors key list items by their index: non-string keys are written as strings.
OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(obj):
    """``obj`` as JSON bytes. orjson refuses text that is not valid Unicode and nesting past 254
    levels; the standard encoder, which escapes such text, answers those rather than an error."""
    try:
        return orjson.dumps(obj, default=str, option=OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(obj, default=str, separators=(",", ":")).encode()


class OrjsonProvider(JSONProvider):
    """Flask's JSON provider over orjson (compact, keys in insertion order)."""

    def dumps(self, obj, **kwargs):
        return dumps(obj).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)

    def response(self, *args, **kwargs):
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(dumps(obj), mimetype="application/json")
