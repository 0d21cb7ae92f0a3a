"""The broker's refusals, answered in the Open Service Broker shape ``{"error", "description"}``.

The ``/api/v1`` routes keep our own error shape (:mod:`dispatcher.errors`); these are for the
``/v2`` routes only, whose clients are platforms that read the spec's shape. ``error`` is a
camel-case word: one of the spec's codes where it names one (``ConcurrencyError``), else the
HTTP status's name.
"""
from http import HTTPStatus


def error_word(status):
    """``422`` -> ``"UnprocessableEntity"``: the camel-case word of an HTTP status."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "Error"
    return "".join(word[:1].upper() + word[1:] for word in phrase.replace("-", " ").split())


def body(status, description, error=None):
    """The spec's error body."""
    return {"error": error or error_word(status), "description": description}


class BrokerError(Exception):
    """A request the broker refuses; ``status`` and ``error`` say how."""

    status = 500
    error = None

    def __init__(self, description):
        super().__init__(description)
        self.description = description

    def to_dict(self):
        return body(self.status, self.description, self.error)


class BadBrokerRequest(BrokerError, ValueError):
    """Malformed, or naming a service, plan or parameter this broker does not have (400)."""

    status = 400


class BrokerUnauthorized(BrokerError):
    status = 401


class InstanceConflict(BrokerError):
    """The instance or binding exists with other attributes (409)."""

    status = 409


class UnsupportedVersion(BrokerError):
    """The platform speaks a version of the API older than the broker's (412)."""

    status = 412


class Unprocessable(BrokerError):
    """A well-formed request that the instance's state refuses, e.g. a plan below its jobs (422)."""

    status = 422


class ConcurrencyError(Unprocessable):
    """Another request is changing the same instance or binding; the platform should retry."""

    error = "ConcurrencyError"
