"""One error hierarchy: every error the API can answer, with its HTTP status and code."""


class DispatcherError(Exception):
    """Root of our errors; ``status`` and ``code`` say how the API answers it."""

    status = 500
    code = "internal_error"

    def __init__(self, message, details=None):
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self):
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class SettingsError(DispatcherError, ValueError):
    """The operator's settings are unusable; the service refuses to start."""

    code = "bad_settings"


class BadRequest(DispatcherError, ValueError):
    status = 400
    code = "bad_request"


class UnsupportedMediaType(DispatcherError, ValueError):
    status = 415
    code = "unsupported_media_type"


class ValidationFailed(DispatcherError, ValueError):
    """A well-formed body or query that breaks the schema; ``details`` names the fields."""

    status = 422
    code = "validation_failed"


class NeverFires(ValidationFailed):
    """A well-formed schedule with no fire time ahead: an ``at`` past, an end before the start or
    before the next occurrence, rules no date meets. Its own code, because no schema can say it:
    whether a schedule fires again depends on the time it is given at."""

    code = "never_fires"


class TooCostly(ValidationFailed):
    """A schedule whose next fire time takes more work to find than one computation may do."""

    code = "too_costly"


class Unauthorized(DispatcherError):
    status = 401
    code = "unauthorized"


class Forbidden(DispatcherError, PermissionError):
    status = 403
    code = "forbidden"


class QuotaExceeded(Forbidden):
    code = "quota_exceeded"


class NotFound(DispatcherError, LookupError):
    status = 404
    code = "not_found"


class UnknownProvider(NotFound):
    """An ENGINE label that neither we, a plugin, nor libcloud knows."""

    code = "unknown_provider"


class Conflict(DispatcherError):
    status = 409
    code = "conflict"


class NotSupported(DispatcherError, NotImplementedError):
    """The cloud's driver cannot do this operation."""

    status = 501
    code = "not_supported"


class StoreUnavailable(DispatcherError):
    """The store failed to record what was done; ``details`` says what was done and undone."""

    status = 503
    code = "store_unavailable"


class CloudError(DispatcherError):
    """The cloud answered with an error, refused our credentials, or could not be reached."""

    status = 502
    code = "cloud_error"


class CloudTimeout(CloudError, TimeoutError):
    status = 504
    code = "cloud_timeout"
