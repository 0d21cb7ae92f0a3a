"""gunicorn's own log lines (its error log and its access log) in the service's ``LOG_FORMAT``.

``gunicorn.conf.py`` names :class:`Logger` as gunicorn's ``logger_class``. With
``LOG_FORMAT = "json"`` every line gunicorn writes is then one JSON object with the same fields
as the service's (:mod:`dispatcher.lib.logs`), and an access line carries the request's id (the
``X-Request-Id`` the answer returned), so the log of one request can be joined across both; with
``"text"`` gunicorn keeps its own format. A settings file that cannot be read leaves gunicorn's
format: the application reports the error itself when it starts.
"""
from gunicorn import glogging

from dispatcher.config import load_config
from dispatcher.errors import SettingsError
from dispatcher.lib import logs


def _header(resp, name):
    for key, value in getattr(resp, "headers", None) or ():
        if key.lower() == name:
            return value
    return None


class Logger(glogging.Logger):
    """gunicorn's logger, formatting its lines as ``LOG_FORMAT`` says."""

    def setup(self, cfg):
        super().setup(cfg)
        try:
            kind = logs.log_format(load_config())
        except SettingsError:
            return
        if kind != "json":
            return
        for handler in self.error_log.handlers + self.access_log.handlers:
            handler.setFormatter(logs.json_formatter())
            handler.addFilter(logs.ContextFilter())

    def access(self, resp, req, environ, request_time):
        """The access line, with the id the answer gave the request."""
        token = logs.request_id.set(_header(resp, "x-request-id"))
        try:
            super().access(resp, req, environ, request_time)
        finally:
            logs.request_id.reset(token)
