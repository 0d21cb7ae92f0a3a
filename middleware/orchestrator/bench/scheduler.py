"""Scheduler benchmarks: same-second bursts, web cron, firings per second, pickup, memory per
job, provisions against a slow cloud; on SQLite or PostgreSQL, through the local executor or
Celery workers, beside APScheduler 3 on the same workload.

Run from ``middleware/orchestrator``::

    python bench/scheduler.py --peers                                  # SQLite, local executor
    python bench/scheduler.py --store postgresql                       # a database made and dropped
    python bench/scheduler.py --store postgresql --executor celery     # 2 ``orchestrator worker``s
    python bench/scheduler.py --only bursts,webcron

Each scenario runs once, on a store of its own, and drives the real scheduler (its loop,
claims, starter, executor and recorder). Jobs are written through the jobs service and runs
read through the data store: the benchmark has no SQL of its own. Every figure is printed
beside its target and, where there is one, its peer; every round (second of a burst) is
printed too; nothing is asserted. The load average is printed as each scenario begins: other
processes on the machine show in the figures.

To see what bounds a figure, profile the benchmark while it runs, e.g.
``py-spy top --pid <pid>`` or ``py-spy record -o profile.svg -- python bench/scheduler.py
--only bursts`` (``pip install 'orchestrator[bench]'``).
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
import urllib.request
import uuid

import harness
from harness import Bench, Store, every_second, figure, heading, method, note, one_off, pct

from dispatcher.lib.actions.method import register_method  # noqa: E402

EXECUTED = []  # (scheduled for, when the action began), appended by the pool's threads


@register_method("bench.noop")
def noop(context):
    """A trivial job: the benchmark measures the scheduler, not the action."""
    EXECUTED.append((context.scheduled_for.timestamp(), time.time()))


NOOP = method("bench.noop")
# Settings lines that register the no-op in processes beside the benchmark (API servers, workers).
REGISTER_NOOP = ("from dispatcher.lib.actions.method import methods, register_method\n"
                 "if 'bench.noop' not in methods:  # the settings file is read more than once\n"
                 "    register_method('bench.noop')(lambda context: None)\n")
FIRINGS_TARGET = {("sqlite", "local"): 1000, ("postgresql", "local"): 2000, ("sqlite", "celery"): 1000,
                  ("postgresql", "celery"): 1000}
QUOTED_PEERS = "Quartz on PostgreSQL 85-98/s, APScheduler 3 SQLAlchemyJobStore on SQLite ~300/s (quoted, not run here)"


def ms(value):
    return f"{value:.1f} ms"


def wait_until(when):
    time.sleep(max(0.0, when - time.time()))


# -- 1. same-second bursts ----------------------------------------------------------------------

def scenario_bursts(args, folder, jobs=10_000, per_second=500):
    seconds = jobs // per_second
    heading(f"bursts: {jobs:,} one-off no-op method jobs, {per_second} due at each whole second for {seconds} s "
            f"({args.store}, local executor){'; then APScheduler 3 on the same workload' if args.peers else ''}")
    with Store(args.store, folder) as store:
        bench = Bench(store)
        start = float(math.ceil(time.time()) + 4)  # writing the jobs takes a while: none may be due before
        bench.add_jobs("bursts", [one_off(start + n // per_second) for n in range(jobs)], NOOP)
        if time.time() > start - 1:
            print("  the jobs took too long to write: the first ones are due already; figures below are late")
        EXECUTED.clear()
        bench.scheduler.start()
        totals = bench.wait_finished(jobs, seconds + 60)
        bench.close()
    ours = by_second(EXECUTED)
    peers = {}
    if args.peers:
        import peers as apscheduler

        for kind in ("memory", "sqlalchemy"):
            found, missed, written = apscheduler.run_apscheduler(kind, folder, jobs, per_second, workers=64)
            peers[kind] = (found, missed)
            note(f"APScheduler 3 {kind}: its {jobs:,} jobs took {written:.1f} s to write, then ran")
    names = {"memory": "APScheduler MemoryJobStore", "sqlalchemy": "APScheduler SQLAlchemyJobStore/SQLite"}
    print(f"  {'round':<6}{'runs':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          + "".join(f"   {names[kind]} p50/p99/max ms" for kind in peers))
    rounds = [sorted(ours)] + [sorted(found) for found, _ in peers.values()]
    for n, second in enumerate(sorted(ours)):
        late = ours[second]
        line = f"  {n + 1:<6}{len(late):>6}{pct(late, 50):>9.1f}{pct(late, 99):>9.1f}{max(late):>9.1f}"
        for (found, _), seconds_ in zip(peers.values(), rounds[1:]):
            values = found[seconds_[n]] if n < len(seconds_) else []
            line += f"   {pct(values, 50):>8.1f} {pct(values, 99):>8.1f} {max(values, default=float('nan')):>8.1f}" \
                    + " " * (len(names["sqlalchemy"]) - 18)
        print(line)
    late = [value for values in ours.values() for value in values]
    missed = totals["by_status"].get("Missed", 0)
    summaries = {kind: _flat(found) for kind, (found, _) in peers.items()}

    def compared(key, value):
        return ", ".join(f"{names[kind]} {ms(pct(values, key) if key != 'max' else max(values))} "
                         f"(= {(pct(values, key) if key != 'max' else max(values)) / value:.1f}x ours)"
                         for kind, values in summaries.items() if values)
    figure("lateness p50", ms(pct(late, 50)), peers=compared(50, pct(late, 50)))
    figure("lateness p99", ms(pct(late, 99)), "<= 20 ms", pct(late, 99) <= 20, compared(99, pct(late, 99)))
    figure("lateness max", ms(max(late)), "<= 50 ms", max(late) <= 50, compared("max", max(late)))
    figure("missed", f"{missed}", "0", missed == 0,
           ", ".join(f"{names[kind]} {m}" for kind, (_, m) in peers.items()))
    figure("runs completed", f"{totals['by_status'].get('Completed', 0):,}", f"{jobs:,}",
           totals["by_status"].get("Completed", 0) == jobs)
    note("lateness: from the scheduled time to the moment the action itself began in the pool")


def by_second(executed):
    found = {}
    for scheduled, began in executed:
        found.setdefault(scheduled, []).append((began - scheduled) * 1000)
    return found


def _flat(found):
    return [value for values in found.values() for value in values]


# -- 2. web cron --------------------------------------------------------------------------------

class WebTarget:
    """bench/webtarget.py in a process of its own."""

    def __init__(self, folder):
        port_file = os.path.join(folder, f"target-{uuid.uuid4().hex[:6]}.port")
        self.process = subprocess.Popen([sys.executable, os.path.join(harness.HERE, "webtarget.py"), port_file])
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{open(port_file).read()}"

    def stats(self):
        return json.loads(urllib.request.urlopen(self.url + "/stats", timeout=5).read())

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def scenario_webcron(args, folder, jobs=2000):
    heading(f"webcron: {jobs:,} url jobs due in the same second against a local keep-alive HTTP server "
            f"(1 ms per answer, a process of its own) ({args.store}, local executor)")
    target = WebTarget(folder)
    try:
        with Store(args.store, folder) as store:
            bench = Bench(store)
            due = float(math.ceil(time.time()) + 3)
            bench.add_jobs("webcron", [one_off(due) for _ in range(jobs)], {"type": "url", "url": target.url + "/hit"})
            cpu = time.process_time()
            bench.scheduler.start()
            totals = bench.wait_finished(jobs, 120)
            cpu = time.process_time() - cpu
            bench.close()
        stats = target.stats()
    finally:
        target.stop()
    completed = totals["by_status"].get("Completed", 0)
    last_started = totals["last_started"] - due
    figure("hits recorded Completed", f"{completed:,}", f"{jobs:,}", completed == jobs == stats["hits"])
    figure("last run started after", f"{last_started * 1000:.0f} ms", "<= 1000 ms", last_started <= 1.0)
    figure("hits per second (due time to last finish)", f"{jobs / (totals['last_finished'] - due):,.0f}/s")
    note(f"CPU: this process {cpu:.2f} s over the scenario (scheduler, runs, store), the target {stats['cpu_s']:.2f} s")
    connections = stats["connections"] - 1   # less the one that asked for the stats
    figure("connections the target accepted", f"{connections}", "<= 10 (a host's)", connections <= 10)
    if stats["hits"]:
        note(f"the target received {stats['hits']:,} hits from {stats['first'] - due:.3f} s to "
             f"{stats['last'] - due:.3f} s after the due time; runs by status {totals['by_status']}")


# -- 3. memory per job --------------------------------------------------------------------------

def _rss_after_scheduling(store_url, folder):
    """Resident memory (bytes) of a fresh process before and after its scheduler ran for 2 s."""
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "from harness import Bench, Store\n"
            "from scheduler import current_rss\n"
            "store = Store('sqlite', %r); store.url = %r\n"
            "bench = Bench(store)\n"
            "before = current_rss(); bench.scheduler.start()\n"
            "time.sleep(2.0); print(before, current_rss()); bench.scheduler.stop(wait=False)\n") % (
        harness.HERE, folder, store_url)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


def current_rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def scenario_memory(args, folder, jobs=100_000):
    heading(f"memory: {jobs:,} active recurring jobs (due tomorrow), scheduler active, against an empty store "
            f"({args.store})")
    with Store(args.store, os.path.join(folder, "empty")) as empty:
        Bench(empty).close()
        base_before, base_after = _rss_after_scheduling(empty.url, empty.folder)
    with Store(args.store, os.path.join(folder, "full")) as full:
        bench = Bench(full)
        tomorrow = float(int(time.time()) + 86400)
        spec = {"frequency": "daily", "interval": 1, "start": datetime.fromtimestamp(tomorrow, timezone.utc).isoformat(),
                "timezone": "UTC", "tolerance": 10}
        bench.add_jobs("memory", [spec] * jobs, NOOP)
        bench.close()
        before, after = _rss_after_scheduling(full.url, full.folder)
    per_job = max(0, (after - before) - (base_after - base_before)) / jobs
    figure("scheduler memory per job", f"{per_job:.1f} B", "<= 1 KB", per_job <= 1024)
    note(f"process grew {(after - before) / 1024:.0f} KiB with {jobs:,} jobs, {(base_after - base_before) / 1024:.0f} "
         f"KiB with none; jobs live in the store, the loop reads only the due ones")


# -- 4. firings per second ---------------------------------------------------------------------

def scenario_throughput(args, folder, jobs=None):
    jobs = jobs or (20_000 if args.executor == "local" else 10_000)
    target = FIRINGS_TARGET[(args.store, args.executor)]
    heading(f"throughput: {jobs:,} one-off no-op jobs all due at once, every run recorded "
            f"({args.store}, {args.executor} executor{', 2 workers' if args.executor == 'celery' else ''})")
    with Store(args.store, folder) as store, Executor(args, store, folder) as executor:
        bench = Bench(store, SCHEDULER_BATCH=2000, **executor.config)
        due = float(math.ceil(time.time()) + 3)
        bench.add_jobs("throughput", [one_off(due, tolerance=300) for _ in range(jobs)], NOOP)
        bench.scheduler.start()
        totals = bench.wait_finished(jobs, 600)
        bench.close()
    done = totals["by_status"].get("Completed", 0)
    rate = done / (totals["last_finished"] - due)
    figure("firings per second (due to last recorded)", f"{rate:,.0f}/s", f">= {target:,}/s", rate >= target,
           QUOTED_PEERS)
    note(f"runs by status {totals['by_status']}; the last finished {totals['last_finished'] - due:.2f} s after the due time")


class Executor:
    """Nothing for the local executor; for Celery, queues of this run's own, an API server for
    the workers' settings and two ``orchestrator worker`` processes."""

    def __init__(self, args, store, folder, count=2, concurrency=32):
        self.args, self.store, self.folder = args, store, folder
        self.count, self.concurrency = count, concurrency
        self.config, self.api, self.processes = {}, None, []

    def __enter__(self):
        if self.args.executor == "celery":
            lines, self.config = harness.celery_settings(self.store, uuid.uuid4().hex[:8])
            self.api = harness.service(os.path.join(self.folder, "api"), self.store, settings=lines + REGISTER_NOOP)
            self.processes = harness.workers(self.api, self.count, self.concurrency)
            time.sleep(3.0)  # the workers connect and build their application
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.stop()
        if self.api is not None:
            self.api.stop()
            harness.delete_queues(self.config)


# -- 5. bursts of url jobs through Celery --------------------------------------------------------

def scenario_url_burst(args, folder, jobs=500):
    heading(f"url burst: {jobs} url jobs due in the same second, through Celery (2 workers) ({args.store})")
    target = WebTarget(folder)
    try:
        with Store(args.store, folder) as store, Executor(args, store, folder) as executor:
            bench = Bench(store, **executor.config)
            due = float(math.ceil(time.time()) + 3)
            bench.add_jobs("urlburst", [one_off(due) for _ in range(jobs)], {"type": "url", "url": target.url + "/hit"})
            bench.scheduler.start()
            totals = bench.wait_finished(jobs, 120)
            runs = bench.runs()
            bench.close()
        stats = target.stats()
    finally:
        target.stop()
    late = [(run["started_at"] - run["scheduled_for"]) * 1000 for run in runs if run["started_at"] is not None]
    figure("lateness p50", ms(pct(late, 50)))
    figure("lateness p99", ms(pct(late, 99)), "<= 250 ms", pct(late, 99) <= 250)
    figure("lateness max", ms(max(late)))
    completed = totals["by_status"].get("Completed", 0)
    figure("hits recorded Completed", f"{completed}", f"{jobs}", completed == jobs == stats["hits"])
    note(f"lateness: from the scheduled time to the run's start recorded by the worker; target accepted "
         f"{stats['connections']} connections")


# -- 6. pickup ------------------------------------------------------------------------------------

def scenario_pickup(args, folder, samples=20):
    heading(f"pickup: a new job due now, written over HTTP through another process (gunicorn), started by the "
            f"scheduler ({samples} samples; {args.store}, {args.executor} executor)")
    with Store(args.store, folder) as store, Executor(args, store, folder) as executor:
        bench = Bench(store, **executor.config)
        api = executor.api or harness.service(os.path.join(folder, "api"), store, settings=REGISTER_NOOP)
        try:
            bench.scheduler.start()
            time.sleep(1.0)
            delays = []
            for n in range(samples):
                now = datetime.now(timezone.utc).replace(microsecond=0)  # due at once: up to 1 s past
                status, job = api.call("POST", "/api/v1/jobs", {"name": f"pickup-{n}", "schedule": {
                    "at": now.isoformat(), "tolerance": 10}, "action": NOOP})
                assert status == 201, job
                created = _epoch(job["created_at"])
                for _ in range(200):
                    status, page = api.call("GET", f"/api/v1/jobs/{job['id']}/runs")
                    if page["items"] and page["items"][0]["started_at"]:
                        break
                    time.sleep(0.01)
                delays.append((_epoch(page["items"][0]["started_at"]) - created) * 1000)
                time.sleep(0.1)
        finally:
            if executor.api is None:
                api.stop()
            bench.close()
    print("  samples (ms): " + " ".join(f"{d:.0f}" for d in delays))
    figure("pickup p50", ms(pct(delays, 50)))
    figure("pickup max", ms(max(delays)), "<= 100 ms", max(delays) <= 100)
    note("from the job's creation (in the API process) to its run's start (in the scheduler"
         + (" and a worker)" if args.executor == "celery" else ")"))


def _epoch(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- the recurring burst, and provisions ------------------------------------------------------------

def scenario_recurring(args, folder, jobs=1000, seconds=5):
    heading(f"recurring: {jobs} recurring jobs due every second, for {seconds} s ({args.store}, local executor)")
    with Store(args.store, folder) as store:
        bench = Bench(store)
        start = float(math.ceil(time.time()) + 3)
        bench.add_jobs("recurring", [every_second(start)] * jobs, NOOP)
        EXECUTED.clear()
        bench.scheduler.start()
        wait_until(start + seconds - 0.3)
        bench.jobs.delete_group(bench.caller, "recurring")   # runs outlive their jobs
        time.sleep(1.5)
        totals = bench.totals()
        bench.close()
    rounds = {s: v for s, v in by_second(EXECUTED).items() if s < start + seconds}
    for n, second in enumerate(sorted(rounds)):
        late = rounds[second]
        print(f"  round {n + 1}: {len(late)} runs, p99 {pct(late, 99):.1f} ms, last started after {max(late):.1f} ms")
    counts = [len(v) for v in rounds.values()]
    worst = max(max(v) for v in rounds.values())
    figure("runs per second (each of the seconds)", f"{min(counts)}-{max(counts)}", f"{jobs}", min(counts) == jobs)
    figure("last of a second's runs started after", ms(worst), "<= 250 ms", worst <= 250)
    figure("missed", f"{totals['by_status'].get('Missed', 0)}", "0", not totals["by_status"].get("Missed"))


def scenario_provision(args, folder, jobs=100, latency=0.5):
    heading(f"provision: {jobs} provision jobs due at once, a cloud answering every call in {latency:g} s "
            f"({args.store}, local executor)")
    farm = {"default": {"ENGINE": "dummy", "EXTRA_PARAMS": {"latency": latency}}}
    with Store(args.store, folder) as store:
        bench = Bench(store, CLOUD_FARM=farm)
        action = {"type": "provision", "cloud": "default", "image": "1", "size": "1", "name": "bench-{n}",
                  "count": 1, "wait": True, "timeout": 60}
        # Warm the image and size catalog once, as a long-running service has.
        cloud = bench.app.extensions["orchestrator.clouds"].get("default")
        cloud._lookup("images", "1", "image"), cloud._lookup("sizes", "1", "size")
        due = float(math.ceil(time.time()) + 2)
        bench.add_jobs("provision", [one_off(due)] * jobs, action)
        bench.scheduler.start()
        totals = bench.wait_finished(jobs, 120)
        bench.close()
    failed = totals["runs"] - totals["by_status"].get("Completed", 0)
    figure(f"{jobs} provisions done after", f"{totals['last_finished'] - due:.2f} s", "<= 3 s",
           totals["last_finished"] - due <= 3)
    figure("failed", f"{failed}", "0", failed == 0)


LOCAL = {"bursts": scenario_bursts, "webcron": scenario_webcron, "throughput": scenario_throughput,
         "recurring": scenario_recurring, "pickup": scenario_pickup, "memory": scenario_memory,
         "provision": scenario_provision}
CELERY = {"throughput": scenario_throughput, "urlburst": scenario_url_burst, "pickup": scenario_pickup}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--executor", choices=("local", "celery"), default="local")
    parser.add_argument("--peers", action="store_true", help="run APScheduler 3's stores on the bursts workload too")
    parser.add_argument("--only", help="comma-separated, of: local " + ", ".join(LOCAL) + "; celery " + ", ".join(CELERY))
    args = parser.parse_args()
    scenarios = LOCAL if args.executor == "local" else CELERY
    names = args.only.split(",") if args.only else list(scenarios)
    unknown = [name for name in names if name not in scenarios]
    if unknown:
        parser.error(f"unknown scenario(s) for the {args.executor} executor: {', '.join(unknown)}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; store {args.store}, executor {args.executor}; "
          f"{harness.load_average()}", flush=True)
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as folder:
            scenarios[name](args, folder)


if __name__ == "__main__":
    main()
