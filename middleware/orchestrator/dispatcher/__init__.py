"""Orchestrator's dispatcher: the HTTP API and scheduler over the clouds of ``CLOUD_FARM``.

``dispatcher.app`` is the WSGI application for ``gunicorn dispatcher:app``; it is built on
first access, so importing the package opens nothing.
"""
import sys


def __getattr__(name):
    if name != "app":
        raise AttributeError(f"module 'dispatcher' has no attribute {name!r}")
    from dispatcher.application import create_app
    from dispatcher.errors import SettingsError

    try:
        application = create_app()
    except SettingsError as exc:
        print(f"orchestrator: cannot start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(3) from None  # gunicorn's "worker failed to boot": it stops
    globals()["app"] = application
    return application
