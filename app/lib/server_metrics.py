"""What the Server page's live charts plot: samples of a server's Prometheus `/metrics`,
taken every few seconds, and the series derived from consecutive samples (request rates,
queue length, latency percentiles from the histogram's bucket counts over a window)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

MAX_SAMPLES = 300  # about ten minutes at one sample every two seconds
LATENCY_WINDOW_S = 10.0  # percentiles over the requests answered in the last this many seconds
QUANTILES = (0.5, 0.95, 0.99)
STATUSES = ("completed", "rejected", "failed")


@dataclass(frozen=True)
class Sample:
    """One scrape of /metrics at `t` (seconds on this page's monotonic clock)."""

    t: float
    requests: dict[tuple[str, str], float]  # (task, status) -> requests answered so far
    latency_buckets: tuple[tuple[float, float], ...]  # (upper bound s, cumulative count)
    queue: float = 0.0
    tokens_per_s: float = 0.0

    def total(self, status: str) -> float:
        return sum(n for (_, s), n in self.requests.items() if s == status)


def parse(text: str, t: float) -> Sample:
    """A Sample from the Prometheus text format of `pets serve`."""
    requests: dict[tuple[str, str], float] = {}
    buckets: list[tuple[float, float]] = []
    queue = tokens = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "pets_requests_total":
                requests[(s.labels.get("task", ""), s.labels.get("status", ""))] = s.value
            elif s.name == "pets_request_latency_seconds_bucket":
                buckets.append((float(s.labels["le"]), s.value))
            elif s.name == "pets_queue_length":
                queue = s.value
            elif s.name == "pets_tokens_per_second":
                tokens = s.value
    return Sample(t, requests, tuple(sorted(buckets)), queue, tokens)


@dataclass
class History:
    """The samples of one server URL, oldest first, at most MAX_SAMPLES."""

    url: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        if self.samples and _restarted(self.samples[-1], sample):
            self.samples.clear()  # counters went back: a new server on the same URL
        self.samples.append(sample)
        del self.samples[:-MAX_SAMPLES]

    @property
    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None


def _restarted(before: Sample, after: Sample) -> bool:
    return any(after.requests.get(k, 0.0) < v for k, v in before.requests.items())


def rates(history: History) -> pd.DataFrame:
    """Per interval between samples: requests/s by status, tokens/s and queue length.
    `t` is seconds since the first sample."""
    rows = []
    s = history.samples
    for a, b in zip(s, s[1:]):
        dt = b.t - a.t
        if dt <= 0:
            continue
        row = {"t": b.t - s[0].t, "queue": b.queue, "tokens_per_s": b.tokens_per_s}
        row.update({f"{st}_rps": (b.total(st) - a.total(st)) / dt for st in STATUSES})
        rows.append(row)
    return pd.DataFrame(rows, columns=["t", "queue", "tokens_per_s",
                                       *(f"{st}_rps" for st in STATUSES)])


def latency_percentiles(history: History, window_s: float = LATENCY_WINDOW_S) -> pd.DataFrame:
    """p50/p95/p99 latency (ms) at each sample, over requests answered in the window before
    it, or since the previous sample when that is older (bucket counts then vs now, linear
    within a bucket, as Prometheus' histogram_quantile). NaN where no request ended."""
    rows = []
    s = history.samples
    for i, now in enumerate(s[1:], 1):
        # the oldest sample within the window; the previous one when samples are further apart
        past = next((p for p in s[:i] if now.t - p.t <= window_s), s[i - 1])
        delta = _bucket_delta(past.latency_buckets, now.latency_buckets)
        rows.append({"t": now.t - s[0].t,
                     **{f"p{round(q * 100)}_ms": histogram_quantile(q, delta) * 1e3
                        for q in QUANTILES}})
    return pd.DataFrame(rows, columns=["t", *(f"p{round(q * 100)}_ms" for q in QUANTILES)])


def _bucket_delta(before, after) -> list[tuple[float, float]]:
    old = dict(before)
    return [(le, n - old.get(le, 0.0)) for le, n in after]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """The q-quantile of cumulative `buckets` (upper bound, count), linear inside a bucket;
    the highest finite bound when it falls in +Inf; NaN when the buckets are empty."""
    if not buckets or buckets[-1][1] <= 0:
        return float("nan")
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            if math.isinf(le):
                return lower
            return lower + (le - lower) * ((rank - below) / (n - below) if n > below else 1.0)
        lower, below = le, n
    return lower


def per_task(sample: Sample | None) -> pd.DataFrame:
    """Requests answered so far, one row per task, one column per status."""
    if sample is None or not sample.requests:
        return pd.DataFrame(columns=["task", *STATUSES])
    df = pd.Series(sample.requests).unstack(fill_value=0.0)
    df = df.reindex(columns=list(STATUSES), fill_value=0.0).astype(int)
    df = df.loc[df.sum(axis=1).sort_values(ascending=False).index]
    return df.rename_axis("task").reset_index()
