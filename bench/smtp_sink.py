"""An SMTP sink for the sending bench, in its own process: accepts everything, keeps counts.

    python bench/smtp_sink.py --port 2525 --stats /tmp/sink.json

It listens on 127.0.0.1 only (aiosmtpd), counts messages and distinct Message-IDs, and
notes when the first and last message arrived. On SIGTERM it writes the counts and the
Message-IDs as JSON to --stats and exits.
"""

from __future__ import annotations

import argparse
import asyncio
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
        return "250 OK"

    def summary(self) -> dict:
        return {
            "count": self.count,
            "distinct_ids": len(set(self.ids)),
            "recipients": self.recipients,
            "bytes": self.bytes,
            "first": self.first,
            "last": self.last,
            "ids": self.ids,
        }


def message_id(data: bytes) -> str:
    """The Message-ID header of a message (headers end at the first empty line)."""
    head = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n")
    for line in head.split(b"\n"):
        if line[:11].lower() == b"message-id:":
            return line[11:].strip().decode("ascii", "replace")
    return ""


async def serve(port: int, stats: str) -> None:
    counter = Counter()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(counter, decode_data=False, enable_SMTPUTF8=True, hostname="sink.local"),
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
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.stats))


if __name__ == "__main__":
    main()
