"""Shared fixtures: an app factory over a throwaway store, clients, accounts and their keys."""
import pytest

from dispatcher.application import create_app
from dispatcher.lib import Provider

ADMIN_KEY = "test-admin-key-0123456789abcdef0123"
DUMMY_FARM = {"default": {"ENGINE": Provider.DUMMY, "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {}}}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ("ORCHESTRATOR_SETTINGS", "ORCHESTRATOR_ADMIN_KEY", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_app(tmp_path):
    """Build an app over a fresh SQLite store; keyword arguments override settings."""
    def factory(farm=None, **settings):
        config = {"INSTANCE_PATH": str(tmp_path / "instance"), "ORCHESTRATOR_ADMIN_KEY": ADMIN_KEY,
                  "CLOUD_FARM": farm or DUMMY_FARM, "RATE_LIMIT": "", "TESTING": True}
        config.update(settings)
        return create_app(config)
    return factory


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin():
    """Headers of the administrator."""
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def new_account(app):
    """Create an account; returns (account id, headers carrying its key)."""
    counter = iter(range(1, 10_000))

    def factory(plan="free", name=None):
        account, _, token = app.extensions["orchestrator.accounts"].create_account(
            name or f"user-{next(counter)}", plan)
        return account["id"], {"Authorization": f"Bearer {token}"}
    return factory
