"""A small closed-loop load generator: N threads, one keep-alive ``http.client`` connection each.

A bounded number of requests (after an unmeasured warm-up) is shared among the threads; each
thread sends its next request as soon as the previous answer is read.  Only 127.0.0.1.

What is sent: one ``Request`` (method, path, headers, JSON body) or a list of them.  With a list,
the n-th request of a phase (counted across all threads) is ``requests[n % len(requests)]``:
round-robin, so e.g. a list of bearer tokens of 48 centers spreads every thread's requests over
all the centers.
"""
from __future__ import annotations

import http.client
import itertools
import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence


@dataclass(frozen=True)
class Request:
    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @classmethod
    def make(cls, method: str, path: str, headers: dict | None = None, json_body=None) -> "Request":
        hdrs = dict(headers or {})
        body = None
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode()
            hdrs["Content-Type"] = "application/json"
        return cls(method, path, tuple(hdrs.items()), body)


@dataclass
class LoadResult:
    requests: int
    errors: int
    elapsed_s: float
    latencies_ms: list[float] = field(repr=False)
    statuses: dict
    response_bytes: int

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the measured latencies (ms)."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        rank = max(1, min(len(ordered), math.ceil(p / 100.0 * len(ordered))))
        return ordered[rank - 1]

    def summary(self) -> dict:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "elapsed_s": round(self.elapsed_s, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p95_ms": round(self.percentile(95), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(sum(self.latencies_ms) / len(self.latencies_ms), 2) if self.latencies_ms else None,
            "statuses": self.statuses,
            "response_bytes": self.response_bytes,
        }


class _Client:
    def __init__(self, port: int):
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def request(self, req: Request) -> tuple[int, int]:
        """(status, body length); 0 status on a transport error (the connection is reopened)."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            headers = dict(req.headers)
            headers["Connection"] = "keep-alive"
            self.conn.request(req.method, req.path, body=req.body, headers=headers)
            resp = self.conn.getresponse()
            body = resp.read()
            if resp.will_close:
                self.close()
            return resp.status, len(body)
        except (OSError, http.client.HTTPException):
            self.close()
            return 0, 0

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run_load(port: int, requests: Request | Sequence[Request] | str, *, headers: dict | None = None, total: int,
             warmup: int, concurrency: int) -> LoadResult:
    """``requests``: one request, a round-robin list of them, or (old form) a GET path with ``headers``."""
    if isinstance(requests, str):
        requests = Request.make("GET", requests, headers)
    specs = [requests] if isinstance(requests, Request) else list(requests)
    if not specs:
        raise ValueError("run_load: no request to send")
    clients = [_Client(port) for _ in range(concurrency)]

    def phase(n: int, record: bool):
        ticket = itertools.count()  # next() on a count is atomic under the GIL
        lat: list[list[float]] = [[] for _ in clients]
        statuses: list[Counter] = [Counter() for _ in clients]
        sizes = [0] * len(clients)
        start_gate = threading.Barrier(len(clients) + 1)
        k = len(specs)

        def work(i: int):
            client, mine, seen = clients[i], lat[i], statuses[i]
            start_gate.wait()
            while True:
                number = next(ticket)
                if number >= n:
                    break
                req = specs[number % k]
                t0 = time.perf_counter()
                status, size = client.request(req)
                dt = (time.perf_counter() - t0) * 1000.0
                seen[status] += 1
                if status == 200:
                    sizes[i] = max(sizes[i], size)
                    if record:
                        mine.append(dt)

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(clients))]
        for t in threads:
            t.start()
        start_gate.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        merged = sum(statuses, Counter())
        return LoadResult(
            requests=sum(merged.values()),
            errors=sum(v for k_, v in merged.items() if k_ != 200),
            elapsed_s=elapsed,
            latencies_ms=[x for xs in lat for x in xs],
            statuses={str(k_): v for k_, v in sorted(merged.items())},
            response_bytes=max(sizes),
        )

    try:
        if warmup:
            phase(warmup, record=False)
        return phase(total, record=True)
    finally:
        for c in clients:
            c.close()


def merge(results: list[LoadResult]) -> LoadResult:
    """Several measured segments of one server as one result (req/s over their summed time)."""
    statuses: Counter = Counter()
    for r in results:
        statuses.update(r.statuses)
    return LoadResult(
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        elapsed_s=sum(r.elapsed_s for r in results),
        latencies_ms=[x for r in results for x in r.latencies_ms],
        statuses={k: statuses[k] for k in sorted(statuses)},
        response_bytes=max(r.response_bytes for r in results),
    )
