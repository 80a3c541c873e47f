"""The Ray backend: two local CPU actors, real PET tensors shipped between them."""
from __future__ import annotations

import pytest
import torch

ray = pytest.importorskip("ray")

from pets.cluster import Catalog, ClusterConfig, ClusterLoop, Fault  # noqa: E402
from pets.serving import ServeConfig, TraceSpec, generate_trace  # noqa: E402

TRACE = generate_trace(TraceSpec(requests=240, rate=300, tasks=6, alpha=1.5, seed=5, max_len=48))


@pytest.fixture(scope="module")
def catalog():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield Catalog.for_trace(TRACE, "bert-tiny", with_params=True)
    ray.shutdown()


def replay(catalog, **kw):
    cfg = ClusterConfig(workers=2, backend="ray", interval_s=0.1, window_s=0.5, **kw)
    loop = ClusterLoop(catalog, cfg, ServeConfig(policy="cb-pad", keep_outputs=True))
    return loop, loop.run(TRACE, progress=False)


def same_as_host(loop, rep, catalog) -> None:
    done = rep.frame()[rep.frame().status == "completed"].id.tolist()
    assert len(done) == len(rep.report.outputs)
    want = catalog.host.infer([loop.queries[i] for i in done])
    for i, w in zip(done, want):
        got = rep.report.outputs[i]
        torch.testing.assert_close(got.pooled, w.pooled, rtol=0, atol=1e-5)
        torch.testing.assert_close(got.logits, w.logits, rtol=0, atol=1e-5)


def test_migrated_pets_give_identical_outputs(catalog):
    loop, rep = replay(catalog, balancer="migrate", threshold=0.05, min_busy=0.0)
    s = rep.summary()
    assert s["backend"] == "ray" and s["executor"] == "real" and s["completed"] == 240
    log = rep.migration_log()
    moved = log[log.kind.isin(["move", "copy"]) & (log.status == "landed")]
    assert len(moved), "the skewed trace should make the balancer move a PET"
    df = rep.frame()
    task, dst, landed = moved.task.iloc[0], int(moved.dst.iloc[0]), moved.end_s.iloc[0]
    after = df[(df.task == task) & (df.worker == dst) & (df.start >= landed)]
    assert len(after), "requests of the moved task ran on its new worker"
    same_as_host(loop, rep, catalog)


def test_killed_actor_loses_nothing(catalog):
    loop, rep = replay(catalog, balancer="static", faults=(Fault(0.3, 1),))
    s = rep.summary()
    assert s["completed"] == 240 and s["recoveries"] > 0
    assert (rep.frame()[rep.frame().start > 0.31].worker != 1).all()
    same_as_host(loop, rep, catalog)


def test_actor_crash_the_loop_was_not_told_about(catalog, monkeypatch):
    from pets.cluster import backends
    from pets.cluster.ray_backend import RayBackend

    class CrashesWorker1(RayBackend):
        """Worker 1's actor dies under the loop's feet on its fifth batch."""

        batches = 0

        def execute(self, w, batch):
            if w == 1:
                self.batches += 1
                if self.batches == 5:
                    ray.kill(self.actors[1], no_restart=True)
            return super().execute(w, batch)

    monkeypatch.setitem(backends.BACKENDS, "ray-crash", CrashesWorker1)
    monkeypatch.setitem(backends.EXECUTOR_OF, "ray-crash", "real")
    loop = ClusterLoop(catalog, ClusterConfig(workers=2, backend="ray-crash", balancer="static"),
                       ServeConfig(policy="cb-pad", keep_outputs=True))
    rep = loop.run(TRACE, progress=False)
    assert rep.summary()["completed"] == 240 and rep.summary()["recoveries"] > 0
    assert any("worker 1 died" in line and "lost" in line for line in rep.report.log)
    same_as_host(loop, rep, catalog)
