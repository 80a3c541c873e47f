"""`pets serve --backend ray`: the server's HTTP API over live Ray workers."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest

ray = pytest.importorskip("ray")
httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

import pets  # noqa: E402
from pets.cluster.live import LiveConfig  # noqa: E402
from pets.server.cluster import LiveScheduler  # noqa: E402
from pets.server.config import ServerConfig  # noqa: E402
from pets.server.run import ServerThread  # noqa: E402

SPECS = [dict(name=f"t{i}", pet=p, num_labels=2)
         for i, p in enumerate(("lora", "adapter", "diff", "bitfit", "lora", "mask"))]
IDS = [[101, 2023, 2003, 102], [101, 7592, 2088, 2000, 102]]


@pytest.fixture(scope="module")
def engine():
    eng = pets.PetsEngine.from_preset("bert-tiny", dtype="float32", seed=0)
    for s in SPECS:
        eng.add_task(pets.TaskSpec(**s))
    return eng


@pytest.fixture(scope="module")
def client(engine):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    make = partial(LiveScheduler, live=LiveConfig(workers=2))
    with ServerThread(engine, ServerConfig(max_wait_ms=2.0), make_scheduler=make) as s:
        with httpx.Client(base_url=s.url, timeout=60) as c:
            yield c, s.scheduler
    ray.shutdown()


def logits(engine, task, ids):
    return [r.logits.tolist() for r in engine.infer([pets.Query(task=task, input_ids=tuple(i))
                                                      for i in ids])]


def test_classify_on_every_worker_equals_the_host(client, engine):
    c, scheduler = client
    assert c.get("/health").json()["tasks"] == len(SPECS)
    holders = scheduler.core.placement.holders
    assert {w for t in holders for w in holders[t]} == {0, 1}, "tasks spread over both workers"
    for s in SPECS:
        body = c.post("/v1/classify", json={"task": s["name"], "input_ids": IDS}).json()
        for got, want in zip(body["results"], logits(engine, s["name"], IDS)):
            np.testing.assert_allclose(got["logits"], want, atol=1e-5, rtol=0)


def test_upload_then_delete_a_task(client):
    c, scheduler = client
    spec = {"name": "fresh", "pet": "lora", "rank": 2, "num_labels": 2}
    assert c.post("/v1/tasks", json={"spec": spec}).status_code == 201
    got = c.post("/v1/classify", json={"task": "fresh", "input_ids": IDS})
    assert got.status_code == 200 and len(got.json()["results"]) == 2
    assert c.delete("/v1/tasks/fresh").status_code == 200
    assert c.post("/v1/classify", json={"task": "fresh", "input_ids": IDS}).status_code == 404


def test_a_killed_worker_is_replaced_behind_the_api(client, engine):
    c, scheduler = client
    ray.kill(scheduler.core.states[1].actor, no_restart=True)
    for s in SPECS:
        body = c.post("/v1/classify", json={"task": s["name"], "input_ids": IDS})
        assert body.status_code == 200, body.text
        for got, want in zip(body.json()["results"], logits(engine, s["name"], IDS)):
            np.testing.assert_allclose(got["logits"], want, atol=1e-5, rtol=0)
    assert not scheduler.core.states[1].alive and scheduler.core.moves.deaths


def test_workers_without_the_ray_backend_are_refused():
    import argparse

    from pets.errors import InvalidSpecError
    from pets.server.cli import BACKENDS

    with pytest.raises(InvalidSpecError, match="--backend ray"):
        BACKENDS["local"](argparse.Namespace(workers=2, address=None))
