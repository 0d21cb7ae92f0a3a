"""The web cron target: a local HTTP/1.1 keep-alive server whose every answer takes 1 ms,
counting the hits and the connections it accepted. Run as a process of its own, on 127.0.0.1::

    python bench/webtarget.py PORT_FILE

It writes its port to PORT_FILE once it listens; ``GET /stats`` answers the counts as JSON
(and is not counted as a hit). One asyncio loop serves every connection, parsing no more than
the request line and the end of the headers: the benchmark measures the caller, so the target
spends as little CPU as it can."""
import asyncio
import json
import os
import sys
import time


class Counts:
    def __init__(self):
        self.hits, self.connections, self.first, self.last = 0, 0, None, None
        self.cpu_start = time.process_time()


async def serve(counts, reader, writer):
    counts.connections += 1
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            if path == b"/stats":
                body = json.dumps({"hits": counts.hits, "connections": counts.connections, "first": counts.first,
                                   "last": counts.last, "cpu_s": time.process_time() - counts.cpu_start}).encode()
            else:
                now = time.time()
                counts.hits += 1
                counts.first = counts.first or now
                counts.last = now
                await asyncio.sleep(0.001)
                body = b"ok"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port_file):
    counts = Counts()
    server = await asyncio.start_server(lambda r, w: serve(counts, r, w), "127.0.0.1", 0)
    with open(port_file + ".tmp", "w") as out:
        out.write(str(server.sockets[0].getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
