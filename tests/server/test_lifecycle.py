"""Adding and removing tasks while requests are in flight: other tasks' results stay exact,
a removed task's queued requests end with a clear error, nothing hangs or answers 500."""
from __future__ import annotations

import asyncio
import threading
import time

import httpx
import numpy as np

import pets
from pets.server.config import ServerConfig
from pets.server.run import ServerThread

from tests.server.conftest import small_engine

IDS = [[101, 2000 + i, 3000 + i, 102] for i in range(6)]


def _reference(engine, task):
    out = engine.infer([pets.Query(task=task, input_ids=s, id=i) for i, s in enumerate(IDS)])
    return [r.logits.tolist() for r in out]


def test_upload_and_delete_while_requests_are_in_flight():
    engine = small_engine()
    want = _reference(engine, "lora")
    errors, answers = [], {"keep": [], "victim": []}
    stop = threading.Event()

    def traffic(task, key):
        with httpx.Client(timeout=30) as c:
            while not stop.is_set():
                r = c.post(f"{s.url}/v1/classify", json={"task": task, "input_ids": IDS})
                answers[key].append(r.status_code)
                if r.status_code == 200 and task == "lora":
                    got = [x["logits"] for x in r.json()["results"]]
                    if not np.allclose(got, want, atol=1e-5, rtol=0):
                        errors.append("lora results changed during task changes")

    with ServerThread(engine, ServerConfig(max_wait_ms=1.0)) as s:
        threads = [threading.Thread(target=traffic, args=("lora", "keep")),
                   threading.Thread(target=traffic, args=("churn", "victim"))]
        for t in threads:
            t.start()
        with httpx.Client(base_url=s.url, timeout=30) as c:
            for i in range(8):
                spec = {"name": "churn", "pet": ["lora", "adapter", "diff", "mask"][i % 4],
                        "num_labels": 2}
                assert c.post("/v1/tasks", json=spec).status_code == 201
                time.sleep(0.05)
                assert c.delete("/v1/tasks/churn").status_code == 200
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors
    assert answers["keep"] and set(answers["keep"]) == {200}
    assert set(answers["victim"]) <= {200, 404, 410}, answers["victim"]


def test_queued_requests_of_a_removed_task_end_with_task_removed():
    cfg = ServerConfig(max_wait_ms=30_000.0, max_batch=64)  # requests wait in the queue
    with ServerThread(small_engine(), cfg) as s:
        async def scenario():
            async with httpx.AsyncClient(base_url=s.url, timeout=30) as c:
                pending = asyncio.ensure_future(
                    c.post("/v1/classify", json={"task": "adapter", "input_ids": [[101, 102]]}))
                while s.scheduler.queue_length() == 0:
                    await asyncio.sleep(0.01)
                gone = await c.delete("/v1/tasks/adapter")
                return gone, await pending
        gone, resp = asyncio.run(scenario())
    assert gone.json() == {"deleted": "adapter", "cancelled_requests": 1}
    assert resp.status_code == 410
    err = resp.json()["error"]
    assert err["type"] == "task_removed" and "POST /v1/tasks" in err["message"]


def test_a_batch_taken_before_a_removal_still_serves_the_other_tasks():
    """The race the scheduler handles: a batch holding a task's queries runs after the task is
    gone; those end task_removed, the others are served."""
    from pets.batching.policies.base import batch_of_queries
    from pets.errors import TaskRemovedError
    from pets.server.scheduler import Scheduler

    engine = small_engine()
    sched = Scheduler(engine, ServerConfig(max_wait_ms=60_000.0, warm_up=False))
    sched.start()
    try:
        kept, = sched.submit("lora", [IDS[0]])
        lost, = sched.submit("adapter", [IDS[1]])
        with sched._cond:  # take the queue as the thread would, then remove the task
            queued, sched._queue = sched._queue, []
        engine.remove_task("adapter")
        sched._tasks_changed()
        sched._run(batch_of_queries(queued))
        assert np.allclose(kept.result(5).logits, _reference(small_engine(), "lora")[0], atol=1e-5)
        assert isinstance(lost.exception(5), TaskRemovedError)
    finally:
        sched.stop()
