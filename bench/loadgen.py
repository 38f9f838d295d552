"""A small closed-loop HTTP load generator in Python, for machines without `wrk`.

Each client is a thread with one keep-alive connection that posts valid, distinct JSON
signups back to back for `duration` seconds. It reports what the wrk script reports.
Slower than wrk (the GIL), so its absolute numbers are lower; the ratio still holds.
"""

from __future__ import annotations

import http.client
import json
import threading
import time


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def run(
    port: int,
    path: str,
    *,
    clients: int,
    duration: float,
    tag: str,
    solutions: list[str] | None = None,
) -> dict:
    """Load 127.0.0.1:`port` with `clients` concurrent clients; same keys as the wrk summary.

    With `solutions`, each signup carries the next one as its `altcha` field (each once).
    """
    pool = iter(solutions or ())
    stop_at = time.monotonic() + duration
    lock = threading.Lock()
    latencies: list[float] = []
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}

    def client(tid: int) -> None:
        mine: list[float] = []
        mine_errors = dict.fromkeys(errors, 0)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            fields = {
                "name": f"Reader {n}",
                "email": f"r{tid}.{n}.{tag}@example.com",
                "timezone": "Europe/Berlin",
            }
            if solutions:
                with lock:
                    fields["altcha"] = next(pool, "")
            body = json.dumps(fields)
            started = time.perf_counter()
            try:
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
            except TimeoutError:
                mine_errors["timeout"] += 1
                conn.close()
                continue
            except OSError:
                mine_errors["read"] += 1
                conn.close()
                continue
            mine.append(time.perf_counter() - started)
            if not 200 <= response.status < 400:
                mine_errors["status"] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for k, v in mine_errors.items():
                errors[k] += v

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i + 1,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 30)
    elapsed = time.monotonic() - started
    latencies.sort()
    us = 1_000_000
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * us),
        **errors,
        "p50_us": int(_percentile(latencies, 50) * us),
        "p90_us": int(_percentile(latencies, 90) * us),
        "p99_us": int(_percentile(latencies, 99) * us),
        "max_us": int((latencies[-1] if latencies else 0) * us),
    }
