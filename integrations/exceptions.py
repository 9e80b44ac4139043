"""One error family for every remote call; the engine decides what to do by class.

Messages are redacted on construction (integrations/redaction.py): a connector error never carries a
secret into a SyncRun, an OpsException, a log line or a traceback."""

from integrations.redaction import redact


class ConnectorError(Exception):
    """Base for failures talking to a remote system."""

    def __init__(self, message: str = "", *, status: int | None = None, code: str | int | None = None):
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class TransientError(ConnectorError):
    """Network failure, timeout, 5xx: retry later with backoff."""


class NotSentError(TransientError):
    """The request certainly never reached the remote (connect timeout, connection refused, name not
    resolved): nothing was applied there, so a push may be released and sent again."""


class RateLimitedError(TransientError):
    """The remote asked us to slow down; `retry_after` (seconds) is a lower bound for the next try."""

    def __init__(self, message: str = "rate limited", *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """Credentials rejected, token revoked, missing scope: the integration goes to Error."""


class PermanentError(ConnectorError):
    """A request the remote will never accept as sent (4xx, bad data): record it, do not retry."""


class PayloadError(ValueError):
    """A remote record we cannot map; counted and recorded per record, the flow continues."""

    def __init__(self, message: str, *, external_id: str = "", field: str = ""):
        super().__init__(message)
        self.message = message
        self.external_id = external_id
        self.field = field


class SettingsError(ValueError):
    """Settings that do not validate against the connector's schema."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors
