"""`pets loadgen`: replay a trace against a running server, open loop, and report like a replay.

Every request is sent at its arrival time (relative to the first), whether or not earlier ones
were answered (asyncio + httpx, up to `max_connections` in flight). A request row's body is its
token ids, its text, or seeded random ids of its length (`pets.serving.dispatch.query_of`, as
in a replay; made before the clock starts). Lifecycle rows become POST/DELETE /v1/tasks at their
time. The result is a `pets.serving.metrics.Report`: per-request records (arrival = scheduled
send time, start = actual send time, finish = answer time, all from the run's start) and the
replay's summary. Every request ends completed (200), rejected (4xx, 429 included) or failed
(5xx, timeouts, connection errors), so completed + rejected + failed == sent.
"""
from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from pets.errors import LoadgenError, PetsError
from pets.serving.capacity import offered_rps
from pets.serving.dispatch import query_of
from pets.serving.loop import DEFAULT_SLO_MS
from pets.serving.metrics import Report, RequestRecord
from pets.serving.trace import Trace, TraceRow, spec_from_field

SETUP_TIMEOUT_S = 30.0  # /health, /v1/tasks, /metrics before and after the run


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


def run_loadgen(trace: Trace, cfg: LoadgenConfig = LoadgenConfig()) -> Report:
    """Send `trace` to the server at `cfg.url`; returns the run's Report."""
    return asyncio.run(_run(trace, cfg))


async def _run(trace: Trace, cfg: LoadgenConfig) -> Report:
    limits = httpx.Limits(max_connections=cfg.max_connections,
                          max_keepalive_connections=cfg.max_connections)
    async with httpx.AsyncClient(base_url=cfg.url, limits=limits,
                                 timeout=httpx.Timeout(cfg.timeout_s)) as client:
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


async def _send(client: httpx.AsyncClient, p: Planned, records: dict[int, RequestRecord],
                t0: float, cfg: LoadgenConfig) -> None:
    rec = records[p.rid]
    rec.start = time.perf_counter() - t0
    if p.body is None:
        rec.status, rec.reason, rec.finish = "rejected", p.refused, rec.start
        return
    try:
        resp = await asyncio.wait_for(client.post(p.path, json=p.body), cfg.timeout_s)
    except (asyncio.TimeoutError, httpx.TimeoutException):
        rec.status, rec.reason = "failed", f"timeout after {cfg.timeout_s:g} s"
    except httpx.HTTPError as e:  # connection refused or reset, protocol errors
        rec.status, rec.reason = "failed", f"connection error: {type(e).__name__}: {e}"
    else:
        rec.status, rec.reason = _outcome(resp)
    rec.finish = time.perf_counter() - t0


def _outcome(resp: httpx.Response) -> tuple[str, str]:
    if resp.status_code == 200:
        return "completed", ""
    try:
        err = resp.json()["error"]
        what = f"{resp.status_code} {err['type']}: {err['message']}"
    except (ValueError, KeyError, TypeError):
        what = f"{resp.status_code}: {resp.text[:200]}"
    return ("rejected" if resp.status_code < 500 else "failed"), what


async def _lifecycle(client: httpx.AsyncClient, row: TraceRow, at: float, log: list[str]) -> None:
    try:
        if row.event == "remove_task":
            resp = await client.delete(f"/v1/tasks/{row.task}", timeout=SETUP_TIMEOUT_S)
        else:
            spec, folder = spec_from_field(row.spec)
            if spec is None:
                log.append(f"{at:.3f}s add_task {row.task}: skipped (loadgen uploads JSON specs "
                           f"only, not the folder {folder})")
                return
            resp = await client.post("/v1/tasks", json=spec.renamed(row.task).to_dict(),
                                     timeout=SETUP_TIMEOUT_S)
        ok = resp.status_code in (200, 201)
        log.append(f"{at:.3f}s {row.event} {row.task}: "
                   + ("ok" if ok else "failed (" + _outcome(resp)[1] + ")"))
    except (PetsError, httpx.HTTPError) as e:
        log.append(f"{at:.3f}s {row.event} {row.task}: failed ({type(e).__name__}: {e})")


async def _get_json(client: httpx.AsyncClient, path: str, url: str) -> dict:
    try:
        resp = await client.get(path, timeout=SETUP_TIMEOUT_S)
    except httpx.HTTPError as e:
        raise LoadgenError(f"cannot reach the server at {url} ({type(e).__name__}: {e}); start "
                           "it with `pets serve` or pass --url") from None
    if resp.status_code != 200:
        raise LoadgenError(f"{url}{path} answered {resp.status_code}: {resp.text[:200]}; "
                           "wait until GET /health says ok")
    try:
        return resp.json()
    except json.JSONDecodeError:
        raise LoadgenError(f"{url}{path} did not answer JSON: is it a pets server?") from None


async def _batches(client: httpx.AsyncClient) -> int:
    """Batches the server has run so far (from /metrics; 0 when it has none)."""
    try:
        text = (await client.get("/metrics", timeout=SETUP_TIMEOUT_S)).text
        for family in text_string_to_metric_families(text):
            if family.name == "pets_batch_size":
                return int(next(s.value for s in family.samples if s.name.endswith("_count")))
    except (httpx.HTTPError, ValueError, StopIteration):
        pass
    return 0
