"""Migration while live actors serve: PETs travel actor to actor through the object store,
requests routed meanwhile go to a live holder, nothing is lost or served twice."""
from __future__ import annotations

import pytest
import torch

ray = pytest.importorskip("ray")

from pets.cluster.live import LiveConfig, replay_live  # noqa: E402
from pets.cluster.live.driver import LiveRun  # noqa: E402
from pets.cluster.live.hosts import host_catalog  # noqa: E402
from pets.server.live import live_config  # noqa: E402
from pets.serving import TraceSpec, generate_trace  # noqa: E402

TRACE = generate_trace(TraceSpec(requests=600, rate=2500, tasks=8, alpha=1.5, seed=7, max_len=48))


@pytest.fixture(scope="module")
def catalog():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield host_catalog(TRACE.tasks, "bert-tiny", dtype=torch.float32).shuffled(1)
    ray.shutdown()


def test_moves_and_copies_while_serving(catalog):
    budget_mb = 1.2 * catalog.total_bytes() / 2**20 / 2 + 0.3
    cfg = live_config(workers=2, balancer="migrate", threshold=0.05, min_busy=0.0, interval_s=0.05,
                     window_s=0.3, memory_budget_mb=budget_mb, keep_outputs=True)
    rep = replay_live(TRACE, catalog, cfg)
    s = rep.summary()
    assert (s["completed"], s["rejected"], s["failed"], s["stale"]) == (600, 0, 0, 0)
    log = rep.migration_log()
    landed = log[log.kind.isin(["move", "copy"]) & (log.status == "landed")]
    assert len(landed), "the skewed trace should make the balancer ship a PET"
    assert max(rep.peak_pet_bytes) <= cfg.budget_bytes, "the memory budget held throughout"
    df = rep.frame()
    assert any(len(df[(df.task == m.task) & (df.worker == m.dst) & (df.finish > m.end_s)])
               for m in landed.itertuples()), "requests of a shipped task ran on its new holder"
    queries = LiveRun(catalog)._queries(TRACE)
    want = catalog.host.infer([queries[i] for i in df.id])
    for i, w in zip(df.id, want):
        torch.testing.assert_close(torch.tensor(rep.report.outputs[i].pooled), w.pooled,
                                   rtol=0, atol=1e-4)
