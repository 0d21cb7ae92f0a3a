"""Scheduler benchmarks: memory per job, lateness, firings per second, same-second bursts,
pickup across gunicorn workers, and provisions against a slow cloud.

Run from ``middleware/orchestrator``::

    python bench/scheduler.py           # every scenario (a few minutes)
    python bench/scheduler.py --only lateness,burst

Each scenario builds the application over a fresh SQLite store in a temporary folder and
drives the real scheduler (its loop, claims, executor and recorder); jobs are written to the
store in bulk so that set-up time does not count. Figures are printed beside their targets;
nothing is asserted.
"""
import argparse
from datetime import datetime, timezone
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sqlalchemy import func, insert, select  # noqa: E402

from dispatcher.application import create_app  # noqa: E402
from dispatcher.lib import store  # noqa: E402
from dispatcher.lib.actions.method import register_method  # noqa: E402

ADMIN_KEY = "bench-admin-key-0123456789abcdef"
NOOP = json.dumps({"type": "method", "name": "bench.noop", "parameters": {}})


EXECUTED = []  # (scheduled for, when the action actually began), appended by the pool's threads


@register_method("bench.noop")
def noop(context):
    """A trivial job: the benchmark measures the scheduler, not the action."""
    EXECUTED.append((context.scheduled_for.timestamp(), time.time()))


def build(folder, **settings):
    config = {"INSTANCE_PATH": folder, "ORCHESTRATOR_ADMIN_KEY": ADMIN_KEY, "RATE_LIMIT": "",
              "SCHEDULER_ENABLED": False, **settings}
    app = create_app(config)
    engine = app.extensions["orchestrator.engine"]
    with engine.connect() as conn:
        admin = conn.execute(select(store.accounts.c.id)).scalar()
    return app, engine, admin


def add_jobs(engine, admin, times, schedule=None, action=NOOP):
    """Write jobs straight to the store: one per fire time in ``times`` (epoch seconds)."""
    now = time.time()
    rows = []
    for when in times:
        if schedule is None:
            when = float(math.ceil(when))  # fire times are whole seconds, as the API stores them
        spec = schedule or {"at": datetime.fromtimestamp(when, timezone.utc).isoformat(),
                            "timezone": "UTC", "tolerance": 10}
        rows.append({"id": uuid.uuid4().hex, "account_id": admin, "name": "bench", "group": None,
                     "schedule": json.dumps(spec), "action": action, "overlap": "skip", "paused": False,
                     "next_run_at": when, "created_at": now, "updated_at": now})
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(store.jobs), rows[start:start + 5000])
    return [r["id"] for r in rows]


def runs(engine, *columns, where=None):
    query = select(*columns)
    if where is not None:
        query = query.where(where)
    with engine.connect() as conn:
        return conn.execute(query).all()


def wait_finished(engine, expected, timeout):
    deadline = time.monotonic() + timeout
    finished = 0
    while time.monotonic() < deadline:
        finished = runs(engine, func.count(), where=store.runs.c.finished_at.is_not(None))[0][0]
        if finished >= expected:
            return finished
        time.sleep(0.1)
    return finished


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def line(name, value, target, ok):
    print(f"  {name:<44} {value:>14}   target {target:<12} {'met' if ok else 'NOT met'}")


# -- scenarios ------------------------------------------------------------------------------

def _rss_after_scheduling(folder):
    """Resident memory (bytes) of a fresh process before and after its scheduler ran for 2 s."""
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "from scheduler import build, current_rss\n"
            "app, engine, admin = build(%r)\n"
            "before = current_rss(); s = app.extensions['orchestrator.scheduler']; s.start()\n"
            "time.sleep(2.0); print(before, current_rss()); s.stop(wait=False)\n") % (
        os.path.dirname(os.path.abspath(__file__)), folder)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


def current_rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def scenario_memory(folder, jobs=100_000):
    print(f"memory: {jobs} active recurring jobs (due tomorrow), scheduler active, against an empty store")
    empty = os.path.join(folder, "empty")
    build(empty)
    base_before, base_after = _rss_after_scheduling(empty)
    full = os.path.join(folder, "full")
    app, engine, admin = build(full)
    tomorrow = time.time() + 86400
    schedule = {"frequency": "daily", "interval": 1, "start": datetime.fromtimestamp(tomorrow, timezone.utc).isoformat(),
                "timezone": "UTC", "tolerance": 10}
    add_jobs(engine, admin, [tomorrow] * jobs, schedule=schedule)
    before, after = _rss_after_scheduling(full)
    per_job = max(0, (after - before) - (base_after - base_before)) / jobs
    line("scheduler memory per job", f"{per_job:.1f} B", "<= 1 KB", per_job <= 1024)
    size = os.path.getsize(os.path.join(full, "orchestrator.sqlite3"))
    print(f"  (process grew {(after - before) / 1024:.0f} KiB with {jobs} jobs, {(base_after - base_before) / 1024:.0f} KiB "
          f"with none; jobs live in the store, {size / jobs:.0f} B each on disk; the loop reads only due ones)")


def scenario_lateness(folder, jobs=10_000, spread=20.0):
    print(f"lateness: {jobs} one-off jobs spread over {spread:g} s (whole seconds: {jobs / spread:.0f} due each second)")
    app, engine, admin = build(folder)
    start = time.time() + 5.0  # writing the jobs takes a while: none may be due before the start
    add_jobs(engine, admin, [start + spread * i / jobs for i in range(jobs)])
    scheduler = app.extensions["orchestrator.scheduler"]
    EXECUTED.clear()
    scheduler.start()
    wait_finished(engine, jobs, spread + 60)
    scheduler.stop()
    # Lateness: from the scheduled time to the moment the action itself began in the pool.
    late = [(began - scheduled) * 1000 for scheduled, began in EXECUTED]
    missed = runs(engine, func.count(), where=store.runs.c.status == "Missed")[0][0]
    line("lateness p50", f"{pct(late, 50):.1f} ms", "-", True)
    line("lateness p99", f"{pct(late, 99):.1f} ms", "<= 20 ms", pct(late, 99) <= 20)
    line("lateness max", f"{max(late):.1f} ms", "<= 100 ms", max(late) <= 100)
    line("missed", f"{missed}", "0", missed == 0)


def scenario_throughput(folder, jobs=20_000):
    print(f"throughput: {jobs} one-off jobs all due at once, run records persisted")
    app, engine, admin = build(folder, SCHEDULER_BATCH=2000)
    due = time.time() + 1.0
    add_jobs(engine, admin, [due] * jobs)
    scheduler = app.extensions["orchestrator.scheduler"]
    scheduler.start()
    done = wait_finished(engine, jobs, 300)
    scheduler.stop()
    first, last = runs(engine, func.min(store.runs.c.submitted_at), func.max(store.runs.c.finished_at))[0]
    rate = done / (last - max(first, due))
    line("firings per second (claimed to recorded)", f"{rate:,.0f}/s", ">= 1,000/s", rate >= 1000)


def scenario_burst(folder, jobs=1000, seconds=5):
    print(f"burst: {jobs} recurring jobs due every second, for {seconds} s")
    app, engine, admin = build(folder)
    start = int(time.time()) + 2
    schedule = {"frequency": "secondly", "interval": 1,
                "start": datetime.fromtimestamp(start, timezone.utc).isoformat(), "timezone": "UTC", "tolerance": 10}
    ids = add_jobs(engine, admin, [float(start)] * jobs, schedule=schedule)
    scheduler = app.extensions["orchestrator.scheduler"]
    EXECUTED.clear()
    scheduler.start()
    time.sleep(start + seconds - time.time())
    with engine.begin() as conn:
        conn.execute(store.jobs.update().where(store.jobs.c.id.in_(ids)).values(paused=True))
    time.sleep(1.0)
    scheduler.stop()
    missed = runs(engine, func.count(), where=store.runs.c.status == "Missed")[0][0]
    spreads, per_second = {}, {}
    for scheduled, began in EXECUTED:
        if scheduled < start + seconds:
            spreads[scheduled] = max(spreads.get(scheduled, 0.0), began - scheduled)
            per_second[scheduled] = per_second.get(scheduled, 0) + 1
    worst = max(spreads.values()) * 1000
    line("runs per second (each of the seconds)", f"{min(per_second.values())}-{max(per_second.values())}",
         f"{jobs}", min(per_second.values()) == jobs)
    line("last of a second's runs started after", f"{worst:.0f} ms", "<= 250 ms", worst <= 250)
    line("missed", f"{missed}", "0", missed == 0)


def scenario_pickup(folder, samples=20):
    print(f"pickup: a run created over HTTP through another gunicorn worker ({samples} samples, -w 4)")
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "..", "tests"))
    from service import Service  # the test suite's gunicorn runner

    service = Service(folder, ADMIN_KEY, workers=4,
                      settings="from dispatcher.lib.actions.method import register_method\n"
                               "register_method('bench.noop')(lambda context: None)\n").start()
    try:
        _, job = service.call("POST", "/api/v1/jobs", {"schedule": {"cron": "0 0 1 1 *"},
                                                        "action": {"type": "method", "name": "bench.noop"}})
        delays = []
        for _ in range(samples):
            _, run = service.call("POST", f"/api/v1/jobs/{job['id']}/run")
            for _ in range(100):
                _, detail = service.call("GET", f"/api/v1/runs/{run['run_id']}")
                if detail["started_at"]:
                    break
                time.sleep(0.02)
            submitted = datetime.fromisoformat(detail["submitted_at"].replace("Z", "+00:00"))
            started = datetime.fromisoformat(detail["started_at"].replace("Z", "+00:00"))
            delays.append((started - submitted).total_seconds() * 1000)
            time.sleep(0.05)
    finally:
        service.stop()
    line("pickup p50", f"{pct(delays, 50):.0f} ms", "-", True)
    line("pickup max", f"{max(delays):.0f} ms", "<= 100 ms", max(delays) <= 100)


def scenario_provision(folder, jobs=100, latency=0.5):
    print(f"provision: {jobs} provision jobs due at once, a cloud answering every call in {latency:g} s")
    farm = {"default": {"ENGINE": "dummy", "EXTRA_PARAMS": {"latency": latency}}}
    app, engine, admin = build(folder, CLOUD_FARM=farm)
    action = json.dumps({"type": "provision", "cloud": "default", "image": "1", "size": "1", "name": "bench-{n}",
                         "count": 1, "wait": True, "timeout": 60})
    # Warm the image and size catalog once, as a long-running service has.
    cloud = app.extensions["orchestrator.clouds"].get("default")
    cloud._lookup("images", "1", "image"), cloud._lookup("sizes", "1", "size")
    due = time.time() + 1.0
    add_jobs(engine, admin, [due] * jobs, action=action)
    scheduler = app.extensions["orchestrator.scheduler"]
    scheduler.start()
    wait_finished(engine, jobs, 120)
    scheduler.stop()
    last, = runs(engine, func.max(store.runs.c.finished_at))[0]
    failed = runs(engine, func.count(), where=store.runs.c.status != "Completed")[0][0]
    line(f"{jobs} provisions done after", f"{last - due:.2f} s", "<= 3 s", last - due <= 3)
    line("failed", f"{failed}", "0", failed == 0)


SCENARIOS = {"memory": scenario_memory, "lateness": scenario_lateness, "throughput": scenario_throughput,
             "burst": scenario_burst, "pickup": scenario_pickup, "provision": scenario_provision}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, SQLite store")
    for name in args.only.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as folder:
            SCENARIOS[name](folder)


if __name__ == "__main__":
    main()
