"""`pets loadgen`: replay a trace against a running server, open loop, and report like a replay.

Every request is sent at its arrival time (relative to the first), whether or not earlier ones
were answered (asyncio + aiohttp on uvloop, up to `max_connections` in flight). The client often
shares the machine with the server it measures, so it is the lean one: aiohttp spends 0.35-0.44 ms
of CPU per request where httpx spent 2.1-2.4 ms (POST /v1/classify, 4 in flight, 2 Zen 4 cores).
A request row's body is its token ids, its text, or seeded random ids of its length
(`pets.serving.dispatch.query_of`, as in a replay; made before the clock starts). Lifecycle rows
become POST/DELETE /v1/tasks at their time. The result is a `pets.serving.metrics.Report`:
per-request records (arrival = scheduled send time, start = actual send time, finish = answer
time, all from the run's start) and the replay's summary. Every request ends completed (200),
rejected (4xx, 429 included) or failed (5xx, timeouts, connection errors), so completed +
rejected + failed == sent.
"""
from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass

import aiohttp
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from pets.errors import LoadgenError, PetsError
from pets.serving.capacity import offered_rps
from pets.serving.dispatch import query_of
from pets.serving.loop import DEFAULT_SLO_MS
from pets.serving.metrics import Report, RequestRecord
from pets.serving.trace import Trace, TraceRow, spec_from_field

SETUP_TIMEOUT_S = 30.0  # /health, /v1/tasks, /metrics before and after the run
KEEPALIVE_S = 3.0  # idle connections kept this long (uvicorn closes them after 5 s)


@dataclass(frozen=True, kw_only=True)
class LoadgenConfig:
    url: str = "http://127.0.0.1:8000"
    duration_s: float | None = None  # send only rows arriving within this many seconds
    timeout_s: float = 30.0  # per request, from send to answer
    slo_ms: float | None = DEFAULT_SLO_MS
    seed: int = 0
    max_connections: int = 1024

    def __post_init__(self) -> None:
        ok = lambda v: isinstance(v, (int, float)) and math.isfinite(v) and v > 0  # noqa: E731
        bad = [k for k, good in {
            "duration_s": self.duration_s is None or ok(self.duration_s),
            "timeout_s": ok(self.timeout_s),
            "slo_ms": self.slo_ms is None or ok(self.slo_ms),
            "max_connections": isinstance(self.max_connections, int) and self.max_connections >= 1,
            "url": isinstance(self.url, str) and self.url.startswith(("http://", "https://")),
        }.items() if not good]
        if bad:
            raise LoadgenError(f"loadgen options out of range: {bad}; duration_s, timeout_s and "
                               "slo_ms are finite numbers > 0, max_connections >= 1, the url "
                               "starts with http:// or https://")


@dataclass(frozen=True)
class Planned:
    """One request ready to send: where, what, and when (seconds from the run's start)."""

    rid: int
    row: TraceRow
    at: float
    path: str
    body: dict | None  # None: refused before sending (reason in `refused`)
    refused: str = ""


@dataclass(frozen=True)
class Answer:
    """A response read in full."""

    status: int
    text: str

    def json(self):
        return json.loads(self.text)


CLIENT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)  # connection, protocol, timeout


def run_loadgen(trace: Trace, cfg: LoadgenConfig = LoadgenConfig()) -> Report:
    """Send `trace` to the server at `cfg.url`; returns the run's Report."""
    try:
        import uvloop
    except ImportError:  # Windows: the standard loop
        return asyncio.run(_run(trace, cfg))
    return uvloop.run(_run(trace, cfg))


@dataclass(frozen=True)
class Client:
    """An aiohttp session bound to the server's URL."""

    session: aiohttp.ClientSession
    url: str  # no trailing slash

    async def call(self, method: str, path: str, *, timeout_s: float,
                   body: dict | None = None) -> Answer:
        """One request, its answer read in full. Raises CLIENT_ERRORS."""
        async with self.session.request(method, self.url + path, json=body,
                                        timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            return Answer(resp.status, await resp.text(errors="replace"))


async def _run(trace: Trace, cfg: LoadgenConfig) -> Report:
    # idle connections close on our side before uvicorn's keep-alive (5 s) closes them on its
    # side, so a request is never sent down a connection the server is closing
    connector = aiohttp.TCPConnector(limit=cfg.max_connections, keepalive_timeout=KEEPALIVE_S)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = Client(session, cfg.url.rstrip("/"))
        health = await _get_json(client, "/health", cfg.url)
        heads = {t["name"]: t["num_labels"] > 0
                 for t in (await _get_json(client, "/v1/tasks", cfg.url))["tasks"]}
        batches_before = await _batches(client)
        rows = _within(trace, cfg.duration_s)
        plan = _plan(rows, health, heads, cfg.seed)
        records = {p.rid: RequestRecord(p.rid, p.row.task, p.at) for p in plan}
        log: list[str] = []
        t0 = time.perf_counter()
        jobs = []
        first = rows[0].arrival_s if rows else 0.0
        for item in _timeline(rows, plan, first):
            delay = item[0] - (time.perf_counter() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            if isinstance(item[1], Planned):
                jobs.append(asyncio.create_task(_send(client, item[1], records, t0, cfg)))
            else:
                jobs.append(asyncio.create_task(_lifecycle(client, item[1], item[0], log)))
        await asyncio.gather(*jobs)
        batches = await _batches(client) - batches_before
    sent = [r for r in rows if r.is_request]
    report = Report(f"{health.get('system', 'pets')}@online", "online",
                    str(health.get("policy", "")), [records[i] for i in sorted(records)],
                    slo_s=None if cfg.slo_ms is None else cfg.slo_ms / 1e3,
                    batches=max(batches, 0), log=log)
    report.offered_rps = offered_rps(Trace(tuple(sent)))
    return report


def _within(trace: Trace, duration_s: float | None) -> list[TraceRow]:
    rows = list(trace.rows)
    if not rows or duration_s is None:
        return rows
    return [r for r in rows if r.arrival_s - rows[0].arrival_s <= duration_s]


def _plan(rows: list[TraceRow], health: dict, heads: dict[str, bool], seed: int) -> list[Planned]:
    """Bodies of every request row, made before the clock starts."""
    rng = np.random.default_rng(seed)
    vocab, max_len = int(health["vocab_size"]), int(health["max_tokens"])
    first = rows[0].arrival_s if rows else 0.0
    plan = []
    for rid, row in enumerate(r for r in rows if r.is_request):
        at = row.arrival_s - first
        classify = heads.get(row.task, True)  # unknown tasks: let the server say 404
        path = "/v1/classify" if classify else "/v1/embeddings"
        key = "task" if classify else "model"
        if row.text:
            body = {key: row.task, ("text" if classify else "input"): row.text}
        else:
            try:
                ids = list(query_of(rid, row, vocab, rng, max_len=max_len).input_ids)
            except PetsError as e:  # e.g. longer than the model: the server would refuse it too
                plan.append(Planned(rid, row, at, path, None, f"not sent: {e}"))
                continue
            body = {key: row.task, ("input_ids" if classify else "input"): [ids] if classify else ids}
        plan.append(Planned(rid, row, at, path, body))
    return plan


def _timeline(rows: list[TraceRow], plan: list[Planned], first: float):
    """(seconds from start, Planned or lifecycle row) in trace order."""
    requests = iter(plan)
    for row in rows:
        yield (row.arrival_s - first, next(requests)) if row.is_request else (
            row.arrival_s - first, row)


async def _send(client: Client, p: Planned, records: dict[int, RequestRecord],
                t0: float, cfg: LoadgenConfig) -> None:
    rec = records[p.rid]
    rec.start = time.perf_counter() - t0
    if p.body is None:
        rec.status, rec.reason, rec.finish = "rejected", p.refused, rec.start
        return
    try:
        resp = await client.call("POST", p.path, body=p.body, timeout_s=cfg.timeout_s)
    except asyncio.TimeoutError:  # aiohttp's own timeouts are TimeoutErrors too
        rec.status, rec.reason = "failed", f"timeout after {cfg.timeout_s:g} s"
    except aiohttp.ClientError as e:  # connection refused or reset, protocol errors
        rec.status, rec.reason = "failed", f"connection error: {type(e).__name__}: {e}"
    else:
        rec.status, rec.reason = _outcome(resp)
    rec.finish = time.perf_counter() - t0


def _outcome(resp: Answer) -> tuple[str, str]:
    if resp.status == 200:
        return "completed", ""
    try:
        err = resp.json()["error"]
        what = f"{resp.status} {err['type']}: {err['message']}"
    except (ValueError, KeyError, TypeError):
        what = f"{resp.status}: {resp.text[:200]}"
    return ("rejected" if resp.status < 500 else "failed"), what


async def _lifecycle(client: Client, row: TraceRow, at: float, log: list[str]) -> None:
    try:
        if row.event == "remove_task":
            resp = await client.call("DELETE", f"/v1/tasks/{row.task}", timeout_s=SETUP_TIMEOUT_S)
        else:
            spec, folder = spec_from_field(row.spec)
            if spec is None:
                log.append(f"{at:.3f}s add_task {row.task}: skipped (loadgen uploads JSON specs "
                           f"only, not the folder {folder})")
                return
            resp = await client.call("POST", "/v1/tasks", body=spec.renamed(row.task).to_dict(),
                                     timeout_s=SETUP_TIMEOUT_S)
        ok = resp.status in (200, 201)
        log.append(f"{at:.3f}s {row.event} {row.task}: "
                   + ("ok" if ok else "failed (" + _outcome(resp)[1] + ")"))
    except (PetsError, *CLIENT_ERRORS) as e:
        log.append(f"{at:.3f}s {row.event} {row.task}: failed ({type(e).__name__}: {e})")


async def _get_json(client: Client, path: str, url: str) -> dict:
    try:
        resp = await client.call("GET", path, timeout_s=SETUP_TIMEOUT_S)
    except CLIENT_ERRORS as e:
        raise LoadgenError(f"cannot reach the server at {url} ({type(e).__name__}: {e}); start "
                           "it with `pets serve` or pass --url") from None
    if resp.status != 200:
        raise LoadgenError(f"{url}{path} answered {resp.status}: {resp.text[:200]}; "
                           "wait until GET /health says ok")
    try:
        return resp.json()
    except json.JSONDecodeError:
        raise LoadgenError(f"{url}{path} did not answer JSON: is it a pets server?") from None


async def _batches(client: Client) -> int:
    """Batches the server has run so far (from /metrics; 0 when it has none)."""
    try:
        text = (await client.call("GET", "/metrics", timeout_s=SETUP_TIMEOUT_S)).text
        for family in text_string_to_metric_families(text):
            if family.name == "pets_batch_size":
                return int(next(s.value for s in family.samples if s.name.endswith("_count")))
    except (*CLIENT_ERRORS, ValueError, StopIteration):
        pass
    return 0
