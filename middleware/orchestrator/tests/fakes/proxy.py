"""A TCP proxy on 127.0.0.1 that can be cut and restored: a broker outage on demand.

:class:`CuttableProxy` forwards each connection to ``target`` (the local RabbitMQ, for the run
events tests). :meth:`~CuttableProxy.cut` hangs up every connection through it and, until
:meth:`~CuttableProxy.restore`, hangs up each new one as soon as it is accepted: to the client,
a broker that went away and does not come back yet.
"""
import socket
import threading


class CuttableProxy:
    """Listens on ``127.0.0.1:<port>`` and forwards to ``(host, port)`` while it is up."""

    def __init__(self, host, port):
        self.target = (host, port)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)  # lets the accept loop notice close() quickly
        self.port = self._sock.getsockname()[1]
        self.up = True
        self.refused = 0             # connections hung up on while cut
        self._live = set()           # sockets of the connections being forwarded
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stopping.is_set():
            try:
                client, _ = self._sock.accept()
            except (socket.timeout, OSError):
                continue
            if not self.up:
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._live |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._hang_up(src, dst)

    def _hang_up(self, *socks):
        with self._lock:
            self._live -= set(socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv on it
            except OSError:
                pass
            sock.close()

    def cut(self):
        """Hang up every connection, and every new one until :meth:`restore`."""
        self.up = False
        with self._lock:
            live = list(self._live)
        self._hang_up(*live)

    def restore(self):
        self.up = True

    def close(self):
        self._stopping.set()
        self._thread.join(timeout=5)
        self.cut()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
