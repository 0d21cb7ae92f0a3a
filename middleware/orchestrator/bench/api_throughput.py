"""API throughput as shipped, against a bare Flask app, both under the production gunicorn settings.

Run from ``middleware/orchestrator``::

    python bench/api_throughput.py            # 3 rounds of 2 s warm-up + 10 s load per target
    python bench/api_throughput.py --help

Needs ``wrk`` (Debian: ``apt-get install -y wrk``) and, for the Redis figure, the Redis server
on 127.0.0.1:6379 (``--redis ''`` leaves it out). Starts gunicorn servers with the same
``gunicorn.conf.py`` (workers, threads, worker class, access log on), bound to free ports on
127.0.0.1:

* ``store``: ``dispatcher:app`` as shipped: the rate limiter on, counting in the store
  (``RATELIMIT_STORAGE_URI`` left at its default), with a limit too high to trip; a Dummy
  ``default`` cloud of 100 nodes (kept in the store), a temporary SQLite store, an
  administrator key;
* ``redis``: the same with ``RATELIMIT_STORAGE_URI`` on the local Redis;
* ``hello``: a Flask app whose one view returns ``jsonify({"hello": "world"})``.

``wrk`` (32 keep-alive connections by default) loads them in turn, round after round, so that
all see the same machine. Every round is printed, none redone or left out; the report gives
the median of the rounds: requests/s, p50/p99 latency and server CPU per request of ``GET
/api/v1/clouds/default/nodes`` (as the administrator, who sees all 100 nodes) and of ``GET
/hello``, each configuration's ratio to hello and the targets: requests/s at least 0.85 of
hello's, p99 at most twice hello's. It prints figures and never fails on them. The servers
are stopped, their whole process groups, whatever happens.
"""
import argparse
import json
import os
import platform
import re
import resource
import runpy
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)  # middleware/orchestrator: gunicorn.conf.py and dispatcher/
GUNICORN_CONF = os.path.join(PROJECT, "gunicorn.conf.py")
NODES_PATH = "/api/v1/clouds/default/nodes"
HELLO_PATH = "/hello"
NODE_COUNT = 100
TARGET_RATIO = 0.85
TARGET_P99_FACTOR = 2.0
REDIS_URL = "redis://127.0.0.1:6379/14"

SETTINGS_TEMPLATE = '''\
"""Throwaway settings written by bench/api_throughput.py."""
CLOUD_FARM = {{
    "default": {{"ENGINE": "dummy", "USER": "", "PASSWORD": "", "EXTRA_PARAMS": {{"nodes": {nodes}}}}},
}}
RATE_LIMIT = "100000000 per minute"  # limiting on, as shipped, with a limit no run reaches
INSTANCE_PATH = {instance!r}
DATABASE_URL = {database!r}
'''

HELLO_MODULE = '''\
"""The reference: the least a Flask JSON view costs under the same gunicorn settings."""
from flask import Flask, jsonify

app = Flask("hello")


@app.get("/hello")
def hello():
    return jsonify({"hello": "world"})
'''

# wrk reports through this hook: one machine-readable line instead of its human summary.
WRK_SCRIPT = '''\
wrk.method = "GET"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT {{\\"requests\\": %d, \\"duration_us\\": %d, \\"bytes\\": %d, "
    .. "\\"connect\\": %d, \\"read\\": %d, \\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, "
    .. "\\"p50_us\\": %d, \\"p90_us\\": %d, \\"p99_us\\": %d, \\"max_us\\": %d}}\\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Requests/s and latency of the node list against a hello-JSON Flask app, "
                    "both under gunicorn.conf.py, loaded by wrk.")
    parser.add_argument("--connections", "-c", type=int, default=32, help="keep-alive connections (default 32)")
    parser.add_argument("--duration", "-d", type=float, default=10.0, help="seconds measured per run (default 10)")
    parser.add_argument("--warmup", "-w", type=float, default=2.0,
                        help="seconds of unmeasured load before each run (default 2)")
    parser.add_argument("--rounds", "-r", type=int, default=3,
                        help="rounds, each loading every target in turn; every run is printed, the median reported (default 3)")
    parser.add_argument("--wrk-threads", type=int, default=os.cpu_count() or 1,
                        help="wrk threads (default: the number of CPUs)")
    parser.add_argument("--wrk", default=None, help="path of the wrk executable (default: found on PATH)")
    parser.add_argument("--client-cpus", default=None, metavar="LIST",
                        help="pin wrk to these CPUs with taskset (e.g. 1); default unpinned")
    parser.add_argument("--server-cpus", default=None, metavar="LIST",
                        help="pin every server to these CPUs with taskset (e.g. 0); default unpinned")
    parser.add_argument("--gunicorn-arg", action="append", default=[], metavar="ARG",
                        help="extra gunicorn argument given to every server, e.g. "
                             "--gunicorn-arg=--access-logfile=/dev/null (repeatable)")
    parser.add_argument("--redis", default=REDIS_URL, metavar="URL",
                        help=f"Redis for the rate-limit counts of the 'redis' server (default {REDIS_URL}; "
                             "'' leaves that server out)")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                        help="one more line of our settings file, VALUE a Python expression, for what-if "
                             "runs, e.g. --setting SCHEDULER_ENABLED=False (repeatable)")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temporary folder (settings, logs)")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.duration <= 0 or args.warmup < 0 or args.rounds < 1 or args.wrk_threads < 1:
        parser.error("connections, duration, rounds and wrk threads must be positive; warm-up >= 0")
    for line in args.setting:
        name, sep, _ = line.partition("=")
        if not sep or not name.strip().isidentifier() or not name.strip().isupper():
            parser.error(f"--setting {line!r}: expected NAME=VALUE with an upper-case NAME")
    args.wrk_threads = min(args.wrk_threads, args.connections)  # wrk needs a connection per thread
    return args


def find_wrk(explicit):
    """The wrk executable, or exit telling how to install it."""
    path = explicit or shutil.which("wrk")
    if path and os.access(path, os.X_OK):
        return path
    raise SystemExit(
        "api_throughput: wrk, the HTTP load tool, was not found"
        + (f" at {explicit!r}" if explicit else " on PATH") + ".\n"
        "Install it: 'apt-get install -y wrk' (Debian/Ubuntu, as root), 'brew install wrk' (macOS), "
        "or build it from https://github.com/wg/wrk; or pass --wrk /path/to/wrk.")


def find_taskset(wanted):
    if not wanted:
        return None
    path = shutil.which("taskset")
    if not path:
        raise SystemExit("api_throughput: --client-cpus/--server-cpus need taskset (apt-get install -y util-linux)")
    return path


def free_port():
    """A port free on 127.0.0.1 now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(command, taskset, cpus):
    return [taskset, "-c", cpus, *command] if cpus else command


class Server:
    """One gunicorn in its own process group, its output in a log file."""

    def __init__(self, label, app, command_prefix, env, log_path, auth=None):
        self.label, self.app, self.env, self.log_path = label, app, env, log_path
        self.auth = auth or {}  # headers every request to it carries
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = [*command_prefix, "-c", GUNICORN_CONF, "--bind", f"127.0.0.1:{self.port}", app]
        self.process = None

    def start(self, extra_args, control_socket, pythonpath=None):
        # Extra arguments go before the app, after -c: the command line wins over the file. Each
        # server gets its own control socket: gunicorn's default path is one per user, shared.
        self.command[-1:-1] = (list(extra_args) + ["--control-socket", control_socket]
                               + (["--pythonpath", pythonpath] if pythonpath else []))
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command, cwd=PROJECT, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, path, headers, timeout=60.0):
        """Poll ``path`` until it answers 200; return the body. Exit with the log on failure."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                request = urllib.request.Request(self.base + path, headers=headers)
                with urllib.request.urlopen(request, timeout=5) as answer:
                    return answer.read()
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:300]!r}"
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        raise SystemExit(f"api_throughput: the {self.label} server did not answer 200 on {path} "
                         f"({last}; exit code {self.process.poll()}).\n--- {self.log_path} (end) ---\n"
                         f"{tail(self.log_path)}")

    def stop(self):
        """Stop the whole process group: TERM, then KILL after a grace period."""
        if self.process is None or self.process.poll() is not None and not group_alive(self.process.pid):
            return
        for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and group_alive(self.process.pid):
                self.process.poll()  # reap the master so its group can empty
                time.sleep(0.1)
            if not group_alive(self.process.pid):
                break
        self.process.poll()


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as exc:
        return f"(cannot read: {exc})"


def wrk_script(path, headers):
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    with open(path, "w") as f:
        f.write(WRK_SCRIPT.format(headers=lines))
    return path


class CpuMeter:
    """Where the machine's CPU went during a run: the servers, wrk, or something else.

    Another program busy on the machine skews a run; the "other" column shows it. Linux only
    (``/proc``); elsewhere the columns stay empty.
    """

    def __init__(self, server_pgids):
        self.pgids = set(server_pgids)
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _busy(self):
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return (sum(fields[:8]) - fields[3] - fields[4]) / self.tick  # all but idle and iowait

    def _servers(self):
        """CPU seconds so far of every process of the servers' groups, by pid."""
        used = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    rest = f.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(rest[2]) in self.pgids:
                used[int(pid)] = (int(rest[11]) + int(rest[12])) / self.tick
        return used

    @staticmethod
    def _ours():
        # This script plus its reaped children: wrk, once it has exited.
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime

    def sample(self):
        try:
            return time.monotonic(), self._busy(), self._servers(), *self._ours()
        except (OSError, ValueError, IndexError):
            return None

    def shares(self, before, after):
        """Percent of all CPUs used by the servers, by wrk and by anything else."""
        if before is None or after is None:
            return {}
        capacity = (after[0] - before[0]) * (os.cpu_count() or 1)
        per_process = {pid: used - before[2].get(pid, 0.0) for pid, used in after[2].items()}
        servers = sum(per_process.values())
        busy, own, wrk = after[1] - before[1], after[3] - before[3], after[4] - before[4]
        other = max(0.0, busy - servers - own - wrk)
        # Keep-alive connections stay with the worker that accepted them: when one worker got
        # most of them, the servers use about one CPU whatever the machine has.
        top = 100 * max(per_process.values(), default=0.0) / servers if servers else 0.0
        workers = sum(1 for pid in per_process if pid not in self.pgids)  # the masters lead the groups
        return {"srv_cpu": 100 * servers / capacity, "wrk_cpu": 100 * wrk / capacity,
                "other_cpu": 100 * other / capacity, "srv_cpu_s": servers, "top_worker": top,
                "workers": workers}


def run_wrk(wrk, url, script, seconds, args, taskset, meter=None):
    """One wrk run; returns its figures as a dict (latencies in microseconds)."""
    command = pinned([wrk, "-t", str(args.wrk_threads), "-c", str(args.connections),
                      "-d", f"{max(1, round(seconds))}s", "--timeout", "5s", "-s", script, url],
                     taskset, args.client_cpus)
    before = meter.sample() if meter else None
    done = subprocess.run(command, capture_output=True, text=True)
    after = meter.sample() if meter else None
    match = re.search(r"^WRK_RESULT (\{.*\})$", done.stdout, re.M)
    if done.returncode != 0 or not match:
        raise SystemExit(f"api_throughput: wrk failed (exit {done.returncode}): {' '.join(command)}\n"
                         f"{done.stdout}\n{done.stderr}")
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    result.update(meter.shares(before, after) if meter else {})
    if "srv_cpu_s" in result and result["requests"]:
        result["cpu_ms"] = 1000 * result["srv_cpu_s"] / result["requests"]
    return result, command


def effective_gunicorn_settings(env):
    """workers, threads, worker class as gunicorn.conf.py yields them under ``env``."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        conf = runpy.run_path(GUNICORN_CONF)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return {k: conf.get(k) for k in ("workers", "threads", "worker_class", "keepalive", "accesslog")}


def prepare_store(env):
    """Create the store's tables and the administrator once, before the workers start: a
    settings or store problem then shows here with its traceback, not as a worker that fails
    to boot (and workers racing to create tables on a fresh file is not what is measured)."""
    done = subprocess.run([sys.executable, "-c", "from dispatcher.application import create_app; create_app()"],
                          cwd=PROJECT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"api_throughput: cannot prepare the store:\n{done.stdout}{done.stderr}")


def check_nodes_body(body):
    data = json.loads(body)
    if data.get("total") != NODE_COUNT or len(data.get("items", ())) != NODE_COUNT:
        raise SystemExit(f"api_throughput: expected {NODE_COUNT} nodes, got total={data.get('total')} "
                         f"items={len(data.get('items', ()))}")


def measure(targets, args, wrk, taskset, meter):
    """Load the targets in turn, round after round; every run is kept and printed."""
    results = {label: [] for label in targets}
    shown = set()
    for n in range(args.rounds):
        for label, (server, path, script) in targets.items():
            if args.warmup:
                run_wrk(wrk, server.base + path, script, args.warmup, args, taskset)
            result, command = run_wrk(wrk, server.base + path, script, args.duration, args, taskset, meter)
            if label not in shown:
                shown.add(label)
                print(f"wrk command ({label}): {' '.join(command)}")
            print(f"  round {n + 1} {label:<6} {result['rps']:8.0f} req/s  p99 {result['p99_us'] / 1e3:7.2f} ms",
                  flush=True)
            results[label].append(result)
    return results


def report(results, args, body_sizes):
    labels = list(results)
    paths = {label: HELLO_PATH if label == "hello" else NODES_PATH for label in labels}
    print(f"\nEvery run ({args.connections} connections, {args.duration:g} s each after {args.warmup:g} s warm-up):")
    print(f"  {'run':<5}{'target':<8}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
          f"{'srv CPU':>9}{'top wkr':>9}{'wrk CPU':>9}{'other':>7}")
    for n in range(args.rounds):
        for label in labels:
            r = results[label][n]
            cpu = "".join(f"{r[k]:>{w}.0f}%" if k in r else f"{'-':>{w + 1}}"
                          for k, w in (("srv_cpu", 8), ("top_worker", 8), ("wrk_cpu", 8), ("other_cpu", 6)))
            print(f"  {n + 1:<5}{label:<8}{r['rps']:>9.0f}{r['p50_us'] / 1e3:>9.2f}{r['p90_us'] / 1e3:>9.2f}"
                  f"{r['p99_us'] / 1e3:>9.2f}{r['max_us'] / 1e3:>9.2f}{r['errors']:>8}{cpu}")
    print("  (srv/wrk CPU, other: percent of all CPUs during the run, 'other' being load from outside the\n"
          "   benchmark; top wkr: share of the server's CPU used by its busiest worker)")

    measured_cpu = all("cpu_ms" in r for runs in results.values() for r in runs)
    keys = ("rps", "p50_us", "p99_us") + (("cpu_ms",) if measured_cpu else ())
    median = {label: {key: statistics.median(r[key] for r in runs) for key in keys} for label, runs in results.items()}
    hello = median["hello"]
    print(f"\nMedian of {args.rounds} round(s), as shipped (access log on; rate limiter on for store and redis):")
    print(f"  {'target':<8}{'endpoint':<32}{'body B':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}"
          f"{'req/s ratio':>13}{'p99 ratio':>11}")
    for label in labels:
        m = median[label]
        print(f"  {label:<8}{paths[label]:<32}{body_sizes[label]:>8}{m['rps']:>9.0f}{m['p50_us'] / 1e3:>9.2f}"
              f"{m['p99_us'] / 1e3:>9.2f}" + (f"{m['cpu_ms']:>12.3f}" if "cpu_ms" in m else f"{'-':>12}")
              + f"{m['rps'] / hello['rps']:>13.3f}{m['p99_us'] / hello['p99_us']:>11.2f}")
    print()
    for label in labels:
        if label == "hello":
            continue
        m = median[label]
        ratio, p99 = m["rps"] / hello["rps"], m["p99_us"] / hello["p99_us"]
        print(f"target {label}: req/s >= {TARGET_RATIO:.2f} x hello: {'met' if ratio >= TARGET_RATIO else 'NOT met'} "
              f"({ratio:.3f}); p99 <= {TARGET_P99_FACTOR:g} x hello's: {'met' if p99 <= TARGET_P99_FACTOR else 'NOT met'} "
              f"({m['p99_us'] / 1e3:.2f} ms vs {hello['p99_us'] / 1e3:.2f} ms)"
              + (f"; CPU per request hello/{label}: {hello['cpu_ms'] / m['cpu_ms']:.3f}" if "cpu_ms" in m else ""))
    errors = sum(r["errors"] for runs in results.values() for r in runs)
    if errors:
        print(f"warning: wrk counted {errors} errors (non-2xx, timeouts, socket errors): see the per-run table")


def main(argv=None):
    args = parse_args(argv)
    wrk = find_wrk(args.wrk)
    taskset = find_taskset(args.client_cpus)
    # SIGTERM runs the finally clauses as Ctrl-C does, so the servers are stopped either way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    one, five, fifteen = os.getloadavg()
    print(f"api throughput: [load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)]", flush=True)
    tmp = tempfile.mkdtemp(prefix="orchestrator-bench-")
    servers = []
    try:
        servers = setup(tmp, args)
        run(servers, tmp, args, wrk, taskset)
    finally:
        for server in servers:
            server.stop()
        if args.keep_temp:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def setup(tmp, args):
    """Write the settings, the hello app and the key; return the servers, not started."""
    admin_key = "orc_" + secrets.token_urlsafe(32)
    with open(os.path.join(tmp, "bench_hello.py"), "w") as f:
        f.write(HELLO_MODULE)
    taskset = find_taskset(args.server_cpus)
    prefix = pinned([sys.executable, "-m", "gunicorn"], taskset, args.server_cpus)
    servers = []
    for label, extra in (("store", []), ("redis", [f"RATELIMIT_STORAGE_URI = {args.redis!r}"]), ("hello", [])):
        if label == "redis" and not args.redis:
            continue
        settings_path = os.path.join(tmp, f"settings_{label}.py")
        with open(settings_path, "w") as f:
            f.write(SETTINGS_TEMPLATE.format(nodes=NODE_COUNT, instance=os.path.join(tmp, f"instance_{label}"),
                                             database="sqlite:///" + os.path.join(tmp, f"{label}.sqlite3")))
            f.write("".join(f"{line}\n" for line in extra + args.setting))
        # The same environment but for the settings file, so gunicorn.conf.py resolves alike.
        env = {**os.environ, "ORCHESTRATOR_SETTINGS": settings_path, "ORCHESTRATOR_ADMIN_KEY": admin_key,
               "PYTHONUNBUFFERED": "1"}
        env.pop("DATABASE_URL", None)  # the environment would override the settings file's store
        if label == "hello":
            servers.append(Server(label, "bench_hello:app", prefix, env, os.path.join(tmp, "hello.log")))
        else:
            servers.append(Server(label, "dispatcher:app", prefix, env, os.path.join(tmp, f"{label}.log"),
                                  auth={"Authorization": f"Bearer {admin_key}"}))
    return servers


def run(servers, tmp, args, wrk, taskset):
    """Start the servers, check what they answer, load them in turn and print the report."""
    env = servers[0].env
    conf = effective_gunicorn_settings(env)
    extra = " ".join(args.gunicorn_arg)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{subprocess.run([wrk, '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"gunicorn.conf.py as resolved for every server: {conf}" + (f" {extra}" if extra else ""))
    print(f"store, redis: Dummy cloud 'default' with {NODE_COUNT} nodes, administrator key, rate limiter on "
          f"(RATE_LIMIT 100,000,000 per minute) counting in the store (store) or in {args.redis or '-'} (redis); "
          f"temp folder {tmp}")
    print("store, redis: the administrator's list is encoded once per NODE_LIST_SECONDS in each worker, and "
          "answered from that page before Flask dispatches the request (dispatcher/api/hotpages.py) while "
          "the key is in the worker's AUTH_CACHE_SECONDS cache; every request is still counted by the rate "
          "limiter, the metrics and the access log")
    if args.setting:
        print(f"extra settings (what-if): {'; '.join(args.setting)}")
    print(f"server command: {' '.join(servers[0].command[:-3])} --bind 127.0.0.1:PORT" + (f" {extra}" if extra else "")
          + " --control-socket TMP/NAME.ctl [--pythonpath TMP] dispatcher:app | bench_hello:app")
    if args.server_cpus or args.client_cpus:
        print(f"pinning: servers on CPUs {args.server_cpus or 'any'}, wrk on CPUs {args.client_cpus or 'any'}")

    if args.redis:
        clear_redis(args.redis)
    targets, body_sizes = {}, {}
    for server in servers:
        if server.label != "hello":
            prepare_store(server.env)
        server.start(args.gunicorn_arg, os.path.join(tmp, f"{server.label}.ctl"),
                     pythonpath=tmp if server.label == "hello" else None)
    for server in servers:
        path = HELLO_PATH if server.label == "hello" else NODES_PATH
        body = server.wait_ready(path, server.auth)
        if server.label != "hello":
            check_nodes_body(body)
        body_sizes[server.label] = len(body)
        targets[server.label] = (server, path, wrk_script(os.path.join(tmp, f"{server.label}.lua"), server.auth))
    meter = CpuMeter([server.process.pid for server in servers])
    report(measure(targets, args, wrk, taskset, meter), args, body_sizes)


def clear_redis(url):
    """Empty the benchmark's Redis database; exit saying how to leave Redis out when it is not there."""
    try:
        import redis

        redis.Redis.from_url(url).flushdb()
    except Exception as exc:
        raise SystemExit(f"api_throughput: Redis at {url} cannot be used ({type(exc).__name__}: {exc}); "
                         f"start it, or pass --redis '' to leave the Redis figure out")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers are stopped by then
        sys.exit("api_throughput: interrupted")
