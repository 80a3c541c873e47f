"""The Ray Serve multiplexing peer: every request answered, PETs loaded on demand and evicted
by Serve's LRU without failing a request."""
from __future__ import annotations

import pytest
import torch

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve", exc_type=ImportError)

from pets.cluster.live.hosts import host_catalog  # noqa: E402
from pets.cluster.live.serve_peer import ServePeerConfig, replay_serve  # noqa: E402
from pets.errors import InvalidSpecError  # noqa: E402
from pets.serving import TraceSpec, generate_trace  # noqa: E402

TRACE = generate_trace(TraceSpec(requests=240, rate=600, tasks=6, alpha=1.0, seed=2, max_len=48))


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


@pytest.mark.parametrize("kw", [dict(replicas=0), dict(max_loaded=0)])
def test_bad_options(kw):
    with pytest.raises(InvalidSpecError):
        ServePeerConfig(**kw)
