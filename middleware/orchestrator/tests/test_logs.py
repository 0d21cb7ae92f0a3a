"""Log lines: text or JSON, each saying its request, account and run; request ids passed
through or made up, and returned; secrets scrubbed whatever the format."""
import json
import logging
import re
import urllib.request
import uuid

import pytest

from dispatcher.lib import logs
from dispatcher.lib.actions.method import register_method
from dispatcher.lib.secrets import registry
from service import Service, wait_for

ISO_UTC_MS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
FIELDS = {"time", "level", "logger", "message", "request_id", "account_id", "run_id"}

log = logging.getLogger("tests.logs")


@register_method("tests.log")
def say(context, words="hello"):
    log.warning("the method says %s", words)
    return None


@pytest.fixture
def captured(capfd):
    """The JSON lines the service's handler wrote to stderr."""
    def lines():
        return [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    return lines


def test_a_request_id_is_passed_through_or_made_and_returned(client, admin):
    given = client.get("/api/v1/clouds", headers={**admin, "X-Request-Id": "req-123.abc"})
    assert given.headers["X-Request-Id"] == "req-123.abc"
    made = client.get("/api/v1/clouds", headers=admin).headers["X-Request-Id"]
    assert len(made) == 32 and made != client.get("/api/v1/clouds", headers=admin).headers["X-Request-Id"]
    unsafe = client.get("/api/v1/clouds", headers={**admin, "X-Request-Id": "a b\\nc"}).headers["X-Request-Id"]
    assert unsafe != "a b\\nc" and len(unsafe) == 32
    assert client.get("/api/v1/nothing-here", headers=admin).headers["X-Request-Id"]  # errors too
    assert client.get("/healthz").headers["X-Request-Id"]


def test_json_lines_carry_the_request_and_the_account(make_app, admin, captured):
    app = make_app(LOG_FORMAT="json")

    @app.get("/api/v1/tests-log")
    def shout():
        log.warning("inside a request")
        return {}
    app.test_client().get("/api/v1/tests-log", headers={**admin, "X-Request-Id": "trace-1"})
    [line] = [x for x in captured() if x["message"] == "inside a request"]
    assert line["level"] == "WARNING" and line["logger"] == "tests.logs" and line["request_id"] == "trace-1"
    assert line["account_id"] and line["run_id"] is None and re.match(ISO_UTC_MS, line["time"])
    assert set(line) == FIELDS


def test_json_lines_of_a_run_carry_its_id(make_app, admin, captured):
    app = make_app(LOG_FORMAT="json", SCHEDULER_ENABLED=True, SCHEDULER_LEASE_SECONDS=2)
    client = app.test_client()
    words = uuid.uuid4().hex
    job = client.post("/api/v1/jobs", headers=admin, json={
        "schedule": {"cron": "0 0 1 1 *"}, "action": {"type": "method", "name": "tests.log",
                                                      "parameters": {"words": words}}}).json
    wait_for(lambda: app.extensions["orchestrator.scheduler"].is_leader)
    run_id = client.post(f"/api/v1/jobs/{job['id']}/run", headers=admin).json["run_id"]
    wait_for(lambda: client.get(f"/api/v1/runs/{run_id}", headers=admin).json["status"] == "Completed")
    [line] = [x for x in captured() if x["message"] == f"the method says {words}"]
    assert line["run_id"] == run_id and line["account_id"] == job["account_id"]


def test_secrets_are_scrubbed_from_json_lines(make_app, captured):
    make_app(LOG_FORMAT="json")
    secret = "json-logged-secret-" + uuid.uuid4().hex
    registry.add(secret)
    log.warning("scrub-check %s", secret)  # words only: other tests register secrets that are words
    [line] = [x for x in captured() if x["message"].startswith("scrub-check")]
    assert secret not in json.dumps(line) and "[redacted]" in line["message"]


def test_text_lines_say_where_they_come_from(make_app, admin, capfd):
    app = make_app(LOG_FORMAT="text")

    @app.get("/api/v1/tests-log")
    def shout():
        log.warning("plain words")
        return {}
    app.test_client().get("/api/v1/tests-log", headers={**admin, "X-Request-Id": "trace-2"})
    [line] = [x for x in capfd.readouterr().err.splitlines() if "plain words" in x]
    assert "WARNING tests.logs: plain words [request_id=trace-2 account_id=" in line


def test_a_bad_log_format_stops_the_start(make_app):
    from dispatcher.errors import SettingsError

    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        make_app(LOG_FORMAT="xml")
    assert logs.FORMATS == ("text", "json")


def test_a_generated_admin_key_is_announced_in_json_lines(make_app, capsys):
    app = make_app(ORCHESTRATOR_ADMIN_KEY=None, LOG_FORMAT="json")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "Orchestrator: " in line]
    assert len(lines) == 2 and all(set(line) == FIELDS for line in lines)
    token = lines[0]["message"].rsplit(" ", 1)[1]
    me = app.test_client().get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["is_admin"]


def test_gunicorn_writes_json_lines_too(tmp_path):
    """Under gunicorn with LOG_FORMAT = "json", every line of the service, gunicorn's error and
    access logs included, is one JSON object; an access line carries its request's id."""
    access = tmp_path / "access.log"
    service = Service(tmp_path / "svc", "json-logs-admin-key-0123456789abcdef", workers=2,
                      settings='LOG_FORMAT = "json"\n', extra_env={"ORCHESTRATOR_ACCESS_LOG": str(access)})
    service.start()
    try:
        request = urllib.request.Request(service.url + "/healthz", headers={"X-Request-Id": "gunicorn-json-1"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.headers["X-Request-Id"] == "gunicorn-json-1"
        made = urllib.request.urlopen(service.url + "/healthz", timeout=10).headers["X-Request-Id"]
        wait_for(lambda: access.exists() and made in access.read_text())
    finally:
        service.stop()
    written = [line for line in service.log.read_text().splitlines() + access.read_text().splitlines() if line]
    parsed = [json.loads(line) for line in written]  # fails on any line that is not JSON
    assert all(FIELDS <= set(line) and re.match(ISO_UTC_MS, line["time"]) for line in parsed)
    loggers = {line["logger"] for line in parsed}
    assert {"gunicorn.error", "gunicorn.access", "dispatcher.lib.scheduler"} <= loggers
    [given] = [line for line in parsed if line["request_id"] == "gunicorn-json-1"]
    assert given["logger"] == "gunicorn.access" and '"GET /healthz HTTP/1.1" 200' in given["message"]
    assert any(line["request_id"] == made for line in parsed if line["logger"] == "gunicorn.access")


def test_a_failed_run_and_its_retries_are_logged_with_its_ids(make_app, admin, captured):
    app = make_app(LOG_FORMAT="json", SCHEDULER_ENABLED=True, SCHEDULER_LEASE_SECONDS=2)
    client = app.test_client()
    job = client.post("/api/v1/jobs", headers=admin, json={
        "schedule": {"cron": "0 0 1 1 *"}, "action": {"type": "url", "url": "http://127.0.0.1:9/refused"},
        "retry": {"attempts": 1, "backoff": 0.1}}).json
    wait_for(lambda: app.extensions["orchestrator.scheduler"].is_leader)
    run_id = client.post(f"/api/v1/jobs/{job['id']}/run", headers=admin).json["run_id"]
    wait_for(lambda: client.get(f"/api/v1/runs/{run_id}", headers=admin).json["status"] == "Failed")
    mine = [line for line in captured() if line["run_id"] == run_id and line["logger"] == "dispatcher.lib.runner"]
    assert [line["level"] for line in mine] == ["INFO", "WARNING"]
    assert "attempt 1 of 2 failed" in mine[0]["message"] and "next attempt in" in mine[0]["message"]
    assert mine[1]["message"].startswith(f"run {run_id} of job {job['id']} failed: GET http://127.0.0.1:9/refused")
    assert all(line["account_id"] == job["account_id"] for line in mine)
