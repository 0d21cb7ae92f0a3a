"""The client's errors: one per kind of API answer, each carrying the API's code, message,
details and HTTP status."""
from typing import Any

import httpx


class OrchestratorError(Exception):
    """Root of the client's errors. ``status`` is None when no answer came (see
    :class:`ConnectionFailed`)."""

    status: int | None = None

    def __init__(self, message: str, code: str | None = None, details: dict[str, Any] | None = None,
                 status: int | None = None, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or {}
        if status is not None:
            self.status = status
        self.response = response

    def __str__(self) -> str:
        return f"{self.message} ({self.code}, HTTP {self.status})" if self.status else self.message


class ConnectionFailed(OrchestratorError, ConnectionError):
    """The server could not be reached, or did not answer in time, after the retries."""


class BadRequest(OrchestratorError, ValueError):
    status = 400


class Unauthorized(OrchestratorError, PermissionError):
    status = 401


class Forbidden(OrchestratorError, PermissionError):
    status = 403


class QuotaExceeded(Forbidden):
    """403 ``quota_exceeded``: the plan's job quota is reached."""


class NotFound(OrchestratorError, LookupError):
    status = 404


class Conflict(OrchestratorError):
    status = 409


class PayloadTooLarge(OrchestratorError, ValueError):
    status = 413


class ValidationFailed(OrchestratorError, ValueError):
    """422: ``details`` names the invalid fields."""

    status = 422


class RateLimited(OrchestratorError):
    """429, still answered once the retries were spent; ``retry_after`` is the server's wish."""

    status = 429
    retry_after: float | None = None


class ServerError(OrchestratorError):
    """Any other 5xx answer."""

    status = 500


class NotSupported(ServerError, NotImplementedError):
    status = 501


class CloudError(ServerError):
    """502: the cloud failed or refused."""

    status = 502


class ServiceUnavailable(ServerError):
    status = 503


class CloudTimeout(CloudError, TimeoutError):
    """504: the cloud, or its nodes, were not ready in time."""

    status = 504


BY_STATUS: dict[int, type[OrchestratorError]] = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
             413: PayloadTooLarge, 422: ValidationFailed, 429: RateLimited, 501: NotSupported,
             502: CloudError, 503: ServiceUnavailable, 504: CloudTimeout}
BY_CODE: dict[str, type[OrchestratorError]] = {"quota_exceeded": QuotaExceeded}


def error_for(response: httpx.Response) -> OrchestratorError:
    """The :class:`OrchestratorError` an error answer stands for (a proxy's answer, not in the
    API's shape, by its status alone)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), str) else None
    details = error.get("details") if isinstance(error.get("details"), dict) else None
    status = response.status_code
    cls = (BY_CODE.get(code) if code else None) or BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else OrchestratorError
    message = error.get("message") or f"HTTP {status} {response.reason_phrase}".strip()
    return cls(str(message), code=code, details=details, status=status, response=response)
