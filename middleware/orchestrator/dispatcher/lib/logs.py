"""The service's log lines: plain text or one JSON object per line (``LOG_FORMAT``), each
saying which request, account and run it belongs to.

The request id comes from the ``X-Request-Id`` header when the client sends a sensible one, is
made up otherwise, and is returned in the answer; the account is the caller's; the run is the
one whose action is executing. They are carried in context variables, set by the application
for each request and by the runner for each run, and added to every record by
:class:`ContextFilter`. Secrets are scrubbed from every record before any handler sees it
(:mod:`dispatcher.lib.secrets`), whatever the format.
"""
from contextlib import contextmanager
from contextvars import ContextVar
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


def new_request_id(given=None):
    """The client's ``X-Request-Id`` when it is a sensible token, else a fresh one."""
    return given if given and _REQUEST_ID.match(given) else os.urandom(16).hex()


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


class _Handler(logging.StreamHandler):
    """The service's own handler on the root logger (one per process, replaced on reconfiguring)."""


def configure(config):
    """Send the process's records to stderr in ``LOG_FORMAT`` at ``LOG_LEVEL``."""
    kind = config.get("LOG_FORMAT", "text")
    if kind not in FORMATS:
        raise SettingsError(f"LOG_FORMAT {kind!r}: expected one of {', '.join(FORMATS)}")
    level = str(config.get("LOG_LEVEL", "INFO")).upper()
    if not isinstance(logging.getLevelName(level), int):
        raise SettingsError(f"LOG_LEVEL {config.get('LOG_LEVEL')!r}: expected DEBUG, INFO, WARNING or ERROR")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(sys.stderr)
    handler.addFilter(ContextFilter())
    if kind == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}{account_id}{run_id}", style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    handler.setLevel(level)
    root.addHandler(handler)
    if root.level > logging.getLevelName(level) or root.level == logging.NOTSET:
        root.setLevel(level)
    return handler


@contextmanager
def run_scope(run):
    """Records made while ``run`` executes say its id and its account."""
    tokens = [(run_id, run_id.set(run["id"])), (account_id, account_id.set(run["account_id"]))]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
