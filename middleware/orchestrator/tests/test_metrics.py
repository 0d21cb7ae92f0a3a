"""/metrics: Prometheus text, every gunicorn worker's values added up, off the rate limit,
optionally behind a token; requests, runs, lateness and cloud calls measured."""
import json
import socket
import threading
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from dispatcher.lib import Provider
from dispatcher.lib.actions.method import register_method
from service import Process, Service, wait_for

ADMIN = "metrics-admin-key-0123456789abcdef0123"


RELEASE = threading.Event()


@register_method("tests.metrics")
def noop(context):
    return None


@register_method("tests.metrics.held")
def held(context):
    """Holds its executor thread until the test releases it (at most 30 s)."""
    RELEASE.wait(30)


def samples(text):
    """``{(name, frozenset(labels)): value}`` of a scrape."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text, name, **labels):
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def scrape(client, **headers):
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.content_type.startswith("text/plain")
    return answer.get_data(as_text=True)


def test_requests_are_counted_by_route_and_status(client, admin):
    before = scrape(client)
    for _ in range(3):
        client.get("/api/v1/clouds", headers=admin)
    client.get("/api/v1/jobs/nope", headers=admin)
    after = scrape(client)
    ok = dict(name="orchestrator_http_requests_total", route="/api/v1/clouds", method="GET", status="200")
    assert value(after, **ok) - value(before, **ok) == 3
    missing = dict(name="orchestrator_http_requests_total", route="/api/v1/jobs/<job_id>", method="GET", status="404")
    assert value(after, **missing) - value(before, **missing) == 1
    count = dict(name="orchestrator_http_request_seconds_count", route="/api/v1/clouds", method="GET")
    assert value(after, **count) - value(before, **count) == 3


def test_runs_and_their_lateness_are_measured(live, admin):
    client = live.test_client()
    before = scrape(client)
    job = client.post("/api/v1/jobs", headers=admin, json={
        "schedule": {"cron": "0 0 1 1 *"}, "action": {"type": "method", "name": "tests.metrics"}}).json
    run_id = client.post(f"/api/v1/jobs/{job['id']}/run", headers=admin).json["run_id"]
    wait_for(lambda: client.get(f"/api/v1/runs/{run_id}", headers=admin).json["status"] == "Completed")
    after = wait_for(lambda: (lambda text: text if value(text, "orchestrator_runs_total", action="method",
                                                         status="Completed") > value(before, "orchestrator_runs_total",
                                                                                     action="method", status="Completed")
                               else None)(scrape(client)))
    assert value(after, "orchestrator_run_lateness_seconds_count") > value(before, "orchestrator_run_lateness_seconds_count")
    wait_for(lambda: value(scrape(client), "orchestrator_scheduler_leader") == 1)


def holders(text):
    """``{holder: value}`` of the lease holder family of a scrape."""
    return {dict(labels)["holder"]: count for (name, labels), count in samples(text).items()
            if name == "orchestrator_scheduler_lease_holder"}


def test_the_executor_queue_depth_is_sampled(make_app, admin):
    app = make_app(SCHEDULER_ENABLED=True, SCHEDULER_LEASE_SECONDS=2, SCHEDULER_WORKERS=1)
    client = app.test_client()
    wait_for(lambda: app.extensions["orchestrator.scheduler"].is_leader)
    RELEASE.clear()
    try:
        for _ in range(3):  # one job each: a job's runs do not overlap
            job = client.post("/api/v1/jobs", headers=admin, json={
                "schedule": {"cron": "0 0 1 1 *"}, "action": {"type": "method", "name": "tests.metrics.held"}}).json
            client.post(f"/api/v1/jobs/{job['id']}/run", headers=admin)
        # one run holds the only thread, two wait for it
        wait_for(lambda: value(scrape(client), "orchestrator_executor_queue_depth") == 2, step=0.2)
    finally:
        RELEASE.set()
    wait_for(lambda: value(scrape(client), "orchestrator_executor_queue_depth") == 0, step=0.2)


def test_the_lease_holder_is_read_from_the_store(make_app, live):
    scheduler = live.extensions["orchestrator.scheduler"]
    assert holders(scrape(live.test_client())) == {scheduler.holder: 1}
    serving = make_app().test_client()  # an API server without a scheduler, on the same store
    assert holders(scrape(serving)) == {scheduler.holder: 1}
    scheduler.stop(wait=True)  # gives the lease up: nobody holds it
    text = scrape(serving)
    assert "# TYPE orchestrator_scheduler_lease_holder gauge" in text and holders(text) == {}


def test_cloud_calls_and_their_errors_are_measured(make_app, admin):
    with socket.socket() as sock:   # an identity service nobody answers
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    farm = {"default": {"ENGINE": Provider.DUMMY, "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {}},
            "down": {"ENGINE": Provider.OPENSTACK, "USER": "demo", "PASSWORD": "metrics-cloud-password",
                     "EXTRA_PARAMS": {"ex_force_auth_url": f"http://127.0.0.1:{port}/v3", "ex_tenant_name": "demo",
                                      "ex_domain_name": "Default"}}}
    client = make_app(farm=farm).test_client()
    before = scrape(client)
    assert client.get("/api/v1/clouds/default/nodes", headers=admin).status_code == 200
    assert client.get("/api/v1/clouds/down/nodes", headers=admin).status_code == 502
    after = scrape(client)
    listed = dict(name="orchestrator_cloud_call_seconds_count", cloud="default", operation="list_nodes")
    assert value(after, **listed) - value(before, **listed) == 1
    failed = [key for key, count in samples(after).items()
              if key[0] == "orchestrator_cloud_errors_total" and ("cloud", "down") in key[1]
              and count > samples(before).get(key, 0)]
    assert failed and all(("code", "cloud_error") in key[1] for key in failed)


def test_metrics_are_off_the_rate_limit_and_can_need_a_token(make_app, admin):
    client = make_app(RATE_LIMIT="2 per minute", METRICS_TOKEN="scrape-token-0123456789").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    for _ in range(5):
        scrape(client, Authorization="Bearer scrape-token-0123456789")


def test_gunicorn_workers_are_added_up(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    farm = {"default": {"ENGINE": "dummy", "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {}},
            "down": {"ENGINE": "openstack", "USER": "demo", "PASSWORD": "metrics-gunicorn-password",
                     "EXTRA_PARAMS": {"ex_force_auth_url": f"http://127.0.0.1:{port}/v3", "ex_tenant_name": "demo",
                                      "ex_domain_name": "Default"}}}
    service = Service(tmp_path / "svc", ADMIN, workers=2, settings=f"CLOUD_FARM = {farm!r}\n").start()

    def read():
        return urllib.request.urlopen(service.url + "/metrics", timeout=10).read().decode()
    try:
        healthz = dict(name="orchestrator_http_requests_total", route="/healthz", method="GET", status="200")
        before = value(read(), **healthz)
        for _ in range(20):  # a connection each: the kernel hands them to either worker
            urllib.request.urlopen(service.url + "/healthz", timeout=10).read()
        assert value(read(), **healthz) - before == 20

        assert service.call("GET", "/api/v1/clouds/default/nodes")[0] == 200
        assert service.call("GET", "/api/v1/clouds/down/nodes")[0] == 502
        status, job = service.call("POST", "/api/v1/jobs", {"schedule": {"cron": "0 0 1 1 *"},
                                                            "action": {"type": "url", "url": service.url + "/healthz"}})
        assert status == 201, job
        run_id = service.call("POST", f"/api/v1/jobs/{job['id']}/run")[1]["run_id"]
        wait_for(lambda: service.call("GET", f"/api/v1/runs/{run_id}")[1]["status"] == "Completed")
        text = wait_for(lambda: (lambda t: t if value(t, "orchestrator_runs_total", action="url",
                                                      status="Completed") == 1 else None)(read()))
        assert value(text, "orchestrator_run_lateness_seconds_count") >= 1
        assert value(text, "orchestrator_cloud_call_seconds_count", cloud="default", operation="list_nodes") == 1
        assert sum(count for (name, labels), count in samples(text).items()
                   if name == "orchestrator_cloud_errors_total" and ("cloud", "down") in labels) >= 1
        # one worker of the two holds the lease (sampled each second)
        wait_for(lambda: value(read(), "orchestrator_scheduler_leader") == 1, step=0.2)
        assert ("orchestrator_executor_queue_depth", frozenset()) in samples(text)
        [holder] = holders(text)
        assert holder.split(":")[0] == socket.gethostname()
        assert "metrics-gunicorn-password" not in text and json.dumps(farm) not in text
    finally:
        service.stop()


def test_a_scheduler_process_sharing_the_folder_is_counted_until_it_stops(tmp_path):
    """``orchestrator scheduler`` started with the API server's PROMETHEUS_MULTIPROC_DIR: its
    lease shows at the server's /metrics, and leaves it when the process stops."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    service = Service(tmp_path / "svc", ADMIN, workers=1, settings="SCHEDULER_ENABLED = False\n",
                      extra_env=shared).start()
    scheduler = Process(service, "scheduler", extra_env=shared).start()

    def read():
        return urllib.request.urlopen(service.url + "/metrics", timeout=10).read().decode()
    try:
        text = wait_for(lambda: (lambda t: t if value(t, "orchestrator_scheduler_leader") == 1 else None)(read()),
                        timeout=30, step=0.2, context=lambda: scheduler.log.read_text())
        [holder] = holders(text)
        assert holder.split(":")[1] == str(scheduler.process.pid)
        scheduler.stop()
        assert scheduler.process.returncode == 0, scheduler.log.read_text()
        text = read()
        assert value(text, "orchestrator_scheduler_leader") == 0 and holders(text) == {}
    finally:
        scheduler.stop()
        service.stop()
