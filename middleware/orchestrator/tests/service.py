"""Run the real service (gunicorn over ``dispatcher:app``) in a subprocess, and a local HTTP
target that counts the calls url jobs make to it."""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ORCHESTRATOR = pathlib.Path(__file__).resolve().parent.parent


def wait_for(predicate, timeout=20.0, step=0.05, context=None):
    """Poll ``predicate`` until it returns something true, and return that; fails only if it
    never does within ``timeout`` seconds (a bound for a hung test, not a measure), with what
    ``context()`` says (logs, say)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout:g} s" + (f"\n{context()}" if context else ""))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """gunicorn serving the API on 127.0.0.1 with a settings file and store of its own."""

    def __init__(self, folder, admin_key, workers=1, settings="", extra_env=None):
        self.folder = pathlib.Path(folder)
        self.extra_env = extra_env or {}
        self.folder.mkdir(parents=True, exist_ok=True)
        self.admin_key = admin_key
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = self.folder / "settings.py"
        self.settings.write_text(f"INSTANCE_PATH = {str(self.folder / 'instance')!r}\n"
                                 f"RATE_LIMIT = ''\nSCHEDULER_LEASE_SECONDS = 2\n{settings}")
        self.process = None
        self.log = self.folder / "service.log"

    def start(self, timeout=30):
        env = {**os.environ, "ORCHESTRATOR_SETTINGS": str(self.settings), "ORCHESTRATOR_ADMIN_KEY": self.admin_key,
               "ORCHESTRATOR_BIND": f"127.0.0.1:{self.port}", "ORCHESTRATOR_WORKERS": str(self.workers),
               "ORCHESTRATOR_ACCESS_LOG": "/dev/null", **self.extra_env}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "dispatcher:app"],
                                            cwd=ORCHESTRATOR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the service did not answer: {self.log.read_text()[-2000:]}")

    def call(self, method, path, body=None, key=None):
        """(status, parsed JSON body) of one API call, with the administrator's key or ``key``."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {key or self.admin_key}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def kill(self):
        """kill -9 the master and its workers: no clean-up code runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


class Process:
    """An ``orchestrator`` command (``scheduler``, ``worker``) over a :class:`Service`'s settings
    and store, in a process group of its own."""

    def __init__(self, service, *command, extra_env=None):
        self.service = service
        self.command = command
        self.extra_env = extra_env or {}
        self.process = None
        self.log = service.folder / f"{'-'.join(command)}-{free_port()}.log"

    def start(self):
        env = {**os.environ, "ORCHESTRATOR_SETTINGS": str(self.service.settings),
               "ORCHESTRATOR_ADMIN_KEY": self.service.admin_key, **self.extra_env}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "dispatcher.cli", *self.command], cwd=ORCHESTRATOR,
                                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


class CountingTarget:
    """A local HTTP server counting the requests each path receives (GET, or POST: a webhook's
    deliveries); ``/slow`` takes 30 s."""

    def __init__(self):
        self.hits = {}
        lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with lock:
                    target.hits[self.path] = target.hits.get(self.path, 0) + 1
                if self.path.startswith("/slow"):
                    time.sleep(30)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.do_GET()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
