"""A loopback SMTP sink for the send benchmark, run as its own process so it has a core of
its own and does not take the sender's GIL: `python -m bench.sink` prints its port, accepts
and counts every message, and when its standard input closes prints the count and exits."""

from __future__ import annotations

import asyncio
import sys

from aiosmtpd.smtp import SMTP


class Counter:
    def __init__(self):
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server, session, envelope):
        self.messages += len(envelope.rcpt_tos)
        self.bytes += len(envelope.content)
        return "250 2.0.0 OK: queued"


async def serve() -> Counter:
    loop = asyncio.get_running_loop()
    counter = Counter()
    server = await loop.create_server(lambda: SMTP(counter, hostname="localhost"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes our stdin
    server.close()
    return counter


if __name__ == "__main__":
    counted = asyncio.run(serve())
    print(f"{counted.messages} {counted.bytes}", flush=True)
