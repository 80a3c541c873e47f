"""The server's Prometheus metrics, in a registry of its own (several servers may share a
process, e.g. in tests): requests by task and status, queue length, batch size and tokens
per batch, request latency, tokens served and their rate over the last seconds."""
from __future__ import annotations

import threading
import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_S = (.001, .0025, .005, .01, .025, .05, .1, .2, .5, 1, 2.5, 5, 10, 30)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TOKEN_BUCKETS = (16, 64, 256, 1024, 4096, 16384, 65536)
RATE_WINDOW_S = 10.0  # tokens_per_second looks this far back


class ServerMetrics:
    """Thread-safe recorders, called by request handlers and the scheduler thread."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("pets_requests", "Requests answered, by task and status "
                                "(completed, rejected, failed)", ["task", "status"], registry=r)
        self.latency = Histogram("pets_request_latency_seconds", "Time from a request's "
                                 "arrival to its answer", buckets=LATENCY_BUCKETS_S, registry=r)
        self.queue = Gauge("pets_queue_length", "Queries waiting to be batched", registry=r)
        self.batch_size = Histogram("pets_batch_size", "Queries per batch",
                                    buckets=SIZE_BUCKETS, registry=r)
        self.batch_tokens = Histogram("pets_batch_tokens", "Tokens per batch",
                                      buckets=TOKEN_BUCKETS, registry=r)
        self.batch_seconds = Histogram("pets_batch_seconds", "Wall-clock time of one batch",
                                       buckets=LATENCY_BUCKETS_S, registry=r)
        self.tokens = Counter("pets_tokens", "Tokens served", registry=r)
        self.tasks = Gauge("pets_tasks", "Tasks loaded", registry=r)
        rate = Gauge("pets_tokens_per_second", f"Tokens served per second over the last "
                     f"{RATE_WINDOW_S:g} s", registry=r)
        rate.set_function(self.tokens_per_second)
        self._recent: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def request(self, task: str, status: str, seconds: float) -> None:
        self.requests.labels(task=task, status=status).inc()
        if status == "completed":
            self.latency.observe(seconds)

    def batch(self, size: int, tokens: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_tokens.observe(tokens)
        self.batch_seconds.observe(seconds)
        self.tokens.inc(tokens)
        with self._lock:
            self._recent.append((time.monotonic(), tokens))

    def tokens_per_second(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._recent and self._recent[0][0] < now - RATE_WINDOW_S:
                self._recent.popleft()
            return sum(n for _, n in self._recent) / RATE_WINDOW_S

    def text(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)
