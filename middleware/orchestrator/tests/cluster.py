"""Fixtures for tests of the scaled-out deployment: RabbitMQ queues of a test's own, a counting
HTTP target, and a cluster of real processes (gunicorn API servers without a scheduler,
``orchestrator scheduler`` processes handing runs to Celery, ``orchestrator worker``s)."""
import uuid

import pytest

from conftest import server_missing
from service import CountingTarget, Process, Service

ADMIN = "cluster-admin-key-0123456789abcdef0123"
BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture
def broker():
    """RabbitMQ, and queue names of this test's own (deleted afterwards)."""
    from kombu import Connection

    names = {"CELERY_QUEUE": f"test.runs.{uuid.uuid4().hex[:8]}",
             "CELERY_CLOUD_QUEUE": f"test.cloud.{uuid.uuid4().hex[:8]}"}
    try:
        with Connection(BROKER, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        server_missing("RabbitMQ", exc)
    yield names
    with Connection(BROKER) as conn:
        for name in names.values():
            try:
                conn.channel().queue_delete(name)
            except Exception:  # never declared by this test
                pass


@pytest.fixture
def target():
    server = CountingTarget()
    yield server
    server.close()


class Cluster(Service):
    """A :class:`Service` with the processes started beside it, stopped with it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.processes = []

    def add(self, process):
        self.processes.append(process.start())
        return process

    def worker(self, *args):
        return self.add(Process(self, "worker", *args))

    def stop(self):
        for process in self.processes:
            process.stop()
        super().stop()


@pytest.fixture
def cluster_factory(tmp_path, store_url, broker):
    made = []

    def factory(api_workers=1, settings=""):
        config = (f"SCHEDULER_ENABLED = False\nEXECUTOR = 'celery'\nCELERY_BROKER_URL = {BROKER!r}\n"
                  f"CELERY_QUEUE = {broker['CELERY_QUEUE']!r}\nCELERY_CLOUD_QUEUE = {broker['CELERY_CLOUD_QUEUE']!r}\n"
                  + (f"DATABASE_URL = {store_url!r}\n" if store_url else "") + settings)
        cluster = Cluster(tmp_path / f"cluster-{len(made)}", ADMIN, workers=api_workers, settings=config)
        made.append(cluster)
        cluster.start()
        cluster.add(Process(cluster, "scheduler"))
        return cluster
    yield factory
    for cluster in made:
        cluster.stop()


@pytest.fixture
def cluster(cluster_factory):
    """One API server, one scheduler; workers added by the test (``cluster.worker()``)."""
    return cluster_factory()
