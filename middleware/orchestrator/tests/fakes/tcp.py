"""Bare TCP peers on 127.0.0.1 for the tests that need a port and nothing behind it.

:class:`SilentServer` accepts every connection and never sends a byte: a cloud endpoint
pointed at it makes the HTTP client wait for an answer until its timeout (the 504 path), and a
node ping aimed at it finds the port open. :func:`closed_port` gives a port nobody listens on
(connection refused: the "could not be reached" path). :class:`BrokenServer` starts an answer
and hangs up in the middle of it.
"""
import socket
import threading


class SilentServer:
    """Listens on ``127.0.0.1:<port>``, accepts, holds connections open, answers nothing."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)  # lets the accept loop notice close() quickly
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.accepted = 0
        self._held = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"silent-{self.port}", daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            self._held.append(conn)  # kept open, never read from nor written to

    def close(self):
        """Stop accepting and drop every held connection (clients then see a reset)."""
        self._stopping.set()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class BrokenServer(SilentServer):
    """Answers every connection with the first bytes of a chunked HTTP answer, then hangs up."""

    ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\n{\"a\":")

    def _serve(self):
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(self.ANSWER)
                except OSError:
                    pass


def closed_port():
    """A port on 127.0.0.1 with no listener (asked of the kernel, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
