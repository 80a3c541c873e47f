"""Live Ray actors serving at once: every request answered, as the host would answer it."""
from __future__ import annotations

import pytest
import torch

ray = pytest.importorskip("ray")

from pets.cluster import Catalog, Fault  # noqa: E402
from pets.cluster.live import LiveConfig, replay_live  # noqa: E402
from pets.cluster.live.hosts import host_catalog, service_rate, service_rates  # noqa: E402
from pets.errors import InvalidSpecError  # noqa: E402
from pets.server.live import live_config  # noqa: E402
from pets.serving import TraceSpec, generate_trace  # noqa: E402

TRACE = generate_trace(TraceSpec(requests=300, rate=1500, tasks=6, alpha=1.2, seed=3, max_len=48))


@pytest.fixture(scope="module")
def catalog():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield host_catalog(TRACE.tasks, "bert-tiny", dtype=torch.float32)
    ray.shutdown()


def same_as_host(rep, catalog, queries) -> None:
    df = rep.frame()
    done = df[df.status == "completed"].id.tolist()
    assert sorted(rep.report.outputs) == sorted(done)
    want = catalog.host.infer([queries[i] for i in done])
    for i, w in zip(done, want):
        got = rep.report.outputs[i]
        torch.testing.assert_close(torch.tensor(got.pooled), w.pooled, rtol=0, atol=1e-4)
        torch.testing.assert_close(torch.tensor(got.logits), w.logits, rtol=0, atol=1e-4)


def queries_of(catalog):
    from pets.cluster.live.driver import LiveRun

    return LiveRun(catalog)._queries(TRACE)


def test_two_actors_serve_at_once(catalog):
    rep = replay_live(TRACE, catalog, live_config(workers=2, balancer="replicate", keep_outputs=True))
    s = rep.summary()
    assert (s["completed"], s["rejected"], s["failed"]) == (300, 0, 0)
    df = rep.frame()
    spans = df.groupby("worker").finish.agg(["min", "max", "size"])
    assert len(spans) == 2 and (spans["size"] >= 0.2 * 300).all(), "both workers served"
    assert min(spans["max"]) > max(spans["min"]), "the workers served side by side"
    assert (df.latency > 0).all() and s["backend"] == "ray-live"
    same_as_host(rep, catalog, queries_of(catalog))


def test_service_rate_of_actors_serving_together(catalog):
    """The sim's calibration: one actor alone, and each of two actors serving at once."""
    alone = service_rate(catalog, TRACE, live_config(workers=1), requests=64)
    together = service_rates(catalog, TRACE, live_config(workers=1), requests=64, workers=2)
    assert 0 < alone < float("inf")
    assert len(together) == 2 and all(0 < r < float("inf") for r in together)


@pytest.mark.parametrize("kw", [dict(workers=0), dict(balancer="nope"), dict(poll_s=0),
                                dict(faults=(Fault(0.1, 3),))])
def test_bad_options_say_what_to_do(kw):
    with pytest.raises(InvalidSpecError):
        LiveConfig(**kw)


def test_workers_need_a_queue(catalog):
    with pytest.raises(InvalidSpecError, match="worker_queue"):
        replay_live(TRACE, catalog, LiveConfig(workers=1))


def test_a_catalog_without_parameters_is_refused(catalog):
    bare = Catalog(catalog.preset, catalog.config, catalog.specs, catalog.sizes)
    with pytest.raises(InvalidSpecError, match="with_params"):
        replay_live(TRACE, bare, live_config(workers=1))
