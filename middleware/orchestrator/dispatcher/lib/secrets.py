"""Secrets the process knows (cloud credentials, keys): redacted from text and log records."""
import logging
import threading
from urllib.parse import unquote, urlsplit, urlunsplit

from dispatcher.errors import SettingsError

MASK = "[redacted]"
_MIN_LENGTH = 4  # shorter values would mask ordinary words


class SecretRegistry:
    """A set of secret strings and the means to scrub them from any text."""

    def __init__(self):
        self._values = frozenset()
        self._lock = threading.Lock()

    def add(self, *values):
        fresh = {str(v) for v in values if v and len(str(v)) >= _MIN_LENGTH}
        with self._lock:
            self._values = self._values | fresh

    def redact(self, text):
        text = str(text)
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text


#: The process-wide registry; the cloud farm and the key store add to it.
registry = SecretRegistry()


class RedactingFilter(logging.Filter):
    """Rewrites every record so that no registered secret reaches a handler."""

    def filter(self, record):
        message = record.getMessage()
        clean = registry.redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = registry.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install_log_filter():
    """Attach the redacting filter to the root logger's handlers and to every new record."""
    flt = RedactingFilter()
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_redacting", False):
        return

    def record_factory(*args, **kwargs):
        record = factory(*args, **kwargs)
        flt.filter(record)
        return record

    record_factory._redacting = True
    logging.setLogRecordFactory(record_factory)


def shown_url(url):
    """``url`` fit for an answer, a record or a log line: a password in it replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(not shown: it may hold a password)"
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def add_password_of(url):
    """Register the password ``url`` carries, as written and percent-decoded (a URL that does
    not parse carries none we could know)."""
    try:
        password = urlsplit(url).password
    except (TypeError, ValueError):
        return
    if password:
        registry.add(password, unquote(password))


def url_setting(config, name, schemes, kind, expected):
    """The setting ``name``, a URL of a server that may carry a password, split; None when it is
    empty. Its password joins the registry; :class:`SettingsError` names the setting (never
    the password) when it is not a string, not a URL, or not one of ``schemes`` with a host."""
    url = config.get(name) or ""
    if not url:
        return None
    if not isinstance(url, str):
        raise SettingsError(f"{name} must be a string, not {type(url).__name__}")
    where = f"{name} {shown_url(url)}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- parsing the port is what raises on a bad one
    except ValueError as exc:
        raise SettingsError(f"{where} is not a URL ({registry.redact(exc)}): expected {expected}") from None
    add_password_of(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise SettingsError(f"{where} is not {kind}: expected {expected}")
    return parts
