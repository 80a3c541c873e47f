"""A real uvicorn server on a free local port (a thread of this process), over a bert-tiny
engine in float32, and an httpx client for it."""
from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import pets  # noqa: E402
from pets.server.config import ServerConfig  # noqa: E402
from pets.server.run import ServerThread  # noqa: E402

SPECS = [
    dict(name="lora", pet="lora", rank=4, num_labels=3),
    dict(name="adapter", pet="adapter", bottleneck=16, num_labels=2),
    dict(name="diff", pet="diff", density=0.01, num_labels=2),
    dict(name="bitfit", pet="bitfit"),  # no head: embeddings only
]


def small_engine(specs=SPECS) -> pets.PetsEngine:
    eng = pets.PetsEngine.from_preset("bert-tiny", dtype="float32", seed=0)
    for s in specs:
        eng.add_task(pets.TaskSpec(**s))
    return eng


@pytest.fixture(scope="module")
def engine() -> pets.PetsEngine:
    return small_engine()


@pytest.fixture(scope="module")
def server(engine):
    with ServerThread(engine, ServerConfig(max_wait_ms=2.0)) as s:
        yield s


@pytest.fixture()
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
