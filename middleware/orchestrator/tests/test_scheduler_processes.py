"""The guarantees with real processes: gunicorn -w 4 sharing one store, and kill -9."""
from datetime import datetime, timedelta, timezone
import sqlite3
import time

import pytest

from service import CountingTarget, Service

ADMIN = "process-admin-key-0123456789abcdef"


def at(seconds):
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def target():
    server = CountingTarget()
    yield server
    server.close()


def url_job(target, tag, schedule, **extra):
    return {"name": tag, "schedule": schedule, "action": {"type": "url", "url": f"{target.url}/{tag}"}, **extra}


def store_rows(service, sql):
    with sqlite3.connect(service.folder / "instance" / "orchestrator.sqlite3") as conn:
        return conn.execute(sql).fetchall()


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_exactly_once_with_four_workers(tmp_path, target):
    service = Service(tmp_path / "svc", ADMIN, workers=4).start()
    try:
        one_offs = []
        for n in range(40):
            status, job = service.call("POST", "/api/v1/jobs", url_job(target, f"once-{n}", {"at": at(2 + n / 20)}))
            assert status == 201, job
            one_offs.append(job["id"])
        recurring = []
        for n in range(2):
            status, job = service.call("POST", "/api/v1/jobs",
                                       url_job(target, f"every-{n}", {"frequency": "secondly", "tolerance": 30}))
            recurring.append(job["id"])
        finished = "SELECT count(*) FROM runs WHERE status IN ('Completed','Failed','Missed') AND job_id IN (%s)" % (
            ",".join(f"'{j}'" for j in one_offs))
        assert wait_until(lambda: store_rows(service, finished)[0][0] == 40, 30), store_rows(service, finished)
        for job_id in recurring:
            service.call("PATCH", f"/api/v1/jobs/{job_id}", {"paused": True})
        time.sleep(1.0)  # let the last recurring runs finish
    finally:
        service.stop()
    duplicates = store_rows(service, "SELECT job_id, scheduled_for, count(*) FROM runs "
                                     "GROUP BY job_id, scheduled_for HAVING count(*) > 1")
    assert duplicates == []
    one_off_ids = ",".join(f"'{j}'" for j in one_offs)
    statuses = dict(store_rows(service, f"SELECT status, count(*) FROM runs WHERE job_id IN ({one_off_ids}) "
                                        "GROUP BY status"))
    assert statuses == {"Completed": 40}, statuses
    # A busy machine may leave a secondly run going when the next is due, or hold the loop
    # back past a second: that occurrence is Missed, for one of those reasons only (the job
    # does not overlap itself; of occurrences owed at once only the latest runs), never run twice.
    reasons = {error for (error,) in store_rows(service, "SELECT DISTINCT error FROM runs WHERE status != 'Completed'")}
    assert all(reason == "missed: the previous run of this job is still running"
               or reason.startswith("missed: the scheduler was down or behind; coalesced into the occurrence of ")
               for reason in reasons), reasons
    for n in range(40):
        assert target.hits.get(f"/once-{n}") == 1, n
    for n, job_id in enumerate(recurring):
        completed = store_rows(service, f"SELECT count(*) FROM runs WHERE job_id = '{job_id}' AND status = 'Completed'")
        assert completed[0][0] >= 3
        assert target.hits.get(f"/every-{n}") == completed[0][0]


def test_kill_9_and_restart_loses_nothing(tmp_path, target):
    service = Service(tmp_path / "svc", ADMIN, workers=1).start()
    status, slow = service.call("POST", "/api/v1/jobs", url_job(target, "slow", {"cron": "0 0 1 1 *"}))
    status, run = service.call("POST", f"/api/v1/jobs/{slow['id']}/run")
    running = f"SELECT status FROM runs WHERE id = '{run['run_id']}'"
    assert wait_until(lambda: store_rows(service, running) == [("Running",)], 10)
    _, kept = service.call("POST", "/api/v1/jobs", url_job(target, "kept", {"at": at(2), "tolerance": 60}))
    _, lost = service.call("POST", "/api/v1/jobs", url_job(target, "lost", {"at": at(2), "tolerance": 1}))
    _, later = service.call("POST", "/api/v1/jobs", url_job(target, "later", {"cron": "0 0 1 1 *"}))
    service.kill()
    time.sleep(4.5)  # both jobs fall due while nothing runs; "lost" passes its tolerance
    service.start()
    try:
        def status_of(job_id):
            rows = store_rows(service, f"SELECT status, error FROM runs WHERE job_id = '{job_id}'")
            return rows[0] if rows else None
        assert wait_until(lambda: status_of(kept["id"]) == ("Completed", None), 20), status_of(kept["id"])
        assert wait_until(lambda: status_of(lost["id"]) is not None, 10)
        assert status_of(lost["id"])[0] == "Missed"
        assert store_rows(service, running.replace("status", "status, error")) == [("Failed", "interrupted")]
        status, job = service.call("GET", f"/api/v1/jobs/{later['id']}")
        assert status == 200 and job["next_run_at"].startswith("20")
    finally:
        service.stop()
    assert target.hits.get("/kept") == 1 and "/lost" not in target.hits


def test_scheduler_processes_take_over_from_each_other(tmp_path, target):
    """API servers without a scheduler, two ``orchestrator scheduler`` processes: one is active,
    the other takes over when it is killed, and no occurrence runs twice."""
    from service import Process

    service = Service(tmp_path / "svc", ADMIN, workers=2, settings="SCHEDULER_ENABLED = False\n").start()
    schedulers = [Process(service, "scheduler").start() for _ in range(2)]
    try:
        status, job = service.call("POST", "/api/v1/jobs", url_job(target, "tick", {"frequency": "secondly",
                                                                                    "tolerance": 30}))
        assert status == 201, job
        assert wait_until(lambda: target.hits.get("/tick", 0) >= 2, 20), service.log.read_text()[-2000:]
        holder = store_rows(service, "SELECT holder FROM leases WHERE name = 'scheduler'")[0][0]
        active = next(p for p in schedulers if f":{p.process.pid}:" in holder)
        active.kill()
        before = target.hits["/tick"]
        assert wait_until(lambda: target.hits.get("/tick", 0) >= before + 3, 30), [p.log.read_text()[-1500:]
                                                                                   for p in schedulers]
        assert store_rows(service, "SELECT holder FROM leases WHERE name = 'scheduler'")[0][0] != holder
    finally:
        for process in schedulers:
            process.stop()
        service.stop()
    duplicates = store_rows(service, "SELECT job_id, scheduled_for, count(*) FROM runs "
                                     "GROUP BY job_id, scheduled_for HAVING count(*) > 1")
    assert duplicates == []
    completed = store_rows(service, "SELECT count(*) FROM runs WHERE status = 'Completed'")[0][0]
    interrupted = store_rows(service, "SELECT count(*) FROM runs WHERE error = 'interrupted'")[0][0]
    # A hit per Completed run; the run the kill cut short may have hit before the process died.
    assert completed <= target.hits["/tick"] <= completed + interrupted
    assert store_rows(service, "SELECT count(*) FROM runs WHERE status = 'Running'")[0][0] == 0
