"""JSON in and out through orjson: lists of a hundred nodes serialise several times faster."""
import orjson
from flask.json.provider import JSONProvider


# Validation errors key list items by their index: non-string keys are written as strings.
OPTIONS = orjson.OPT_NON_STR_KEYS


class OrjsonProvider(JSONProvider):
    """Flask's JSON provider over orjson (compact, keys in insertion order)."""

    def dumps(self, obj, **kwargs):
        return orjson.dumps(obj, default=str, option=OPTIONS).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)

    def response(self, *args, **kwargs):
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(orjson.dumps(obj, default=str, option=OPTIONS),
                                        mimetype="application/json")
