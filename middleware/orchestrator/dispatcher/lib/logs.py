"""The service's log lines: plain text or one JSON object per line (``LOG_FORMAT``), each
saying which request, account and run it belongs to.

The request id comes from the ``X-Request-Id`` header when the client sends a sensible one, is
made up otherwise, and is returned in the answer; the account is the caller's; the run is the
one whose action is executing. They are carried in context variables, set by the application
for each request and by the runner for each run, and added to every record by
:class:`ContextFilter`. Secrets are scrubbed from every record before any handler sees it
(:mod:`dispatcher.lib.secrets`), whatever the format. JSON lines say their ``time`` in
ISO 8601, UTC, to the millisecond; gunicorn's own lines follow ``LOG_FORMAT`` too
(:mod:`dispatcher.lib.gunicorn_logger`).
"""
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
import itertools
import logging
import os
import re
import sys

from dispatcher.errors import SettingsError

request_id = ContextVar("request_id", default=None)
account_id = ContextVar("account_id", default=None)
run_id = ContextVar("run_id", default=None)

FORMATS = ("text", "json")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(where)s"
_JSON_FIELDS = "{asctime}{levelname}{name}{message}{request_id}{account_id}{run_id}"


def new_request_id(given=None):
    """The client's ``X-Request-Id`` when it is a sensible token, else a fresh one: 32 hex
    digits, this process's random prefix and its count of requests (unique without asking the
    system for randomness on every request)."""
    if given and _REQUEST_ID.match(given):
        return given
    return _id_prefix + format(next(_id_count), "016x")


def _new_id_prefix():
    global _id_prefix, _id_count
    _id_prefix, _id_count = os.urandom(8).hex(), itertools.count()


_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)  # each worker its own prefix


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``account_id`` and ``run_id`` (None when there is none) to records."""

    def filter(self, record):
        for var in (request_id, account_id, run_id):
            if getattr(record, var.name, None) is None:
                setattr(record, var.name, var.get())
        found = [f"{var.name}={getattr(record, var.name)}" for var in (request_id, account_id, run_id)
                 if getattr(record, var.name)]
        record.where = f" [{' '.join(found)}]" if found else ""
        return True


def json_formatter():
    """One JSON object a line: ``time``, ``level``, ``logger``, ``message``, ``request_id``,
    ``account_id``, ``run_id`` (and ``exc_info`` with a traceback)."""
    from pythonjsonlogger.core import RESERVED_ATTRS
    from pythonjsonlogger.json import JsonFormatter

    class JsonLines(JsonFormatter):
        def formatTime(self, record, datefmt=None):
            stamp = datetime.fromtimestamp(record.created, timezone.utc)
            return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return JsonLines(_JSON_FIELDS, style="{", reserved_attrs=[*RESERVED_ATTRS, "where"],  # the text format's
                     rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


def formatter(kind):
    """The formatter of ``LOG_FORMAT`` ``kind``."""
    return json_formatter() if kind == "json" else logging.Formatter(_TEXT)


class _Handler(logging.StreamHandler):
    """The service's own handler on the root logger (one per process, replaced on reconfiguring)."""


def log_format(config):
    """``LOG_FORMAT``, checked."""
    kind = config.get("LOG_FORMAT", "text")
    if kind not in FORMATS:
        raise SettingsError(f"LOG_FORMAT {kind!r}: expected one of {', '.join(FORMATS)}")
    return kind


def configure(config):
    """Send the process's records to stderr in ``LOG_FORMAT`` at ``LOG_LEVEL``."""
    kind = log_format(config)
    level = str(config.get("LOG_LEVEL", "INFO")).upper()
    if not isinstance(logging.getLevelName(level), int):
        raise SettingsError(f"LOG_LEVEL {config.get('LOG_LEVEL')!r}: expected DEBUG, INFO, WARNING or ERROR")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter(kind))
    handler.setLevel(level)
    root.addHandler(handler)
    if root.level > logging.getLevelName(level) or root.level == logging.NOTSET:
        root.setLevel(level)
    return handler


def unscrubbed(handler, logger, message):
    """``message`` as one line in ``handler``'s format, made without the record factory that
    scrubs secrets: only for what the service must show once on its console (a generated
    administrator's key)."""
    record = logging.LogRecord(logger, logging.WARNING, __file__, 0, message, None, None)
    for var in (request_id, account_id, run_id):
        setattr(record, var.name, None)
    record.where = ""
    return handler.format(record)


@contextmanager
def run_scope(run):
    """Records made while ``run`` executes say its id and its account."""
    tokens = [(run_id, run_id.set(run["id"])), (account_id, account_id.set(run["account_id"]))]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
