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
    # Writing 10,000 jobs to its SQLite store takes a while (a commit each, slower as the table
    # grows), and a job due before the scheduler resumes is missed: so the jobs are written once
    # far in the future to time the writing, removed, and written again due only after as long
    # again, with a margin. The second writing is the one reported.
    scheduler.start(paused=True)
    far = time.time() + 86400
    began = time.time()
    for n in range(jobs):
        scheduler.add_job(peer_noop, "date", run_date=datetime.fromtimestamp(far + n, timezone.utc), args=[far + n],
                          id=f"timing-{n}")
    estimate = time.time() - began
    scheduler.remove_all_jobs()
    start = float(int(time.time() + estimate * 1.5 + 5))
    began = time.time()
    times = [start + n // per_second for n in range(jobs)]
    for n, when in enumerate(times):
        scheduler.add_job(peer_noop, "date", run_date=datetime.fromtimestamp(when, timezone.utc), args=[when],
                          id=f"job-{n}")
    written = time.time() - began
    if time.time() >= start:
        print(f"  note: APScheduler {kind}: writing the jobs took {written:.1f} s, past the first due time "
              f"(timed at {estimate:.1f} s): its first jobs start late for that reason", flush=True)
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
