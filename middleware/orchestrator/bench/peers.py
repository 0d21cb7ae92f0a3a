"""The peers of the burst scenario: APScheduler 3 on the same workload, with its
``MemoryJobStore`` and with its ``SQLAlchemyJobStore`` on a SQLite file, its thread pool as
large as our scheduler's. Each job records when its function began; lateness is measured from
the scheduled time to then, as for ours."""
import logging
import os
import time

from harness import pct

EXECUTED = []   # (scheduled for, when the function began), appended by APScheduler's threads


def peer_noop(scheduled):
    """The job: records when it began."""
    EXECUTED.append((scheduled, time.time()))


def run_apscheduler(kind, folder, jobs, per_second, workers, tolerance=10):
    """Run ``jobs`` one-off jobs, ``per_second`` due at each whole second, on APScheduler 3 with
    the ``kind`` store ("memory" or "sqlalchemy"); returns the lateness (ms) by second, the
    missed count and the seconds that writing the jobs took."""
    from apscheduler.events import EVENT_JOB_MISSED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from datetime import datetime, timezone

    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    store = (MemoryJobStore() if kind == "memory"
             else SQLAlchemyJobStore(url=f"sqlite:///{os.path.join(folder, f'apscheduler-{kind}.sqlite3')}"))
    scheduler = BackgroundScheduler(jobstores={"default": store},
                                    executors={"default": ThreadPoolExecutor(workers)},
                                    job_defaults={"misfire_grace_time": tolerance, "coalesce": False},
                                    timezone="UTC")
    missed = []
    scheduler.add_listener(lambda event: missed.append(event), EVENT_JOB_MISSED)
    # Writing 10,000 jobs to its SQLite store takes a while (a commit each): time a sample
    # first, so that the first job is due only once all are written.
    scheduler.start(paused=True)
    sample = min(200, jobs)
    began = time.time()
    far = time.time() + 86400
    for n in range(sample):
        scheduler.add_job(peer_noop, "date", run_date=datetime.fromtimestamp(far + n, timezone.utc), args=[far + n],
                          id=f"sample-{n}")
    estimate = (time.time() - began) / sample * jobs
    scheduler.remove_all_jobs()
    start = float(int(time.time() + estimate * 1.5 + 3))
    began = time.time()
    times = [start + n // per_second for n in range(jobs)]
    for n, when in enumerate(times):
        scheduler.add_job(peer_noop, "date", run_date=datetime.fromtimestamp(when, timezone.utc), args=[when],
                          id=f"job-{n}")
    written = time.time() - began
    EXECUTED.clear()
    scheduler.resume()
    deadline = times[-1] + 60
    while len(EXECUTED) + len(missed) < jobs and time.time() < deadline:
        time.sleep(0.1)
    scheduler.shutdown(wait=True)
    by_second = {}
    for scheduled, when in EXECUTED:
        by_second.setdefault(scheduled, []).append((when - scheduled) * 1000)
    return by_second, len(missed) + (jobs - len(EXECUTED) - len(missed)), written


def summary(by_second):
    late = [value for values in by_second.values() for value in values]
    return {"p50": pct(late, 50), "p99": pct(late, 99), "max": max(late) if late else float("nan")}
