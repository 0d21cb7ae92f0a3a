"""The scheduler: claims, exactly once, overlap, one-off jobs, runs and their events."""
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
import json
import logging
import threading
import time
from types import SimpleNamespace
import uuid

from sqlalchemy import func, select, update
import pytest

from dispatcher.lib import store
from dispatcher.lib.actions.method import register_method
from dispatcher.lib.datastore import RunFilter
from dispatcher.lib.timespec.budget import Budget
from dispatcher.lib.timespec import FOLLOW_STEPS
import service

CALLS = []
CALLS_LOCK = threading.Lock()


@register_method("tests.count")
def count_call(context, tag="", sleep=0.0):
    """Records each call (tag, scheduled time); sleeps to make a run long."""
    with CALLS_LOCK:
        CALLS.append((tag, context.scheduled_for))
    if sleep:
        time.sleep(sleep)
    return {"tag": tag}


@register_method("tests.explode")
def explode(context):
    raise RuntimeError("this job always fails")


def at(seconds):
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def method_job(tag, schedule, **extra):
    return {"name": tag, "schedule": schedule, "action": {"type": "method", "name": "tests.count",
                                                          "parameters": {"tag": tag, **extra.pop("params", {})}},
            **extra}


def wait_for(predicate, timeout=15.0):
    return service.wait_for(predicate, timeout)


def runs_of(client, headers, job_id):
    return client.get(f"/api/v1/jobs/{job_id}/runs?limit=1000", headers=headers).json["items"]


@pytest.fixture
def live(make_app):
    """An app whose scheduler runs."""
    app = make_app(SCHEDULER_ENABLED=True, SCHEDULER_LEASE_SECONDS=2)
    wait_for(lambda: app.extensions["orchestrator.scheduler"].is_leader)
    return app


def test_one_off_job_runs_once_then_leaves_the_schedule(live, admin):
    client = live.test_client()
    job = client.post("/api/v1/jobs", json=method_job("once", {"at": at(0.3)}), headers=admin).json
    assert job["next_run_at"] is not None
    runs = wait_for(lambda: [r for r in runs_of(client, admin, job["id"]) if r["status"] == "Completed"])
    assert len(runs) == 1 and runs[0]["result"] == {"name": "tests.count", "value": {"tag": "once"}}
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=admin).status_code == 404
    detail = client.get(f"/api/v1/runs/{runs[0]['id']}", headers=admin).json
    assert [e["status"] for e in detail["events"]] == ["Submitted", "Running", "Completed"]
    state = client.get(f"/api/v1/last-events/{runs[0]['id']}", headers=admin).json["state"]
    assert state["status"] == "Completed" and state["uuid"] == runs[0]["id"]
    assert state["completion_date"].isdigit() and len(state["completion_date"]) == 13


def test_failed_run_keeps_its_error(live, admin):
    client = live.test_client()
    body = {"schedule": {"at": at(0.2)}, "action": {"type": "method", "name": "tests.explode"}}
    job = client.post("/api/v1/jobs", json=body, headers=admin).json
    run = wait_for(lambda: [r for r in runs_of(client, admin, job["id"]) if r["status"] == "Failed"])[0]
    assert run["error"] == "method 'tests.explode' raised RuntimeError: this job always fails"
    state = client.get(f"/api/v1/last-events/{run['id']}", headers=admin).json["state"]
    assert state["status"] == "Failed" and "completion_date" in state


def test_run_now_and_pause(live, admin):
    client = live.test_client()
    job = client.post("/api/v1/jobs", json=method_job("manual", {"cron": "0 0 1 1 *"}, paused=True),
                      headers=admin).json
    assert job["paused"] is True and job["next_run_at"] is None
    run_id = client.post(f"/api/v1/jobs/{job['id']}/run", headers=admin).json["run_id"]
    wait_for(lambda: client.get(f"/api/v1/runs/{run_id}", headers=admin).json["status"] == "Completed")
    resumed = client.patch(f"/api/v1/jobs/{job['id']}", json={"paused": False}, headers=admin).json
    assert resumed["paused"] is False and resumed["next_run_at"].endswith("Z")


def test_recurring_job_does_not_overlap_itself(live, admin):
    client = live.test_client()
    body = method_job("slow", {"frequency": "secondly", "interval": 1}, params={"sleep": 1.6})
    job = client.post("/api/v1/jobs", json=body, headers=admin).json
    missed = wait_for(lambda: [r for r in runs_of(client, admin, job["id"]) if r["status"] == "Missed"])
    assert "previous run of this job is still running" in missed[0]["error"]
    client.patch(f"/api/v1/jobs/{job['id']}", json={"paused": True}, headers=admin)
    statuses = [r["status"] for r in runs_of(client, admin, job["id"])]
    assert statuses.count("Running") <= 1


def test_overlap_wait_runs_one_after_the_other(live, admin):
    client = live.test_client()
    body = method_job("queued", {"frequency": "secondly", "interval": 1, "tolerance": 30},
                      params={"sleep": 1.3}, overlap="wait")
    job = client.post("/api/v1/jobs", json=body, headers=admin).json
    def completed():
        found = [r for r in runs_of(client, admin, job["id"]) if r["status"] == "Completed"]
        return found if len(found) >= 2 else None
    done = wait_for(completed)
    client.delete(f"/api/v1/jobs/{job['id']}", headers=admin)
    assert not [r for r in runs_of(client, admin, job["id"]) if r["status"] == "Missed"]
    first, second = sorted(done, key=lambda r: r["started_at"])[:2]
    assert second["started_at"] >= first["finished_at"]


def test_two_schedulers_claiming_at_once_never_duplicate(make_app, admin):
    """Both loops forced active at the same moment: the unique claim keeps one run per time."""
    app = make_app()
    client = app.test_client()
    due = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    ids = []
    for n in range(60):
        body = method_job(f"race-{n}", {"frequency": "secondly", "start": due, "tolerance": 60})
        ids.append(client.post("/api/v1/jobs", json=body, headers=admin).json["id"])
    from dispatcher.lib.executor import LocalExecutor
    from dispatcher.lib.scheduler import Scheduler
    first = app.extensions["orchestrator.scheduler"]
    second = Scheduler(first.datastore, LocalExecutor(4), first.context_factory, app.config)
    barrier = threading.Barrier(2)

    def claim(scheduler):
        for _ in range(25):  # 2.5 s or more: every job passes at least one due second
            barrier.wait()
            with scheduler.datastore.transaction() as tx:
                scheduler._claim_due(tx, time.time())
            time.sleep(0.1)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(claim, (first, second)))
    engine = app.extensions["orchestrator.engine"]
    with engine.connect() as conn:
        duplicates = conn.execute(select(store.runs.c.job_id, store.runs.c.scheduled_for, func.count())
                                  .group_by(store.runs.c.job_id, store.runs.c.scheduled_for)
                                  .having(func.count() > 1)).all()
        claimed = conn.execute(select(func.count()).select_from(store.runs)).scalar()
    assert duplicates == []
    assert claimed >= 60


def test_missed_when_it_cannot_start_within_tolerance(make_app, admin):
    app = make_app()
    client = app.test_client()
    job = client.post("/api/v1/jobs", json=method_job("late", {"at": at(0.2), "tolerance": 1}), headers=admin).json
    time.sleep(2.5)  # the scheduler was "down" past the job's tolerance (times are whole seconds)
    app.extensions["orchestrator.scheduler"].tick()
    runs = runs_of(client, admin, job["id"])
    assert [r["status"] for r in runs] == ["Missed"]
    assert "tolerance" in runs[0]["error"]


def test_group_replace_is_atomic(client, admin):
    good = method_job("a", {"cron": "0 3 * * *"})
    assert client.put("/api/v1/groups/nightly", json={"jobs": [good, good]}, headers=admin).status_code == 200
    before = client.get("/api/v1/jobs?group=nightly", headers=admin).json["items"]
    bad = method_job("b", {"cron": "61 3 * * *"})
    refused = client.put("/api/v1/groups/nightly", json={"jobs": [good, bad], "rename_to": "n2"}, headers=admin)
    assert refused.status_code == 422
    assert any(k.startswith("jobs.1.schedule") for k in refused.json["error"]["details"])
    assert client.get("/api/v1/jobs?group=nightly", headers=admin).json["items"] == before
    renamed = client.put("/api/v1/groups/nightly", json={"jobs": [good], "rename_to": "n2"}, headers=admin).json
    assert renamed["group"] == "n2" and len(renamed["jobs"]) == 1
    groups = client.get("/api/v1/groups", headers=admin).json["items"]
    assert groups == [{"group": "n2", "jobs": 1}]
    assert client.delete("/api/v1/groups/n2", headers=admin).status_code == 204
    assert client.get("/api/v1/groups", headers=admin).json["items"] == []


def test_schedule_errors_name_the_field(client, admin):
    cases = [({"at": "2001-01-01T00:00:00Z"}, "schedule.at"),
             ({"cron": "not cron"}, "schedule.cron"),
             ({"frequency": "daily", "start": at(100), "end": at(10)}, "schedule.end"),
             ({"at": at(60), "timezone": "Mars/Olympus"}, "schedule.timezone")]
    for schedule, field in cases:
        response = client.post("/api/v1/jobs", json=method_job("x", schedule), headers=admin)
        assert response.status_code == 422, schedule
        assert field in response.json["error"]["details"], response.json
    unknown = client.post("/api/v1/jobs", json={"schedule": {"at": at(60)}, "action": {"type": "method",
                                                                                         "name": "os.system"}},
                          headers=admin)
    assert unknown.status_code == 422 and "action.name" in unknown.json["error"]["details"]
    assert client.get("/api/v1/jobs", headers=admin).json["total"] == 0


def test_one_off_a_little_late_still_runs(live, admin):
    """An ``at`` up to its tolerance in the past is accepted, and runs at once."""
    client = live.test_client()
    job = client.post("/api/v1/jobs", json=method_job("just-late", {"at": at(-3), "tolerance": 30}),
                      headers=admin).json
    assert job.get("next_run_at") is not None, job
    runs = wait_for(lambda: [r for r in runs_of(client, admin, job["id"]) if r["status"] == "Completed"])
    assert len(runs) == 1


EVERY_HOUR = ",".join(str(hour) for hour in range(24))
ISSUE_RRULE = ("DTSTART:00010101T000000Z\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;"
               f"BYHOUR={EVERY_HOUR};BYSETPOS=-1;COUNT=10000")


def test_a_schedule_too_costly_to_compute_is_refused(client, admin):
    response = client.post("/api/v1/jobs", json=method_job("costly", {"rrule": ISSUE_RRULE}), headers=admin)
    assert response.status_code == 422
    assert "too costly to compute" in response.json["error"]["details"]["schedule.rrule"][0]
    assert client.get("/api/v1/jobs", headers=admin).json["total"] == 0


def test_a_schedule_too_costly_to_follow_stops_without_stalling_the_scheduler(make_app, admin, caplog):
    """A stored rule whose next time takes too much work (its times grew rarer): the due run
    runs, the job stays without a next run, and the tick spends one bounded computation."""
    app = make_app()
    client = app.test_client()
    job = client.post("/api/v1/jobs", json=method_job("rarer", {"frequency": "secondly", "tolerance": 30}),
                      headers=admin).json
    costly = {"rrule": "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=23;BYMINUTE=59",
              "start": "2027-01-01T00:00:00Z", "timezone": "UTC", "tolerance": 30}
    with app.extensions["orchestrator.engine"].begin() as conn:
        conn.execute(update(store.jobs).where(store.jobs.c.id == job["id"])
                     .values(schedule=json.dumps(costly), next_run_at=time.time() - 1))
    with caplog.at_level(logging.WARNING, "dispatcher.lib.scheduler"), Budget() as meter:
        app.extensions["orchestrator.scheduler"].tick()
    assert meter.spent <= FOLLOW_STEPS + 732
    assert f"job {job['id']} stops" in caplog.text
    shown = client.get(f"/api/v1/jobs/{job['id']}", headers=admin).json
    assert shown["next_run_at"] is None and shown["paused"] is False
    assert [r["status"] for r in runs_of(client, admin, job["id"])] == ["Running"]


def caught_up(make_app, admin, name, schedule, overlap="skip"):
    """A job whose next occurrences passed ten seconds ago, while no scheduler ran; one tick of
    the scheduler coming back, then its runs once none is left Submitted or Running."""
    app = make_app(SCHEDULER_LOOKAHEAD=0)           # nothing is claimed ahead: only what is owed
    client = app.test_client()
    job = client.post("/api/v1/jobs", json=method_job(name, schedule, overlap=overlap), headers=admin).json
    with app.extensions["orchestrator.engine"].begin() as conn:
        conn.execute(update(store.jobs).where(store.jobs.c.id == job["id"])
                     .values(next_run_at=store.jobs.c.next_run_at - 10))
    scheduler = app.extensions["orchestrator.scheduler"]
    scheduler.tick()
    client.patch(f"/api/v1/jobs/{job['id']}", json={"paused": True}, headers=admin)  # nothing more falls due

    def settled():
        scheduler.tick()                            # records what the run reported
        runs = runs_of(client, admin, job["id"])
        return runs if not [r for r in runs if r["status"] in ("Submitted", "Running")] else None
    return wait_for(settled)


@pytest.mark.parametrize("overlap", ["skip", "wait", "allow"])
def test_after_downtime_only_the_latest_owed_occurrence_runs(make_app, admin, overlap):
    runs = caught_up(make_app, admin, f"back-{overlap}",
                     {"frequency": "secondly", "start": at(-60), "tolerance": 30}, overlap)
    completed = [r for r in runs if r["status"] == "Completed"]
    assert len(completed) == 1, runs
    latest = completed[0]["scheduled_for"]
    others = [r for r in runs if r is not completed[0]]
    assert len(others) >= 9 and {r["status"] for r in others} == {"Missed"}
    assert {r["error"] for r in others} == {
        f"missed: the scheduler was down or behind; coalesced into the occurrence of {latest}"}
    assert max(r["scheduled_for"] for r in others) < latest


def test_after_downtime_occurrences_past_the_tolerance_are_missed_as_late(make_app, admin):
    runs = caught_up(make_app, admin, "back-late", {"frequency": "secondly", "start": at(-60), "tolerance": 3})
    completed = [r for r in runs if r["status"] == "Completed"]
    assert len(completed) == 1, runs
    coalesced = [r for r in runs if r["error"] == "missed: the scheduler was down or behind; coalesced into "
                                                  f"the occurrence of {completed[0]['scheduled_for']}"]
    late = [r for r in runs if r["error"] and r["error"].startswith("missed: not started within the tolerance")]
    assert coalesced and late and len(coalesced) + len(late) == len(runs) - 1
    assert max(r["scheduled_for"] for r in late) < min(r["scheduled_for"] for r in coalesced)


def test_schedules_that_could_never_run_are_refused(client, admin):
    """A tolerance of 0 (every run would be missed), an ``at`` past its tolerance."""
    for schedule, field in [({"cron": "* * * * *", "tolerance": 0}, "schedule.tolerance"),
                            ({"at": at(-5), "tolerance": 1}, "schedule.at")]:
        response = client.post("/api/v1/jobs", json=method_job("never", schedule), headers=admin)
        assert response.status_code == 422 and field in response.json["error"]["details"], schedule
    assert client.get("/api/v1/jobs", headers=admin).json["total"] == 0


def test_a_job_whose_time_passed_while_paused_is_not_resumed(make_app, admin):
    """Resumed, it would sit on the schedule without a next run, forever: refused, it stays paused."""
    app = make_app()
    client = app.test_client()
    job = client.post("/api/v1/jobs", json=method_job("paused", {"at": at(60)}, paused=True), headers=admin).json
    passed = {"at": "2020-01-01T00:00:00Z", "timezone": "UTC", "tolerance": 10}   # as if time went by
    with app.extensions["orchestrator.engine"].begin() as conn:
        conn.execute(update(store.jobs).where(store.jobs.c.id == job["id"]).values(schedule=json.dumps(passed)))
    refused = client.patch(f"/api/v1/jobs/{job['id']}", json={"paused": False}, headers=admin)
    assert refused.status_code == 422
    assert refused.json["error"]["message"].startswith("cannot resume")
    assert "schedule.at" in refused.json["error"]["details"]
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=admin).json["paused"] is True
    rescheduled = client.patch(f"/api/v1/jobs/{job['id']}", json={"paused": False, "schedule": {"at": at(60)}},
                               headers=admin)
    assert rescheduled.status_code == 200 and rescheduled.json["next_run_at"] is not None


EVERY_ACCOUNT = SimpleNamespace(account_id=None, is_admin=True)


def run_of(app, job_id):
    """The one run of a job, read from the store with its holder (None until it is claimed)."""
    rows, _ = app.extensions["orchestrator.datastore"].list_runs(EVERY_ACCOUNT, RunFilter(job_id=job_id), 10, 0)
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def claimed_ahead(make_app, admin, tag, due_in, **settings):
    """A scheduler claiming far ahead, and a one-off job (its tag made unique) that it has
    claimed ahead as Running."""
    tag = f"{tag}-{uuid.uuid4().hex[:8]}"
    app = make_app(SCHEDULER_ENABLED=True, SCHEDULER_LEASE_SECONDS=2, SCHEDULER_LOOKAHEAD=due_in + 5, **settings)
    scheduler = app.extensions["orchestrator.scheduler"]
    wait_for(lambda: scheduler.is_leader)
    job = app.test_client().post("/api/v1/jobs", json=method_job(tag, {"at": at(due_in), "tolerance": 30}),
                                 headers=admin).json
    run = wait_for(lambda: run_of(app, job["id"]))
    assert (run["status"], run["holder"]) == ("Running", scheduler.holder)
    assert run["started_at"] == run["scheduled_for"]      # its planned start, until it starts
    return app, scheduler, job, run, tag


def calls_of(tag):
    with CALLS_LOCK:
        return [call for call in CALLS if call[0] == tag]


def finished(app, run_id):
    headers = {"Authorization": f"Bearer {app.config['ORCHESTRATOR_ADMIN_KEY']}"}
    detail = app.test_client().get(f"/api/v1/runs/{run_id}", headers=headers).json
    return detail if detail["status"] == "Completed" else None


def test_a_run_claimed_ahead_starts_at_its_time_and_records_when(make_app, admin):
    app, scheduler, job, run, tag = claimed_ahead(make_app, admin, "ahead", 2)
    detail = wait_for(lambda: finished(app, run["id"]))
    assert [e["status"] for e in detail["events"]] == ["Submitted", "Running", "Completed"]
    stamp = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    assert stamp(detail["started_at"]) >= stamp(detail["scheduled_for"])     # not before its time
    assert detail["events"][1]["at"] == detail["started_at"]
    assert len(calls_of(tag)) == 1


def test_a_stopping_scheduler_gives_its_runs_claimed_ahead_to_the_next(make_app, admin):
    app, scheduler, job, run, tag = claimed_ahead(make_app, admin, "handed-over", 4)
    scheduler.stop()
    given_back = run_of(app, job["id"])
    assert (given_back["status"], given_back["holder"], given_back["started_at"]) == ("Submitted", None, None)
    successor = make_app(SCHEDULER_ENABLED=True, SCHEDULER_LEASE_SECONDS=2)
    detail = wait_for(lambda: finished(successor, run["id"]))
    assert [e["status"] for e in detail["events"]] == ["Submitted", "Running", "Completed"]
    assert len(calls_of(tag)) == 1


def test_a_dead_schedulers_runs_claimed_ahead_run_once_through_the_next(make_app, admin):
    """Killed without a word (its threads stopped, nothing given back, the lease kept): the next
    scheduler, once it holds the lease, finds the run still to come and starts it when due."""
    app, scheduler, job, run, tag = claimed_ahead(make_app, admin, "orphan", 7)
    scheduler._stop.set()
    with scheduler._ahead_changed:
        scheduler._ahead_changed.notify()
    scheduler._wake.set()
    scheduler._thread.join(timeout=10)
    scheduler._starter.join(timeout=10)
    successor = make_app(SCHEDULER_ENABLED=True, SCHEDULER_LEASE_SECONDS=2)
    detail = wait_for(lambda: finished(successor, run["id"]), timeout=20)
    assert [e["status"] for e in detail["events"]] == ["Submitted", "Running", "Completed"]
    assert len(calls_of(tag)) == 1


def test_outcomes_are_written_away_from_the_start_of_runs_but_within_a_second(make_app):
    """Writing finished runs waits while runs claimed ahead are about to start, at most
    RECORD_DELAY; then it is written whatever starts."""
    from dispatcher.lib.accounts import Caller
    from dispatcher.lib.scheduler import RECORD_DELAY

    app = make_app()
    scheduler, datastore = app.extensions["orchestrator.scheduler"], app.extensions["orchestrator.datastore"]
    admin = app.extensions["orchestrator.accounts"].admin_account()
    caller = Caller(admin["id"], admin["name"], admin["plan"], True, "key")
    run_id = app.extensions["orchestrator.jobs"].submit_action(
        caller, {"type": "method", "method": "nothing"}, 300, "for the test")
    run = datastore.get_run_row(run_id)
    datastore.start_run(run_id, time.time(), "started by the test", holder=scheduler.holder)
    scheduler.recorder.finish(run, "Completed", time.time())
    scheduler._ahead = [(time.time() + 0.05, "other", {}, None)]   # a run starts in 50 ms
    scheduler.tick()
    assert scheduler.recorder.waited() > 0                        # still queued
    assert datastore.get_run_row(run_id)["status"] == "Running"
    scheduler.recorder._since -= RECORD_DELAY                      # it has waited long enough
    scheduler._ahead = [(time.time() + 0.05, "other", {}, None)]
    scheduler.tick()
    assert scheduler.recorder.waited() == 0
    assert datastore.get_run_row(run_id)["status"] == "Completed"


def test_a_tick_waits_for_runs_claimed_ahead_to_reach_their_threads_within_a_bound(make_app, monkeypatch):
    """The loop's next tick waits while runs claimed ahead are about to start, or are handed
    to the pool and not yet taken by its threads; never longer than MAKE_WAY."""
    from dispatcher.lib import scheduler as scheduling

    app = make_app(SCHEDULER_WORKERS=1)
    scheduler = app.extensions["orchestrator.scheduler"]
    monkeypatch.setattr(scheduling, "MAKE_WAY", 60.0)

    def tick_waits():
        waiting = threading.Thread(target=scheduler._make_way)
        waiting.start()
        waiting.join(0.3)
        return waiting

    scheduler._ahead = [(time.time() + 0.005, "soon", {}, None)]       # about to start
    waiting = tick_waits()
    assert waiting.is_alive()
    scheduler._ahead = []                                                 # the starter took it
    waiting.join(10)
    assert not waiting.is_alive()

    gate = threading.Event()
    scheduler.executor.submit_many([(gate.wait, (10,)), (gate.wait, (10,))])  # one thread: one left queued
    wait_for(lambda: scheduler.executor.queue_depth() == 1)
    scheduler._last_start = time.time()
    waiting = tick_waits()
    assert waiting.is_alive()
    gate.set()                                                            # the pool takes what was handed
    waiting.join(10)
    assert not waiting.is_alive() and scheduler.executor.queue_depth() == 0

    monkeypatch.setattr(scheduling, "MAKE_WAY", 0.2)
    scheduler._ahead = [(time.time() - 1, "never taken", {}, None)]        # a starter that never comes
    waiting = threading.Thread(target=scheduler._make_way)
    waiting.start()
    waiting.join(10)
    assert not waiting.is_alive()                                         # the tick comes anyway
    scheduler._ahead = []


def test_the_lease_is_renewed_away_from_the_start_of_runs_but_always_in_time(make_app):
    """Renewing the lease (and reaping) waits while runs claimed ahead are about to start, as
    long as a quarter of the lease is left; then it renews whatever is due."""
    app = make_app()
    scheduler, datastore = app.extensions["orchestrator.scheduler"], app.extensions["orchestrator.datastore"]
    now = time.time()
    scheduler._leader, scheduler._lease_until = True, now + scheduler.lease_seconds * 0.4
    scheduler._ahead = [(now + 0.05, "run", {}, None)]        # a run starts in 50 ms
    assert scheduler._hold_lease() is True
    assert datastore.lease_holder("scheduler", time.time()) is None     # not renewed yet
    scheduler._ahead = []                                        # nothing starts near now
    scheduler._last_start = 0.0
    assert scheduler._hold_lease() is True
    assert datastore.lease_holder("scheduler", time.time()) == scheduler.holder

    datastore.release_lease("scheduler", scheduler.holder)
    scheduler._lease_until = time.time() + scheduler.lease_seconds * 0.2  # less than a quarter left
    scheduler._ahead = [(time.time() + 0.05, "run", {}, None)]
    assert scheduler._hold_lease() is True
    assert datastore.lease_holder("scheduler", time.time()) == scheduler.holder
    scheduler._ahead = []
