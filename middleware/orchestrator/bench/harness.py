"""What the scheduler benchmarks share: the machine's load, a store of their own (a SQLite
folder, or a PostgreSQL database made and dropped on the local server), the application over
it, jobs written through its jobs service and runs read through its data store (no SQL here),
processes beside it (gunicorn API servers, ``orchestrator worker``), and figures printed beside
their targets and peers."""
from dataclasses import dataclass
from datetime import datetime, timezone
import json
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
sys.path.insert(0, PROJECT)
sys.path.insert(0, os.path.join(PROJECT, "tests"))   # service.py: the suite's gunicorn and process runners

from dispatcher.application import create_app  # noqa: E402
from dispatcher.lib.actions import validate_action  # noqa: E402
from dispatcher.lib.datastore import RunFilter  # noqa: E402
from dispatcher.lib.jobs import JobSpec  # noqa: E402
from dispatcher.lib.timespec import schedule_from_stored  # noqa: E402

ADMIN_KEY = "bench-admin-key-0123456789abcdef"
POSTGRES_SERVER = os.environ.get("ORCHESTRATOR_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
BROKER = os.environ.get("ORCHESTRATOR_BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672//")


# -- reporting ------------------------------------------------------------------------------

def load_average():
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def heading(title):
    """A scenario's title and the load the machine had as it began."""
    print(f"\n{title}\n  [{load_average()}]", flush=True)


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def figure(name, value, target="-", ok=None, peers=""):
    """One figure: its value, its target and whether it is met, and its peers' figures."""
    verdict = "" if ok is None else ("met" if ok else "NOT met")
    print(f"  {name:<40} {value:>12}   target {target:<11} {verdict:<8}{('  peers: ' + peers) if peers else ''}",
          flush=True)


def note(text):
    print(f"  ({text})", flush=True)


# -- the store and the application ------------------------------------------------------------

class Store:
    """The store a scenario runs on: a SQLite file in its folder, or a PostgreSQL database of
    its own, created on entry and dropped on exit."""

    def __init__(self, kind, folder):
        self.kind, self.folder, self.url, self._server = kind, folder, None, None

    def __enter__(self):
        if self.kind == "postgresql":
            from sqlalchemy import create_engine, text

            name = f"orchestrator_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            self._server = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
            with self._server.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            self._name, self.url = name, f"{POSTGRES_SERVER}/{name}"
        else:
            os.makedirs(os.path.join(self.folder, "instance"), exist_ok=True)
            self.url = "sqlite:///" + os.path.join(self.folder, "instance", "orchestrator.sqlite3")
        return self

    def __exit__(self, *exc):
        if self._server is not None:
            from sqlalchemy import text

            with self._server.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)'))
            self._server.dispose()

    def settings(self):
        """Settings-file lines for processes beside the benchmark on this store."""
        return f"DATABASE_URL = {self.url!r}\n"


@dataclass(frozen=True)
class Caller:
    """The administrator, as the services see a caller."""

    account_id: str
    is_admin: bool = True


class Bench:
    """The application over a scenario's store, its scheduler not started."""

    def __init__(self, store, **settings):
        config = {"INSTANCE_PATH": os.path.join(store.folder, "instance"), "ORCHESTRATOR_ADMIN_KEY": ADMIN_KEY,
                  "RATE_LIMIT": "", "SCHEDULER_ENABLED": False, **settings}
        if store.url:
            config["DATABASE_URL"] = store.url
        self.app = create_app(config)
        self.jobs = self.app.extensions["orchestrator.jobs"]
        self.datastore = self.app.extensions["orchestrator.datastore"]
        self.scheduler = self.app.extensions["orchestrator.scheduler"]
        self.caller = Caller(self.app.extensions["orchestrator.accounts"].admin_account()["id"])

    def add_jobs(self, group, schedules, action, overlap="skip"):
        """Write one job per schedule (a stored schedule spec) in one transaction, through the
        jobs service; returns their ids."""
        action = validate_action(action, self.app.config, self.app.extensions["orchestrator.clouds"])
        specs = [JobSpec(name=group, group=group, schedule=schedule_from_stored(spec), action=action,
                         overlap=overlap) for spec in schedules]
        rows = self.jobs.replace_group(self.caller, group, specs, lambda *_: None)
        return [row["id"] for row in rows]

    def totals(self, **filters):
        return self.datastore.run_totals(self.caller, RunFilter(**filters))

    def runs(self, **filters):
        """Every run matching ``filters``, page by page."""
        found, offset = [], 0
        while True:
            page, total = self.datastore.list_runs(self.caller, RunFilter(**filters), 1000, offset)
            found += page
            offset += len(page)
            if not page or offset >= total:
                return found

    def wait_finished(self, expected, timeout, **filters):
        """Wait until ``expected`` runs are finished; returns the totals then."""
        deadline = time.monotonic() + timeout
        while True:
            totals = self.totals(**filters)
            done = sum(n for status, n in totals["by_status"].items() if status not in ("Submitted", "Running"))
            if done >= expected or time.monotonic() > deadline:
                return totals
            time.sleep(0.1)

    def close(self):
        if self.scheduler._thread is not None:
            self.scheduler.stop(wait=True)
        self.app.extensions["orchestrator.engine"].dispose()


def one_off(when, tolerance=10):
    """The stored spec of a one-off schedule at ``when`` (epoch seconds, whole)."""
    return {"at": datetime.fromtimestamp(when, timezone.utc).isoformat(), "timezone": "UTC", "tolerance": tolerance}


def every_second(start, tolerance=10):
    return {"frequency": "secondly", "interval": 1, "start": datetime.fromtimestamp(start, timezone.utc).isoformat(),
            "timezone": "UTC", "tolerance": tolerance}


def method(name, **parameters):
    return {"type": "method", "name": name, "parameters": parameters}


# -- processes beside the benchmark ------------------------------------------------------------

def service(folder, store, workers=1, settings=""):
    """gunicorn serving the API on the store (no scheduler in it), started."""
    from service import Service

    return Service(folder, ADMIN_KEY, workers=workers,
                   settings=f"SCHEDULER_ENABLED = False\n{store.settings()}{settings}").start()


def celery_settings(store, suffix):
    """Settings lines for the Celery executor with queues of this run's own."""
    return (f"EXECUTOR = 'celery'\nCELERY_BROKER_URL = {BROKER!r}\n"
            f"CELERY_QUEUE = 'bench.runs.{suffix}'\nCELERY_CLOUD_QUEUE = 'bench.cloud.{suffix}'\n"), \
        {"EXECUTOR": "celery", "CELERY_BROKER_URL": BROKER, "CELERY_QUEUE": f"bench.runs.{suffix}",
         "CELERY_CLOUD_QUEUE": f"bench.cloud.{suffix}"}


def delete_queues(config):
    from kombu import Connection

    with Connection(config["CELERY_BROKER_URL"]) as conn:
        for key in ("CELERY_QUEUE", "CELERY_CLOUD_QUEUE"):
            try:
                conn.channel().queue_delete(config[key])
            except Exception:  # never declared
                pass


def workers(api, count, concurrency):
    """``count`` ``orchestrator worker`` processes over the settings of ``api``, started."""
    from service import Process

    return [Process(api, "worker", "-c", str(concurrency), "--loglevel", "WARNING").start() for _ in range(count)]


def dumps(value):
    return json.dumps(value)
