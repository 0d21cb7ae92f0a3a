"""Retries, time-outs and answers the live service does not give on demand (a 503, a proxy's
error page, a server that does not answer in time), from a scripted HTTP server on 127.0.0.1."""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import threading
import time

import pytest

from orchestrator_client import Client, CloudError, ConnectionFailed, ServiceUnavailable


class Scripted:
    """An HTTP server answering each request with the next ``(status, headers, body, delay)``
    of its script (the last one again once the script is spent), and recording the requests."""

    def __init__(self, *script):
        self.script, self.requests = list(script), []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scripted.requests.append((self.command, self.path))
                status, headers, body, delay = scripted.script.pop(0) if len(scripted.script) > 1 else scripted.script[0]
                time.sleep(delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Length": str(len(data)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def unavailable(retry_after=None):
    headers = {"Content-Type": "application/json", **({"Retry-After": retry_after} if retry_after else {})}
    return 503, headers, {"error": {"code": "store_unavailable", "message": "the store is away", "details": {}}}, 0


OK = (200, {"Content-Type": "application/json"}, {"status": "ok"}, 0)


@pytest.fixture
def scripted():
    made = []

    def make(*script):
        made.append(Scripted(*script))
        return made[-1]
    yield make
    for server in made:
        server.close()


def observed(client):
    """The pauses the client takes, recorded instead of slept."""
    waits = []
    client.sleep = waits.append
    return waits


def test_a_503_with_retry_after_is_waited_for_then_retried(scripted):
    server = scripted(unavailable("2"), OK)
    with Client(server.url, "key", retries=2) as client:
        waits = observed(client)
        assert client.health() == {"status": "ok"}
    assert waits == [2.0] and len(server.requests) == 2


def test_a_503_without_retry_after_retries_a_get_but_not_a_post(scripted):
    server = scripted(unavailable(), unavailable(), OK)
    with Client(server.url, "key", retries=3) as client:
        waits = observed(client)
        assert client.health() == {"status": "ok"}
        assert waits == [0.25, 0.5]  # growing pauses
        with pytest.raises(ServiceUnavailable) as caught:
            server.script[:] = [unavailable()]
            client.create_job({"cron": "* * * * *"}, {"type": "url", "url": "http://x/"})
    assert (caught.value.status, caught.value.code) == (503, "store_unavailable")
    assert [r for r in server.requests if r[0] == "POST"] == [("POST", "/api/v1/jobs")]  # sent once


def test_retry_after_zero_still_pauses(scripted):
    server = scripted((429, {"Retry-After": "0"}, {"error": {"code": "rate_limited", "message": "slow down",
                                                             "details": {}}}, 0), OK)
    with Client(server.url, "key") as client:
        waits = observed(client)
        assert client.health() == {"status": "ok"}
    assert waits == [0.25]


def test_a_proxy_error_page_raises_by_its_status(scripted):
    server = scripted((502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>", 0))
    with Client(server.url, "key") as client:
        with pytest.raises(CloudError) as caught:
            client.job("some-job")
    assert caught.value.status == 502 and caught.value.code is None
    assert caught.value.message == "HTTP 502 Bad Gateway" and caught.value.details == {}


def test_an_answer_slower_than_the_timeout_is_a_connection_failure(scripted):
    server = scripted((200, {"Content-Type": "application/json"}, {"status": "ok"}, 2.0))
    started = time.monotonic()
    with Client(server.url, "key", timeout=0.3, retries=1) as client:
        waits = observed(client)
        with pytest.raises(ConnectionFailed) as caught:
            client.health()
    assert caught.value.status is None and "timed out" in str(caught.value).lower()
    assert len(server.requests) == 2 and waits == [0.25]  # a GET is tried again
    assert time.monotonic() - started < 3.5  # not the 4 s of two attempts that waited for the answer
