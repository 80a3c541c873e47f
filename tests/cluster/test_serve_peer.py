"""The Ray Serve multiplexing peer: every request answered, PETs loaded on demand and evicted
by Serve's LRU without failing a request."""
from __future__ import annotations

import threading
import time

import pytest
import torch

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve", exc_type=ImportError)

from pets.cluster.live.hosts import host_catalog  # noqa: E402
from pets.cluster.live.serve_peer import ServePeerConfig, replay_serve  # noqa: E402
from pets.errors import InvalidSpecError  # noqa: E402
from pets.serving import TraceSpec, generate_trace  # noqa: E402

TRACE = generate_trace(TraceSpec(requests=240, rate=600, tasks=6, alpha=1.0, seed=2, max_len=48))
AGAIN = generate_trace(TraceSpec(requests=24, rate=600, tasks=6, alpha=1.0, seed=2, max_len=48))


@pytest.fixture(scope="module")
def catalog():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield host_catalog(TRACE.tasks, "bert-tiny", dtype=torch.float32)
    from ray import serve

    serve.shutdown()
    ray.shutdown()


def test_multiplexed_replicas_answer_everything_under_eviction(catalog):
    rep = replay_serve(TRACE, catalog, ServePeerConfig(replicas=2, max_loaded=2))
    s = rep.summary()
    assert (s["completed"], s["rejected"], s["failed"]) == (240, 0, 0), rep.frame().reason.unique()
    assert s["backend"] == "ray-serve" and rep.frame().worker.nunique() == 2
    assert (rep.frame().latency > 0).all()
    assert not router_loop_alive()  # left running, it can crash the process at exit
    again = replay_serve(AGAIN, catalog, ServePeerConfig(replicas=1))  # a fresh loop serves
    assert again.summary()["completed"] == len(AGAIN.requests)
    assert not router_loop_alive()


def router_loop_alive(wait_s: float = 10.0) -> bool:
    """Whether Serve's handle-routing thread still runs after `wait_s`."""
    deadline = time.monotonic() + wait_s
    while any("router_event_loop" in t.name for t in threading.enumerate()):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("kw", [dict(replicas=0), dict(max_loaded=0)])
def test_bad_options(kw):
    with pytest.raises(InvalidSpecError):
        ServePeerConfig(**kw)
