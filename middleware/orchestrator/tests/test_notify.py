"""Notifications and auto-disabling, end to end: jobs failing against a local HTTP target that
answers 500, a webhook receiver on 127.0.0.1 that checks every signature, a real SMTP server
(aiosmtpd) that takes the e-mails; then the pure rules, without a server.
"""
from email import message_from_bytes
from email.policy import default as email_policy
import hashlib
import hmac
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import re
import threading
import time

import pytest

from conftest import CAPTURED_LOGS, RESPONSES
from dispatcher.errors import SettingsError
from dispatcher.lib.channels.email import smtp_server
from dispatcher.lib.notices import Notice, disable_after_of, disabled_reason, email_text, fold, message, signature
from service import free_port, wait_for

SECRET = "whsec-0123456789-abcdefghij"
SMTP_PASSWORD = "smtp-password-0123456789"
REPLAY_WINDOW = 300     # what a receiver should accept, as docs/notifications.rst says


class Receiver:
    """A webhook receiver: checks each call's signature and timestamp as the docs tell receivers
    to, answers 500 to the first ``failing`` calls, keeps the rest."""

    def __init__(self, secret=SECRET):
        self.calls, self.refused, self.failing = [], [], 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers.get("X-Orchestrator-Timestamp", "")
                expected = "sha256=" + hmac.new(secret.encode(), f"{stamp}.".encode() + body,
                                                hashlib.sha256).hexdigest()
                given = self.headers.get("X-Orchestrator-Signature", "")
                with lock:
                    if not hmac.compare_digest(expected, given):
                        receiver.refused.append("bad signature")
                        status = 401
                    elif not stamp.isdigit() or abs(time.time() - int(stamp)) > REPLAY_WINDOW:
                        receiver.refused.append(f"stale timestamp {stamp!r}")
                        status = 401
                    elif receiver.failing > 0:
                        receiver.failing -= 1
                        status = 500
                    else:
                        receiver.calls.append((dict(self.headers), json.loads(body)))
                        status = 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/orchestrator"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def events(self, kind=None):
        return [body for _, body in self.calls if kind is None or body["event"] == kind]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Target:
    """What the url jobs call: answers ``status`` (500 until a test says otherwise) after
    ``delay`` seconds."""

    def __init__(self):
        self.status, self.delay = 500, 0
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(target.delay)
                self.send_response(target.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cron"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """aiosmtpd on 127.0.0.1, with a login: keeps every message and every login it was given."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages, self.logins = [], []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                mailbox.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content,
                                                                                 policy=email_policy)))
                return "250 OK"

        def authenticate(server, session, envelope, mechanism, auth_data):
            mailbox.logins.append((auth_data.login.decode(), auth_data.password.decode()))
            return AuthResult(success=auth_data.password.decode() == SMTP_PASSWORD)

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, auth_require_tls=False,
                                     authenticator=authenticate)
        self.controller.start()
        self.url = f"smtp://notifier:{SMTP_PASSWORD}@127.0.0.1:{self.port}"

    def close(self):
        self.controller.stop()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def target():
    found = Target()
    yield found
    found.close()


@pytest.fixture
def mailbox():
    found = Mailbox()
    yield found
    found.close()


@pytest.fixture
def notifying(make_app):
    """Clients of apps whose scheduler runs jobs, retrying deliveries quickly."""
    def build(**settings):
        return make_app(SCHEDULER_ENABLED=True, NOTIFY_BACKOFF=0.05, **settings).test_client()
    return build


def url_job(target, **extra):
    return {"name": "nightly export", "schedule": {"cron": "0 3 * * *"},
            "action": {"type": "url", "url": target.url}, **extra}


def webhook(receiver, on=("failure", "recovery", "disabled", "missed")):
    return {"on": list(on), "webhook": {"url": receiver.url, "secret": SECRET}}


def create(client, headers, body):
    answer = client.post("/api/v1/jobs", json=body, headers=headers)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def run(client, headers, job_id):
    """Run the job now; its finished run."""
    run_id = client.post(f"/api/v1/jobs/{job_id}/run", headers=headers).get_json()["run_id"]

    def finished():
        found = client.get(f"/api/v1/runs/{run_id}", headers=headers).get_json()
        return found if found["status"] in ("Completed", "Failed", "Missed") else None
    return wait_for(finished)


def notifications(client, headers, job_id, count):
    """The job's first ``count`` recorded deliveries, once there are that many (oldest first)."""
    def recorded():
        page = client.get(f"/api/v1/jobs/{job_id}/notifications", headers=headers).get_json()
        return page["items"] if page["total"] >= count else None
    return list(reversed(wait_for(recorded)))


# -- webhooks --------------------------------------------------------------------------------

def test_a_failed_run_sends_a_signed_failure_notice_and_records_it(notifying, admin, receiver, target):
    client = notifying()
    job = create(client, admin, url_job(target, notify=webhook(receiver)))
    assert job["notify"]["webhook"] == {"url": receiver.url, "signed": True}
    failed = run(client, admin, job["id"])
    assert failed["status"] == "Failed"

    [(headers, body)] = wait_for(lambda: receiver.calls)
    assert receiver.refused == []       # the signature and the timestamp checked out
    assert body == {"event": "failure", "job": {"id": job["id"], "name": "nightly export"},
                    "run": {"id": failed["id"], "status": "Failed", "scheduled_for": failed["scheduled_for"],
                            "error": failed["error"]},
                    "at": body["at"]}
    assert "answered 500" in body["run"]["error"]
    assert headers["X-Orchestrator-Event"] == "failure" and headers["Content-Type"] == "application/json"

    [record] = notifications(client, admin, job["id"], 1)
    assert record["id"] == headers["X-Orchestrator-Delivery"]
    assert {k: record[k] for k in ("run_id", "event", "channel", "target", "status", "attempts", "last_error")} == {
        "run_id": failed["id"], "event": "failure", "channel": "webhook", "target": receiver.url,
        "status": "delivered", "attempts": 1, "last_error": None}
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=admin).get_json()["failures"] == 1


def test_a_delivery_is_retried_and_recorded_with_its_attempts(notifying, admin, receiver, target):
    client = notifying()
    receiver.failing = 2
    job = create(client, admin, url_job(target, notify=webhook(receiver)))
    run(client, admin, job["id"])
    [record] = notifications(client, admin, job["id"], 1)
    assert (record["status"], record["attempts"], record["last_error"]) == ("delivered", 3, None)
    assert len(receiver.events("failure")) == 1 and receiver.refused == []


def test_a_delivery_that_keeps_failing_is_recorded_failed(notifying, admin, receiver, target):
    client = notifying(NOTIFY_ATTEMPTS=2)
    receiver.failing = 5
    job = create(client, admin, url_job(target, notify=webhook(receiver)))
    run(client, admin, job["id"])
    [record] = notifications(client, admin, job["id"], 1)
    assert (record["status"], record["attempts"], record["last_error"]) == ("failed", 2, "answered 500")
    assert record["delivered_at"] is None


def test_a_completed_run_after_failures_is_one_recovery(notifying, admin, receiver, target):
    # One sending thread: deliveries arrive in the order they were decided.
    client = notifying(NOTIFY_WORKERS=1)
    job = create(client, admin, url_job(target, notify=webhook(receiver, on=("failure", "recovery"))))
    run(client, admin, job["id"])
    run(client, admin, job["id"])
    target.status = 200
    recovered = run(client, admin, job["id"])
    assert recovered["status"] == "Completed"
    run(client, admin, job["id"])               # completed again: no second recovery
    target.status = 500
    run(client, admin, job["id"])
    wait_for(lambda: len(receiver.calls) == 4)
    assert [body["event"] for body in receiver.events()] == ["failure", "failure", "recovery", "failure"]
    recovery = receiver.events("recovery")[0]
    assert recovery["run"] == {"id": recovered["id"], "status": "Completed",
                               "scheduled_for": recovered["scheduled_for"], "error": None}


def test_a_missed_run_is_notified_and_not_counted(notifying, admin, receiver, target):
    target.status, target.delay = 200, 3.0
    client = notifying()
    job = create(client, admin, {"name": "every second", "schedule": {"frequency": "secondly"}, "overlap": "skip",
                                 "action": {"type": "url", "url": target.url, "timeout": 30},
                                 "notify": webhook(receiver, on=("missed", "failure"))})
    missed = wait_for(lambda: receiver.events("missed"))[0]
    # Counted before it was sent: had a Missed run counted, this would be 1 (the first run
    # still runs, for seconds: no completion has reset it).
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=admin).get_json()["failures"] == 0
    client.patch(f"/api/v1/jobs/{job['id']}", json={"paused": True}, headers=admin)
    assert missed["run"]["status"] == "Missed"
    assert missed["run"]["error"] == "missed: the previous run of this job is still running"
    assert receiver.events("failure") == []
    record = notifications(client, admin, job["id"], 1)[0]
    assert (record["event"], record["run_id"], record["status"]) == ("missed", missed["run"]["id"], "delivered")


def test_a_webhook_in_a_denied_network_is_refused_at_creation(client, admin, new_account):
    account_id, owner = new_account()
    hook = {"webhook": {"url": "http://169.254.169.254/latest/hook", "secret": SECRET}}
    body = {"schedule": {"cron": "0 3 * * *"}, "action": {"type": "url", "url": "http://127.0.0.1:9/"},
            "notify": hook}
    answer = client.post("/api/v1/jobs", json=body, headers=owner)
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert list(error["details"]) == ["notify.webhook.url"]
    assert "169.254.0.0/16" in error["details"]["notify.webhook.url"][0]
    assert client.get("/api/v1/jobs", headers=owner).get_json()["total"] == 0

    job = client.post("/api/v1/jobs", json={**body, "notify": None}, headers=owner).get_json()
    answer = client.patch(f"/api/v1/jobs/{job['id']}", json={"notify": hook}, headers=owner)
    assert (answer.status_code, list(answer.get_json()["error"]["details"])) == (422, ["notify.webhook.url"])
    answer = client.put(f"/api/v1/accounts/{account_id}/defaults", json={"notify": hook}, headers=owner)
    assert (answer.status_code, list(answer.get_json()["error"]["details"])) == (422, ["notify.webhook.url"])
    answer = client.put("/api/v1/groups/nightly", json={"jobs": [body]}, headers=owner)
    assert list(answer.get_json()["error"]["details"]) == ["jobs.0.notify.webhook.url"]


def test_a_webhook_refused_at_delivery_is_recorded_failed_without_retries(make_app, admin, receiver, target):
    job = create(make_app().test_client(), admin, url_job(target, notify=webhook(receiver)))
    # The same store, served under a policy that now denies the receiver (and the target).
    client = make_app(SCHEDULER_ENABLED=True, NOTIFY_BACKOFF=0.05, URL_DENY_NETWORKS=["127.0.0.0/8"]).test_client()
    assert run(client, admin, job["id"])["status"] == "Failed"
    [record] = notifications(client, admin, job["id"], 1)
    assert (record["status"], record["attempts"]) == ("failed", 1)
    assert record["last_error"].startswith("refused: 127.0.0.1 is in the denied network 127.0.0.0/8")
    assert receiver.calls == []


# -- auto-disable and e-mail ---------------------------------------------------------------

def test_a_job_failing_disable_after_times_in_a_row_is_paused_and_says_so(notifying, admin, receiver, target, mailbox):
    client = notifying(SMTP_URL=mailbox.url, SMTP_FROM="Orchestrator <orchestrator@example.com>")
    notify = {**webhook(receiver, on=("disabled",)), "email": ["ops@example.com"]}
    job = create(client, admin, url_job(target, notify=notify, disable_after=2))
    first = run(client, admin, job["id"])
    assert first["status"] == "Failed"
    wait_for(lambda: client.get(f"/api/v1/jobs/{job['id']}", headers=admin).get_json()["failures"] == 1)
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=admin).get_json()["paused"] is False
    second = run(client, admin, job["id"])

    paused = wait_for(lambda: (found := client.get(f"/api/v1/jobs/{job['id']}", headers=admin).get_json())["paused"]
                      and found)
    assert (paused["paused_reason"], paused["failures"]) == ("disabled after 2 failed runs in a row", 2)
    assert paused["next_run_at"] is None         # paused: it fires at no time until resumed

    [disabled] = wait_for(lambda: receiver.events("disabled"))
    assert receiver.events("failure") == []      # "on" asked for disabled only
    assert disabled["job"] == {"id": job["id"], "name": "nightly export",
                               "paused_reason": "disabled after 2 failed runs in a row"}
    assert disabled["run"]["id"] == second["id"]

    [(recipients, mail)] = wait_for(lambda: mailbox.messages)
    assert recipients == ["ops@example.com"] and mail["To"] == "ops@example.com"
    assert mail["From"] == "Orchestrator <orchestrator@example.com>"
    assert mail["Subject"] == "[Orchestrator] nightly export: disabled after 2 failed runs in a row"
    text = mail.get_content()
    assert f"Job nightly export ({job['id']}): disabled after 2 failed runs in a row." in text
    assert second["id"] in text and "answered 500" in text
    assert f"PATCH /api/v1/jobs/{job['id']}" in text
    assert mailbox.logins == [("notifier", SMTP_PASSWORD)]

    records = notifications(client, admin, job["id"], 2)
    assert sorted((r["channel"], r["target"], r["event"], r["status"]) for r in records) == [
        ("email", "ops@example.com", "disabled", "delivered"), ("webhook", receiver.url, "disabled", "delivered")]

    resumed = client.patch(f"/api/v1/jobs/{job['id']}", json={"paused": False}, headers=admin).get_json()
    assert (resumed["paused"], resumed["failures"], resumed["paused_reason"]) == (False, 0, None)
    assert all(SMTP_PASSWORD not in line for line in CAPTURED_LOGS.lines)


def test_the_accounts_defaults_cover_jobs_that_say_nothing(notifying, admin, receiver, target):
    client = notifying()
    me = client.get("/api/v1/accounts/me", headers=admin).get_json()
    assert me["defaults"] == {"notify": None, "disable_after": None}
    answer = client.put(f"/api/v1/accounts/{me['id']}/defaults", headers=admin,
                        json={"notify": {"webhook": {"url": receiver.url, "secret": SECRET}}, "disable_after": 1})
    assert answer.status_code == 200, answer.get_json()
    shown = client.get("/api/v1/accounts/me", headers=admin).get_json()["defaults"]
    assert shown == {"notify": {"on": ["failure", "disabled"], "webhook": {"url": receiver.url, "signed": True},
                                "email": []}, "disable_after": 1}

    quiet = create(client, admin, url_job(target, notify={"on": ["disabled"]}, disable_after=3))
    job = create(client, admin, url_job(target))
    assert (job["notify"], job["disable_after"]) == (None, None)
    run(client, admin, job["id"])
    paused = wait_for(lambda: (found := client.get(f"/api/v1/jobs/{job['id']}", headers=admin).get_json())["paused"]
                      and found)
    assert paused["paused_reason"] == "disabled after 1 failed run in a row"
    wait_for(lambda: len(receiver.calls) == 2)
    assert sorted(body["event"] for body in receiver.events()) == ["disabled", "failure"]
    # A job's own notify and disable_after win over the account's.
    run(client, admin, quiet["id"])
    wait_for(lambda: client.get(f"/api/v1/jobs/{quiet['id']}", headers=admin).get_json()["failures"] == 1)
    assert client.get(f"/api/v1/jobs/{quiet['id']}", headers=admin).get_json()["paused"] is False
    assert client.get(f"/api/v1/jobs/{quiet['id']}/notifications", headers=admin).get_json()["total"] == 0


def test_email_without_smtp_url_is_refused(client, admin):
    body = {"schedule": {"cron": "0 3 * * *"}, "action": {"type": "url", "url": "http://127.0.0.1:9/"},
            "notify": {"email": ["ops@example.com"]}}
    answer = client.post("/api/v1/jobs", json=body, headers=admin)
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert list(error["details"]) == ["notify.email"] and "SMTP_URL" in error["message"]


def test_notifications_are_the_owners_only(client, admin, new_account):
    _, owner = new_account()
    _, other = new_account()
    job = create(client, owner, {"schedule": {"cron": "0 3 * * *"},
                                 "action": {"type": "url", "url": "http://127.0.0.1:9/"}})
    assert client.get(f"/api/v1/jobs/{job['id']}/notifications", headers=owner).get_json()["total"] == 0
    assert client.get(f"/api/v1/jobs/{job['id']}/notifications", headers=admin).status_code == 200
    assert client.get(f"/api/v1/jobs/{job['id']}/notifications", headers=other).status_code == 404


def test_the_webhook_secret_is_never_shown(receiver, target, notifying, admin):
    client = notifying()
    job = create(client, admin, url_job(target, notify=webhook(receiver)))
    run(client, admin, job["id"])
    notifications(client, admin, job["id"], 1)
    for path in (f"/api/v1/jobs/{job['id']}", "/api/v1/jobs", f"/api/v1/jobs/{job['id']}/notifications",
                 "/api/v1/accounts/me"):
        client.get(path, headers=admin)
    assert all(SECRET not in body for _, _, body in RESPONSES)
    assert all(SECRET not in line for line in CAPTURED_LOGS.lines)


def test_a_celery_worker_counts_and_notifies_the_runs_it_executes(cluster, receiver):
    cluster.worker("-c", "4")
    status, job = cluster.call("POST", "/api/v1/jobs", {
        "name": "on a worker", "schedule": {"cron": "0 0 1 1 *"},
        "action": {"type": "url", "url": "http://127.0.0.1:9/down"},      # nothing listens: Failed
        "notify": webhook(receiver, on=("failure", "disabled")), "disable_after": 1})
    assert status == 201, job
    status, started = cluster.call("POST", f"/api/v1/jobs/{job['id']}/run")
    wait_for(lambda: len(receiver.calls) == 2, timeout=60)
    assert sorted(body["event"] for body in receiver.events()) == ["disabled", "failure"]
    assert {body["run"]["id"] for body in receiver.events()} == {started["run_id"]}
    shown = cluster.call("GET", f"/api/v1/jobs/{job['id']}")[1]
    assert (shown["paused"], shown["failures"], shown["paused_reason"]) == (True, 1, "disabled after 1 failed run in a row")
    records = wait_for(lambda: (page := cluster.call("GET", f"/api/v1/jobs/{job['id']}/notifications")[1])["total"] == 2
                       and page["items"])
    assert {(r["event"], r["status"]) for r in records} == {("failure", "delivered"), ("disabled", "delivered")}


# -- the rules, without a server -----------------------------------------------------------

def event(status, job="j1", run="r1", at=100.0, message=None):
    return {"run_id": run, "job_id": job, "account_id": "a", "scheduled_for": at - 1, "status": status, "at": at,
            "message": message}


def test_a_batch_folds_into_steps_in_order_and_one_missed_per_job():
    folded = fold([event("Submitted"), event("Failed", run="r1"), event("Failed", run="r2"),
                   event("Completed", run="r3"), event("Completed", run="r4"), event("Failed", run="r5"),
                   event("Missed", run="r6"), event("Missed", run="r7"), event("Completed", job="j2", run="r8"),
                   event("Failed", job=None, run="r9")])
    assert [(s.kind, [e["run_id"] for e in s.events]) for s in folded.steps["j1"]] == [
        ("Failed", ["r1", "r2"]), ("Completed", ["r3"]), ("Failed", ["r5"])]
    assert [s.kind for s in folded.steps["j2"]] == ["Completed"]
    assert None not in folded.steps       # a run of no job (nodes created through the API)
    assert {job: e["run_id"] for job, e in folded.missed.items()} == {"j1": "r7"}


def test_disable_after_comes_from_the_job_then_the_account_then_the_setting():
    def job(options, defaults):
        return {"options": json.dumps(options), "defaults": json.dumps(defaults)}
    assert disable_after_of(job({"disable_after": 2}, {"disable_after": 5}), 25) == 2
    assert disable_after_of(job({}, {"disable_after": 5}), 25) == 5
    assert disable_after_of(job({}, {}), 25) == 25
    assert disabled_reason(1) == "disabled after 1 failed run in a row"


def test_the_signature_is_an_hmac_of_the_timestamp_and_the_body():
    body = b'{"event":"failure"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, "1700000000", body) == f"sha256={expected}"


def test_a_missed_notice_and_its_email():
    body = message(Notice.MISSED, {"id": "j1", "name": "backup"}, event("Missed", message="missed: late"))
    assert body["run"]["error"] == "missed: late" and body["event"] == "missed"
    subject, text = email_text(body)
    assert subject == "[Orchestrator] backup: run missed" and "Error:         missed: late" in text


@pytest.mark.parametrize("url, named", [
    ("smtp://127.0.0.1:25", None),
    ("http://mail.example.com", "expected smtp://, smtp+starttls:// or smtps://"),
    ("smtps://u:p@ss@:x", "is not a URL"),
])
def test_smtp_url_is_checked(url, named):
    if named is None:
        server = smtp_server({"SMTP_URL": url, "SMTP_FROM": "ops@example.com"})
        assert (server.scheme, server.host, server.port) == ("smtp", "127.0.0.1", 25)
        return
    with pytest.raises(SettingsError, match=re.escape(named)):
        smtp_server({"SMTP_URL": url, "SMTP_FROM": "ops@example.com"})


def test_bad_notification_settings_stop_the_start(make_app):
    with pytest.raises(SettingsError, match="DISABLE_AFTER 0"):
        make_app(DISABLE_AFTER=0)
    with pytest.raises(SettingsError, match="SMTP_FROM"):
        make_app(SMTP_URL="smtp://127.0.0.1:25", SMTP_FROM="nobody")
    assert smtp_server({"SMTP_URL": "smtp+starttls://u:secret-pass-1@mail.example.com"}).port == 587
