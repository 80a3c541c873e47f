"""Overload with a small queue: 429s with Retry-After, every request answered, none lost."""
from __future__ import annotations

import asyncio

import httpx

from pets.server.config import ServerConfig
from pets.server.run import ServerThread

from tests.server.conftest import small_engine


async def _burst(url: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        return await asyncio.gather(*(
            c.post("/v1/classify", json={"task": "lora", "input_ids": [[101, 2000 + i, 102]]})
            for i in range(n)))


def test_a_full_queue_answers_429_and_loses_nothing():
    cfg = ServerConfig(queue_limit=4, max_batch=32, max_wait_ms=200.0)
    with ServerThread(small_engine(), cfg) as s:
        responses = asyncio.run(_burst(s.url, 40))
        codes = [r.status_code for r in responses]
        assert set(codes) <= {200, 429}
        assert codes.count(429) > 0 and codes.count(200) >= 4
        full = next(r for r in responses if r.status_code == 429)
        assert int(full.headers["retry-after"]) >= 1
        assert full.json()["error"]["type"] == "queue_full"
        metrics = httpx.get(f"{s.url}/metrics").text
        assert f'pets_requests_total{{status="rejected",task="lora"}} {codes.count(429)}.0' in metrics
        assert f'pets_requests_total{{status="completed",task="lora"}} {codes.count(200)}.0' in metrics
        assert s.scheduler.queue_length() == 0


def test_a_request_larger_than_the_queue_is_refused_whole():
    with ServerThread(small_engine(), ServerConfig(queue_limit=2)) as s:
        resp = httpx.post(f"{s.url}/v1/classify", json={"task": "lora", "text": ["a", "b", "c"]})
        assert resp.status_code == 429 and "retry-after" in resp.headers
        assert httpx.post(f"{s.url}/v1/classify", json={"task": "lora", "text": ["a", "b"]}).status_code == 200
