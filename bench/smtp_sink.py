"""An SMTP sink for the sending bench, in its own process: accepts everything, keeps counts.

    python bench/smtp_sink.py --port 2525 --stats /tmp/sink.json [--latency-ms 20]

It listens on 127.0.0.1 only (aiosmtpd), offers PIPELINING, counts messages and distinct
Message-IDs, and notes when each message arrived. On SIGTERM it writes the counts, the
Message-IDs and the arrival times as JSON to --stats and exits.

`--latency-ms` makes it a distant relay: every answer leaves that long after it was
written, in order, without holding up the commands behind it (as a network would, so a
client that pipelines gains what it would gain over a real link).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import time

from aiosmtpd.smtp import SMTP


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0
        self.recipients = 0
        self.ids: list[str] = []
        self.times: list[float] = []
        self.first: float | None = None
        self.last: float | None = None

    async def handle_DATA(self, server, session, envelope):
        now = time.time()
        if self.first is None:
            self.first = now
        self.last = now
        data = envelope.original_content or envelope.content
        self.count += 1
        self.bytes += len(data)
        self.recipients += len(envelope.rcpt_tos)
        self.ids.append(message_id(data))
        self.times.append(now)
        return "250 OK"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    def summary(self) -> dict:
        return {
            "count": self.count,
            "distinct_ids": len(set(self.ids)),
            "recipients": self.recipients,
            "bytes": self.bytes,
            "first": self.first,
            "last": self.last,
            "ids": self.ids,
            "times": self.times,
        }


class DistantSMTP(SMTP):
    """aiosmtpd's server with every answer delayed by `latency` seconds on its way out."""

    latency = 0.0

    def connection_made(self, transport):
        super().connection_made(transport)
        if self.latency <= 0:
            return
        loop = asyncio.get_running_loop()
        write, close = transport.write, transport.close
        waiting: collections.deque = collections.deque()
        closing = []

        def flush():
            now = loop.time()
            while waiting and waiting[0][0] <= now + 0.0005:
                write(waiting.popleft()[1])
            if waiting:
                loop.call_at(waiting[0][0], flush)
            elif closing:
                close()

        def delayed_close():  # the last answers (221 to QUIT) still go out first
            if waiting:
                closing.append(True)
            else:
                close()

        transport.close = delayed_close

        def delayed(data):
            waiting.append((loop.time() + self.latency, bytes(data)))
            if len(waiting) == 1:
                loop.call_at(waiting[0][0], flush)

        transport.write = delayed


def message_id(data: bytes) -> str:
    """The Message-ID header of a message (headers end at the first empty line)."""
    head = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n")
    for line in head.split(b"\n"):
        if line[:11].lower() == b"message-id:":
            return line[11:].strip().decode("ascii", "replace")
    return ""


async def serve(port: int, stats: str, latency: float = 0.0) -> None:
    counter = Counter()
    loop = asyncio.get_running_loop()
    DistantSMTP.latency = latency
    server = await loop.create_server(
        lambda: DistantSMTP(
            counter, decode_data=False, enable_SMTPUTF8=True, hostname="sink.local"
        ),
        host="127.0.0.1",
        port=port,
    )
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    server.close()
    with open(stats, "w", encoding="utf-8") as out:
        json.dump(counter.summary(), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay of every answer")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.stats, args.latency_ms / 1000))


if __name__ == "__main__":
    main()
