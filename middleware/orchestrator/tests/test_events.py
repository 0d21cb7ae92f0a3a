"""Run events on AMQP, against the local RabbitMQ: every transition published in order, an
outage buffered and caught up, the bound counted, the scheduler never held up, bad settings.

Each test publishes to an exchange of its own and reads it through a queue of its own
(``run.#``), bound directly to the broker; outages happen on a proxy between the publisher and
the broker (:mod:`fakes.proxy`).
"""
from datetime import datetime, timedelta, timezone
import logging
import os
import time
import uuid

import pytest
from sqlalchemy import update

from dispatcher.errors import SettingsError
from dispatcher.lib import store
from dispatcher.lib.actions.method import register_method
from dispatcher.lib.events import check_settings, message_of, routing_key, shown_url
from service import wait_for

BROKER_HOST, BROKER_PORT = "127.0.0.1", 5672
BROKER = os.environ.get("ORCHESTRATOR_TEST_AMQP", f"amqp://guest:guest@{BROKER_HOST}:{BROKER_PORT}//")


@register_method("tests.events.ok")
def ok(context):
    return {"ok": True}


@register_method("tests.events.explode")
def explode(context):
    raise RuntimeError("this job always fails")


def at(seconds):
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def job(method, schedule, **extra):
    return {"schedule": schedule, "action": {"type": "method", "name": method}, **extra}


class Listener:
    """A queue of its own bound to the exchange with ``run.#``; keeps what it receives."""

    def __init__(self, exchange):
        from kombu import Connection, Consumer, Exchange, Queue

        self.conn = Connection(BROKER, connect_timeout=5)
        self.conn.ensure_connection(max_retries=0)
        channel = self.conn.channel()
        self.exchange = Exchange(exchange, type="topic", durable=True)
        queue = Queue(f"{exchange}.listener", exchange=self.exchange, routing_key="run.#",
                      exclusive=True, auto_delete=True)
        self.messages = []
        self.consumer = Consumer(channel, [queue], callbacks=[self._received], accept=["application/json"])
        self.consumer.consume()

    def _received(self, body, message):
        self.messages.append((message.delivery_info["routing_key"], body, message))
        message.ack()

    def drain(self, seconds):
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.conn.drain_events(timeout=min(left, 0.1))
            except TimeoutError:
                pass

    def take(self, count, timeout=20.0):
        """The first ``count`` messages, waiting up to ``timeout`` for them."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            self.drain(0.1)
        assert len(self.messages) >= count, f"{len(self.messages)} of {count} messages arrived"
        return self.messages[:count]

    def close(self):
        try:
            self.exchange(self.conn.channel()).delete()
        finally:
            self.conn.release()


@pytest.fixture
def exchange():
    return f"orchestrator.events.test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def listener(exchange):
    try:
        found = Listener(exchange)
    except Exception as exc:  # the broker is not running here
        from conftest import server_missing
        server_missing(f"RabbitMQ at {BROKER_HOST}:{BROKER_PORT}", exc)
    yield found
    found.close()


@pytest.fixture
def proxy(listener):
    """A proxy to the broker, up; the tests cut and restore it."""
    from fakes.proxy import CuttableProxy

    with CuttableProxy(BROKER_HOST, BROKER_PORT) as found:
        found.url = f"amqp://guest:guest@127.0.0.1:{found.port}//"
        yield found


def live_app(make_app, **settings):
    app = make_app(SCHEDULER_ENABLED=True, SCHEDULER_LEASE_SECONDS=2, **settings)
    wait_for(lambda: app.extensions["orchestrator.scheduler"].is_leader)
    return app


def runs_of(client, headers, job_id):
    return client.get(f"/api/v1/jobs/{job_id}/runs?limit=1000", headers=headers).json["items"]


def of_run(messages, run_id):
    return [(key, body) for key, body, _ in messages if body["state"]["uuid"] == run_id]


# -- the message, without a broker ----------------------------------------------------------

def test_message_has_the_last_events_state_and_the_run():
    event = {"run_id": "r1", "job_id": "j1", "account_id": "a1", "scheduled_for": 1_800_000_000.0,
             "status": "Completed", "at": 1_800_000_001.25, "message": None}
    assert routing_key("Completed") == "run.completed"
    assert message_of(event) == {
        "state": {"status": "Completed", "uuid": "r1", "completion_date": "1800000001250"},
        "job_id": "j1", "account_id": "a1", "scheduled_for": "2027-01-15T08:00:00Z",
        "at": "2027-01-15T08:00:01.250000Z", "error": None}
    running = message_of({**event, "status": "Running", "message": "started by worker 3"})
    assert running["state"] == {"status": "Running", "uuid": "r1"} and running["error"] is None
    missed = message_of({**event, "status": "Missed", "message": "missed: late"})
    assert "completion_date" not in missed["state"] and missed["error"] == "missed: late"


# -- every transition, in order -------------------------------------------------------------

def test_every_transition_of_a_run_is_published_in_order(make_app, admin, listener, exchange):
    app = live_app(make_app, EVENTS_URL=BROKER, EVENTS_EXCHANGE=exchange)
    client = app.test_client()
    created = client.post("/api/v1/jobs", json=job("tests.events.ok", {"at": at(0.3)}), headers=admin).json
    run = wait_for(lambda: [r for r in runs_of(client, admin, created["id"]) if r["status"] == "Completed"])[0]
    messages = listener.take(3)
    assert [key for key, _, _ in messages] == ["run.submitted", "run.running", "run.completed"]
    recorded = client.get(f"/api/v1/runs/{run['id']}", headers=admin).json["events"]
    assert [(body["state"]["status"], body["at"]) for _, body, _ in messages] == [(e["status"], e["at"])
                                                                                 for e in recorded]
    account = client.get("/api/v1/accounts/me", headers=admin).json["id"]
    submitted, running, completed = (body for _, body, _ in messages)
    assert completed["state"] == client.get(f"/api/v1/last-events/{run['id']}", headers=admin).json["state"]
    assert submitted["state"] == {"status": "Submitted", "uuid": run["id"]}
    assert running["state"] == {"status": "Running", "uuid": run["id"]}
    for body in (submitted, running, completed):
        assert body["job_id"] == created["id"] and body["account_id"] == account
        assert body["scheduled_for"] == run["scheduled_for"] and body["error"] is None
    assert completed["at"] == run["finished_at"] and running["at"] == run["started_at"]
    for _, _, message in messages:
        assert message.content_type == "application/json"
        assert message.properties["delivery_mode"] == 2
    publisher = app.extensions["orchestrator.events"]
    wait_for(lambda: publisher.published == 3)      # the confirms may come after the deliveries
    assert (publisher.dropped, publisher.retried) == (0, 0)


def test_a_failed_run_is_published_with_its_error(make_app, admin, listener, exchange):
    app = live_app(make_app, EVENTS_URL=BROKER, EVENTS_EXCHANGE=exchange)
    client = app.test_client()
    created = client.post("/api/v1/jobs", json=job("tests.events.explode", {"at": at(0.3)}), headers=admin).json
    run = wait_for(lambda: [r for r in runs_of(client, admin, created["id"]) if r["status"] == "Failed"])[0]
    messages = listener.take(3)
    assert [key for key, _, _ in messages] == ["run.submitted", "run.running", "run.failed"]
    failed = messages[2][1]
    assert failed["error"] == run["error"] == "method 'tests.events.explode' raised RuntimeError: this job always fails"
    assert failed["state"] == client.get(f"/api/v1/last-events/{run['id']}", headers=admin).json["state"]
    assert failed["state"]["completion_date"].isdigit()


def test_a_missed_run_is_published_with_its_reason(make_app, admin, listener, exchange):
    app = make_app(EVENTS_URL=BROKER, EVENTS_EXCHANGE=exchange)
    client = app.test_client()
    created = client.post("/api/v1/jobs", json=job("tests.events.ok", {"at": at(60), "tolerance": 1}),
                          headers=admin).json
    with app.extensions["orchestrator.engine"].begin() as conn:  # its time passed while no scheduler ran
        conn.execute(update(store.jobs).where(store.jobs.c.id == created["id"])
                     .values(next_run_at=time.time() - 5))
    app.extensions["orchestrator.scheduler"].tick()
    [run] = runs_of(client, admin, created["id"])
    assert run["status"] == "Missed"
    messages = listener.take(2)
    assert [key for key, _, _ in messages] == ["run.submitted", "run.missed"]
    missed = messages[1][1]
    assert missed["state"] == {"status": "Missed", "uuid": run["id"]}
    assert missed["error"] == run["error"] and missed["error"].startswith("missed: not started within the tolerance")


def test_the_publisher_declares_a_durable_topic_exchange(make_app, admin, listener):
    from kombu import Exchange

    name = f"orchestrator.events.test-{uuid.uuid4().hex[:10]}"  # not the listener's: nobody declared it
    app = make_app(EVENTS_URL=BROKER, EVENTS_EXCHANGE=name)
    client = app.test_client()
    created = client.post("/api/v1/jobs", json=job("tests.events.ok", {"cron": "0 0 1 1 *"}, paused=True),
                          headers=admin).json
    client.post(f"/api/v1/jobs/{created['id']}/run", headers=admin)
    wait_for(lambda: app.extensions["orchestrator.events"].published == 1)
    channel = listener.conn.channel()
    try:
        Exchange(name, type="topic", passive=True)(channel).declare()            # it exists
        Exchange(name, type="topic", durable=True)(channel).declare()            # and is durable, topic
    finally:
        Exchange(name)(channel).delete()


def test_stopping_publishes_what_is_buffered(make_app, admin, listener, exchange):
    app = make_app(EVENTS_URL=BROKER, EVENTS_EXCHANGE=exchange)
    client = app.test_client()
    publisher = app.extensions["orchestrator.events"]
    created = client.post("/api/v1/jobs", json=job("tests.events.ok", {"cron": "0 0 1 1 *"}, paused=True),
                          headers=admin).json
    for _ in range(5):
        client.post(f"/api/v1/jobs/{created['id']}/run", headers=admin)
    publisher.stop()
    assert (publisher.published, publisher.pending) == (5, 0)
    assert not publisher._thread.is_alive()
    assert len(listener.take(5)) == 5


# -- the broker away ------------------------------------------------------------------------

def test_an_outage_is_buffered_and_caught_up_in_order(make_app, admin, listener, exchange, proxy):
    app = live_app(make_app, EVENTS_URL=proxy.url, EVENTS_EXCHANGE=exchange)
    client = app.test_client()
    publisher = app.extensions["orchestrator.events"]
    created = client.post("/api/v1/jobs", json=job("tests.events.ok", {"cron": "0 0 1 1 *"}, paused=True),
                          headers=admin).json
    first = client.post(f"/api/v1/jobs/{created['id']}/run", headers=admin).json["run_id"]
    listener.take(3)
    wait_for(lambda: publisher.published == 3)         # confirmed: connected, and idle again

    proxy.cut()
    during = [client.post(f"/api/v1/jobs/{created['id']}/run", headers=admin).json["run_id"] for _ in range(20)]
    # The scheduler carries on: every run completes in the store while the broker is away.
    wait_for(lambda: all(r["status"] == "Completed" for r in runs_of(client, admin, created["id"])))
    wait_for(lambda: publisher.pending == 60)
    listener.drain(0.3)
    assert len(listener.messages) == 3 and publisher.published == 3

    proxy.restore()
    messages = listener.take(63)[3:]
    assert publisher.retried >= 1 and publisher.dropped == 0
    wait_for(lambda: publisher.published == 63)
    assert {body["state"]["uuid"] for _, body, _ in messages} == set(during)
    for run_id in during:
        keys = [key for key, _ in of_run(messages, run_id)]
        assert keys == ["run.submitted", "run.running", "run.completed"], (run_id, keys)
    assert first not in {body["state"]["uuid"] for _, body, _ in messages}


def test_beyond_the_bound_the_oldest_are_dropped_and_counted(make_app, admin, listener, exchange, proxy, caplog):
    app = make_app(EVENTS_URL=proxy.url, EVENTS_EXCHANGE=exchange, EVENTS_BUFFER=10)  # no scheduler: only run.submitted
    client = app.test_client()
    publisher = app.extensions["orchestrator.events"]
    created = client.post("/api/v1/jobs", json=job("tests.events.ok", {"cron": "0 0 1 1 *"}, paused=True),
                          headers=admin).json
    proxy.cut()
    with caplog.at_level(logging.WARNING, "dispatcher.lib.events"):
        asked = [client.post(f"/api/v1/jobs/{created['id']}/run", headers=admin).json["run_id"] for _ in range(25)]
        assert publisher.dropped == 15 and publisher.pending == 10
        dropping = [r for r in caplog.records if "dropping the oldest" in r.getMessage()]
        assert len(dropping) == 1                       # once for the burst, not once per event

        proxy.restore()
        messages = listener.take(10)
        wait_for(lambda: publisher.published == 10)
        listener.drain(0.3)
    assert [body["state"]["uuid"] for _, body, _ in listener.messages] == asked[15:]
    assert {key for key, _, _ in messages} == {"run.submitted"}
    assert (publisher.published, publisher.dropped, publisher.pending) == (10, 15, 0)
    assert any("15 events were dropped" in r.getMessage() for r in caplog.records)


def test_the_scheduler_is_not_held_up_by_a_broker_that_never_answers(make_app, admin):
    """A broker address that accepts connections and says nothing: the publisher waits on it,
    the scheduling loop does not."""
    from fakes.tcp import SilentServer

    with SilentServer() as silent:
        app = live_app(make_app, EVENTS_URL=f"amqp://guest:guest@127.0.0.1:{silent.port}//",
                       EVENTS_EXCHANGE="orchestrator.events.unreachable")
        client = app.test_client()
        created = client.post("/api/v1/jobs", json=job("tests.events.ok", {"cron": "0 0 1 1 *"}, paused=True),
                              headers=admin).json
        for _ in range(10):
            client.post(f"/api/v1/jobs/{created['id']}/run", headers=admin)
        wait_for(lambda: [r["status"] for r in runs_of(client, admin, created["id"])] == ["Completed"] * 10,
                 timeout=10)
        publisher = app.extensions["orchestrator.events"]
        assert silent.accepted >= 1                    # the publisher is waiting on it
        assert publisher.published == 0 and publisher.pending == 30


# -- settings -------------------------------------------------------------------------------

@pytest.mark.parametrize("url, said", [
    ("http://guest:Sup3rSecretPw@rabbit.example.com/", "is not an AMQP URL"),
    ("rabbit.example.com:5672", "is not an AMQP URL"),
    ("amqp://guest:Sup3rSecretPw@rabbit.example.com:notaport//", "is not a URL"),
    ("amqp:///vhost", "is not an AMQP URL"),
])
def test_a_bad_events_url_stops_the_start(make_app, url, said):
    with pytest.raises(SettingsError, match=said) as caught:
        make_app(EVENTS_URL=url)
    assert str(caught.value).startswith("EVENTS_URL ")
    assert "Sup3rSecretPw" not in str(caught.value)


@pytest.mark.parametrize("settings, said", [
    ({"EVENTS_EXCHANGE": ""}, "EVENTS_EXCHANGE"),
    ({"EVENTS_EXCHANGE": "amq.topic"}, "EVENTS_EXCHANGE"),
    ({"EVENTS_BUFFER": 0}, "EVENTS_BUFFER"),
    ({"EVENTS_BUFFER": "100"}, "EVENTS_BUFFER"),
])
def test_bad_events_settings_are_named(settings, said):
    with pytest.raises(SettingsError, match=said):
        check_settings({"EVENTS_URL": BROKER, "EVENTS_EXCHANGE": "orchestrator.events", "EVENTS_BUFFER": 10,
                        **settings})


def test_events_are_off_by_default(app):
    assert app.config["EVENTS_URL"] == "" and app.extensions["orchestrator.events"] is None


def test_the_password_is_never_logged(make_app, admin, caplog):
    from fakes.tcp import closed_port

    url = f"amqp://orchestrator:Sup3rSecretPw@127.0.0.1:{closed_port()}//"
    assert shown_url(url) == url.replace("Sup3rSecretPw", "***")
    app = make_app(EVENTS_URL=url, EVENTS_EXCHANGE="orchestrator.events.nowhere")
    client = app.test_client()
    created = client.post("/api/v1/jobs", json=job("tests.events.ok", {"cron": "0 0 1 1 *"}, paused=True),
                          headers=admin).json
    with caplog.at_level(logging.DEBUG, "dispatcher.lib.events"):
        client.post(f"/api/v1/jobs/{created['id']}/run", headers=admin)
        wait_for(lambda: "cannot publish to" in caplog.text)
    assert "amqp://orchestrator:***@127.0.0.1" in caplog.text
    assert "Sup3rSecretPw" not in caplog.text
