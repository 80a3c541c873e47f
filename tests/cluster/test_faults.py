"""Workers that die where the loop does not expect it: during a PET load, a drop, or with
only spare copies left to make room. Nothing hangs, nothing crashes, nothing is lost."""
from __future__ import annotations

import pytest

from pets.cluster import Catalog, ClusterConfig, ClusterLoop, Fault, LoadView, Placement
from pets.cluster import backends as B
from pets.cluster.backend import WorkerLost
from pets.cluster.backends import SimBackend
from pets.cluster.balancers import get_balancer
from pets.serving import ServeConfig, Trace, TraceRow, TraceSpec, generate_trace


class LosesWorker1OnLoad(SimBackend):
    """Worker 1 is found dead when task A (placed on worker 0) is loaded onto it."""

    def load(self, w, task, src):
        if (w, task) == (1, "A"):
            raise WorkerLost("worker 1 died during a load")


class DropFindsWorkerDead(SimBackend):
    def drop(self, w, task):
        raise WorkerLost(f"worker {w} died")


@pytest.fixture
def backend(monkeypatch):
    def use(cls):
        monkeypatch.setitem(B.BACKENDS, "test", cls)
        monkeypatch.setitem(B.EXECUTOR_OF, "test", "sim")
        return "test"
    return use


def accounted(rep) -> bool:
    s = rep.summary()
    return s["completed"] + s["rejected"] + s["failed"] == s["requests"]


def test_worker_lost_while_a_pet_lands_releases_parked_requests(backend):
    rows = tuple([TraceRow(0.0, t, 8) for t in "ABC"] + [TraceRow(0.1, "A", 8)] * 3)
    trace = Trace(rows)
    rep = ClusterLoop(Catalog.for_trace(trace), ClusterConfig(
        workers=3, backend=backend(LosesWorker1OnLoad), balancer="static", interval_s=0.05,
        faults=(Fault(0.1, 0),)), ServeConfig(policy="fixed")).run(trace, progress=False)
    assert rep.summary()["completed"] == 6
    assert any("worker 1 died during a load" in line for line in rep.report.log)


def test_worker_lost_on_drop_is_a_death_not_a_crash(backend):
    trace = generate_trace(TraceSpec(requests=600, rate=15_000, tasks=8, alpha=1.5, seed=3))
    rep = ClusterLoop(Catalog.for_trace(trace), ClusterConfig(
        workers=4, backend=backend(DropFindsWorkerDead), interval_s=0.005, window_s=0.02),
        ServeConfig(policy="cb-pad", queue_limit=10**5)).run(trace, progress=False)
    assert accounted(rep) and rep.summary()["completed"] == 600


def test_recovery_drops_spare_copies_to_make_room():
    trace = Trace(tuple(TraceRow(0.01 * i, "ABCD"[i % 4], 8) for i in range(40)))
    base = Catalog.for_trace(trace)
    catalog = Catalog(base.preset, base.config, base.specs, {t: 2**20 for t in base.specs})
    rep = ClusterLoop(catalog, ClusterConfig(workers=3, balancer="replicate", memory_budget_mb=2.0,
                                             faults=(Fault(0.1, 0),)),
                      ServeConfig(policy="fixed")).run(trace, progress=False)
    assert rep.summary()["completed"] == 40
    assert "drop" in set(rep.migration_log().kind)
    assert max(rep.peak_pet_bytes) <= rep.budget_bytes


def test_a_round_of_moves_is_planned_against_its_own_effects():
    sizes = {f"t{i}": 100 for i in range(6)} | {"t0": 200}
    p = Placement(sizes, 2, budget=500)
    for t in ("t0", "t3", "t4", "t5"):
        p.put(0, t)
    for t in ("t1", "t3", "t5", "t2"):
        p.put(1, t)
    view = LoadView(1.0, (0, 1), {("t0", 0): 1000, ("t4", 0): 300, ("t1", 1): 10, ("t5", 1): 5,
                                  ("t3", 1): 6}, {})
    drops = set()
    for m in get_balancer("migrate").rebalance(view, p):  # applied in order, every step is legal
        if m.kind == "drop":
            assert m.task not in drops and len(p.holders[m.task]) > 1
            drops.add(m.task)
            p.drop(m.dst, m.task)
        else:
            p.reserve(m.dst, m.task)
    assert max(p.used) <= 500
