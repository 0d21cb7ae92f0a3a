"""A live Orchestrator service (gunicorn over the repository's ``dispatcher``) for the client's
tests, started the way the service's own suite does it (``middleware/orchestrator/tests/service.py``)."""
import importlib.util
import itertools
import pathlib

import pytest

from orchestrator_client import Client

REPOSITORY = pathlib.Path(__file__).resolve().parents[3]
SERVICE_PY = REPOSITORY / "middleware" / "orchestrator" / "tests" / "service.py"
ADMIN_KEY = "client-admin-key-0123456789abcdef0123"
#: The Dummy cloud three ways: nodes that run at once, after two seconds, and never (in time).
CLOUDS = """
CLOUD_FARM = {
    "default": {"ENGINE": "dummy", "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {}},
    "booting": {"ENGINE": "dummy", "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {"boot_seconds": 2}},
    "stuck": {"ENGINE": "dummy", "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {"boot_seconds": 3600}},
}
"""


def _load_service_module():
    spec = importlib.util.spec_from_file_location("orchestrator_service_for_client_tests", SERVICE_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


service_module = _load_service_module()
Service, CountingTarget, wait_for = service_module.Service, service_module.CountingTarget, service_module.wait_for


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    """One service for the session, without a rate limit, over the clouds of :data:`CLOUDS`."""
    running = Service(tmp_path_factory.mktemp("service"), ADMIN_KEY, workers=1, settings=CLOUDS).start()
    yield running
    running.stop()


@pytest.fixture
def admin(service):
    with Client(service.url, ADMIN_KEY) as client:
        yield client


_names = itertools.count()


@pytest.fixture
def make_user(service, admin):
    """A factory of (account, client) pairs: a new account on a plan, with its own key."""
    opened = []

    def make(plan="free"):
        account = admin.create_account(f"user{next(_names)}-{id(opened)}", plan)
        client = Client(service.url, account["api_key"])
        opened.append(client)
        return account, client

    yield make
    for client in opened:
        client.close()


@pytest.fixture(scope="session")
def target():
    counting = CountingTarget()
    yield counting
    counting.close()
