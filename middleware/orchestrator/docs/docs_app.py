"""The application that ``autoflask`` documents: built once, over a throwaway store.

``api_v1.rst`` names ``docs_app:app``. The factory needs settings, so this module gives it a
temporary instance folder, the Dummy cloud, a random administrator key and no scheduler. These
win over ``DATABASE_URL`` and ``ORCHESTRATOR_ADMIN_KEY`` from the environment, so building the
docs never opens an operator's store.
"""
import atexit
import secrets
import shutil
import tempfile

from dispatcher.application import create_app


def build_app():
    """The application with every blueprint registered, over a store deleted at exit."""
    folder = tempfile.mkdtemp(prefix="orchestrator-docs-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return create_app({
        "INSTANCE_PATH": folder,
        "DATABASE_URL": "",
        "ORCHESTRATOR_ADMIN_KEY": secrets.token_urlsafe(32),
        "CLOUD_FARM": {"default": {"ENGINE": "dummy", "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {}}},
        "SCHEDULER_ENABLED": False,
    })


app = build_app()
