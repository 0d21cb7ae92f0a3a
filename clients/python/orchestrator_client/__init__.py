"""Python client for the Orchestrator HTTP API, and the ``orch`` command line.

The shapes of the answers are in :mod:`orchestrator_client.types`."""
from orchestrator_client.client import Client
from orchestrator_client.errors import (BadRequest, CloudError, CloudTimeout, Conflict, ConnectionFailed, Forbidden,
                                        NotFound, NotSupported, OrchestratorError, PayloadTooLarge, QuotaExceeded,
                                        RateLimited, ServerError, ServiceUnavailable, Unauthorized, ValidationFailed)

__all__ = ["Client", "OrchestratorError", "BadRequest", "Unauthorized", "Forbidden", "QuotaExceeded", "NotFound",
           "Conflict", "PayloadTooLarge", "ValidationFailed", "RateLimited", "ServerError", "NotSupported",
           "CloudError", "ServiceUnavailable", "CloudTimeout", "ConnectionFailed"]
