"""Retries and timeouts of a job's runs: against a local HTTP target that fails, then answers,
and methods that overrun their time."""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading
import time
import uuid

import pytest

from dispatcher.lib import runner
from dispatcher.lib.actions.method import register_method
from service import wait_for

DONE = {}


@register_method("tests.slow")
def slow(context, seconds=5.0, tag="slow"):
    """Ignores cancellation: sleeps its time, then says so."""
    time.sleep(seconds)
    DONE[tag] = True
    return {"slept": seconds}


@register_method("tests.polite")
def polite(context, seconds=30.0):
    """Stops as soon as it is told its time is up."""
    context.cancelled.wait(seconds)
    return {"cancelled": context.cancelled.is_set()}


FLAKY_CALLS = {}


@register_method("tests.flaky")
def flaky(context, tag, fail_times=1, sleep_first=0.0):
    """Fails (by timing out when ``sleep_first``) its first ``fail_times`` calls for ``tag``."""
    FLAKY_CALLS[tag] = FLAKY_CALLS.get(tag, 0) + 1
    if FLAKY_CALLS[tag] <= fail_times:
        if sleep_first:
            time.sleep(sleep_first)
        raise RuntimeError("not yet")
    return {"call": FLAKY_CALLS[tag]}


class Target:
    """Answers each path with the statuses given for it in turn (the last one repeats)."""

    def __init__(self):
        self.plans, self.hits = {}, {}
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits = target.hits[self.path] = target.hits.get(self.path, 0) + 1
                plan = target.plans.get(self.path, [(200, {})])
                status, headers = plan[min(hits, len(plan)) - 1]
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def target():
    server = Target()
    yield server
    server.server.shutdown()
    server.server.server_close()


def run_once(client, headers, body):
    """Create the job, run it now, and wait until its run has finished; returns the run."""
    made = client.post("/api/v1/jobs", json={"schedule": {"cron": "0 0 1 1 *"}, **body}, headers=headers)
    assert made.status_code == 201, made.json
    run_id = client.post(f"/api/v1/jobs/{made.json['id']}/run", headers=headers).json["run_id"]
    return wait_for(lambda: (lambda run: run if run["status"] in ("Completed", "Failed") else None)(
        client.get(f"/api/v1/runs/{run_id}", headers=headers).json))


def steps(run):
    return [(e["status"], e["message"]) for e in run["events"]]


def test_a_run_retried_on_5xx_completes_with_every_attempt_recorded(live, admin, target):
    target.plans["/flaky"] = [(503, {}), (502, {}), (200, {})]
    run = run_once(live.test_client(), admin, {
        "action": {"type": "url", "url": f"{target.url}/flaky"},
        "retry": {"attempts": 3, "backoff": 0.05, "factor": 2, "on": ["5xx"]}})
    assert run["status"] == "Completed" and run["result"]["status"] == 200 and run["error"] is None
    assert target.hits["/flaky"] == 3
    assert [s for s, _ in steps(run)] == ["Submitted", "Running", "Retrying", "Running", "Retrying", "Running",
                                          "Completed"]
    assert "attempt 1 of 4 failed" in steps(run)[2][1] and "answered 503" in steps(run)[2][1]
    assert steps(run)[3][1] == "attempt 2 of 4" and steps(run)[5][1] == "attempt 3 of 4"


def test_failures_the_rules_do_not_name_are_not_retried(live, admin, target):
    target.plans["/missing"] = [(404, {})]
    run = run_once(live.test_client(), admin, {
        "action": {"type": "url", "url": f"{target.url}/missing"},
        "retry": {"attempts": 3, "backoff": 0.05, "on": ["5xx", "429", "timeout"]}})
    assert run["status"] == "Failed" and target.hits["/missing"] == 1


def test_the_last_attempt_decides_the_run(live, admin, target):
    target.plans["/down"] = [(500, {})]
    run = run_once(live.test_client(), admin, {
        "action": {"type": "url", "url": f"{target.url}/down"},
        "retry": {"attempts": 2, "backoff": 0.01}})
    assert run["status"] == "Failed" and target.hits["/down"] == 3
    assert "answered 500" in run["error"] and run["result"]["status"] == 500


def test_retry_after_is_waited_for(live, admin, target):
    target.plans["/busy"] = [(429, {"Retry-After": "1"}), (200, {})]
    run = run_once(live.test_client(), admin, {
        "action": {"type": "url", "url": f"{target.url}/busy"},
        "retry": {"attempts": 1, "backoff": 0.01, "on": ["429"]}})
    assert run["status"] == "Completed"
    retrying, again = (e for e in run["events"] if e["status"] in ("Retrying",) or e["message"] == "attempt 2 of 2")
    from datetime import datetime
    waited = (datetime.fromisoformat(again["at"].replace("Z", "+00:00"))
              - datetime.fromisoformat(retrying["at"].replace("Z", "+00:00"))).total_seconds()
    assert waited >= 0.99  # the answer asked for one second; the backoff alone was 0.01 s


def test_connection_failures_are_retried_when_asked(live, admin):
    import socket
    with socket.socket() as sock:   # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = run_once(live.test_client(), admin, {
        "action": {"type": "url", "url": f"http://127.0.0.1:{port}/x"},
        "retry": {"attempts": 1, "backoff": 0.01, "on": ["connection"]}})
    assert run["status"] == "Failed" and [s for s, _ in steps(run)].count("Retrying") == 1


def test_a_method_past_its_timeout_fails_and_is_counted_until_it_returns(live, admin):
    tag = f"overrun-{uuid.uuid4().hex}"
    run = run_once(live.test_client(), admin, {
        "action": {"type": "method", "name": "tests.slow", "parameters": {"seconds": 1.5, "tag": tag}},
        "timeout": 0.3})
    assert run["status"] == "Failed" and run["error"] == "timed out after 0.3 s"
    assert runner.overrunning() >= 1 and tag not in DONE
    wait_for(lambda: DONE.get(tag) and runner.overrunning() == 0)


def test_a_method_that_listens_stops_at_its_timeout(live, admin):
    run = run_once(live.test_client(), admin, {"action": {"type": "method", "name": "tests.polite"}, "timeout": 0.2})
    assert run["status"] == "Failed" and run["error"] == "timed out after 0.2 s"
    wait_for(lambda: runner.overrunning() == 0, timeout=5)


def test_a_timed_out_attempt_is_retried(live, admin):
    run = run_once(live.test_client(), admin, {
        "action": {"type": "method", "name": "tests.flaky",
                   "parameters": {"tag": uuid.uuid4().hex, "fail_times": 1, "sleep_first": 1.0}},
        "timeout": 0.3, "retry": {"attempts": 1, "backoff": 0.01, "on": ["timeout"]}})
    assert run["status"] == "Completed" and run["result"]["value"] == {"call": 2}
    assert "timed out after 0.3 s" in steps(run)[2][1]


def test_retries_do_not_overlap_the_next_occurrence(live, admin, target):
    """A run retrying for longer than its period keeps the job busy: with overlap "skip" the
    occurrences meanwhile are Missed, never run beside it."""
    target.plans["/slowly"] = [(503, {}), (503, {}), (200, {})]
    client = live.test_client()
    job = client.post("/api/v1/jobs", json={
        "schedule": {"frequency": "secondly", "tolerance": 5}, "action": {"type": "url", "url": f"{target.url}/slowly"},
        "retry": {"attempts": 2, "backoff": 1.0, "factor": 1.0, "max_backoff": 1.0}}, headers=admin).json
    first = wait_for(lambda: [r for r in client.get(f"/api/v1/jobs/{job['id']}/runs?limit=100", headers=admin).json[
        "items"] if r["status"] == "Completed"])
    client.patch(f"/api/v1/jobs/{job['id']}", json={"paused": True}, headers=admin)
    runs = client.get(f"/api/v1/jobs/{job['id']}/runs?limit=100", headers=admin).json["items"]
    assert first and any(r["error"] == "missed: the previous run of this job is still running" for r in runs)
    assert target.hits["/slowly"] >= 3


def test_retry_and_timeout_are_part_of_the_job(client, admin):
    body = {"schedule": {"cron": "0 3 * * *"}, "action": {"type": "url", "url": "http://127.0.0.1:9/x"},
            "retry": {"attempts": 2, "on": ["5xx", "429"]}, "timeout": 30}
    job = client.post("/api/v1/jobs", json=body, headers=admin).json
    assert job["retry"] == {"attempts": 2, "backoff": 1.0, "factor": 2.0, "max_backoff": 300.0, "on": ["5xx", "429"]}
    assert job["timeout"] == 30
    changed = client.patch(f"/api/v1/jobs/{job['id']}", json={"retry": None, "timeout": 5}, headers=admin).json
    assert changed["retry"] is None and changed["timeout"] == 5
    for bad in ({"attempts": 11}, {"on": ["sometimes"]}, {"backoff": -1}):
        answer = client.post("/api/v1/jobs", json={**body, "retry": bad}, headers=admin)
        assert answer.status_code == 422 and any(k.startswith("retry") for k in answer.json["error"]["details"])
