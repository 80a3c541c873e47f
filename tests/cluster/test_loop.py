"""The cluster loop on the sim backend: accounting, memory budgets, faults, bad input."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pets.cluster import Catalog, ClusterConfig, Fault, replay_cluster
from pets.errors import InvalidSpecError
from pets.serving import ServeConfig, Trace, TraceRow, TraceSpec, generate_trace

# bert-tiny serves ~3k requests/s per simulated CPU worker: 15k/s saturates four of them.
SKEWED = generate_trace(TraceSpec(requests=3000, rate=15_000, tasks=16, alpha=1.5, cv=1.0, seed=3))
CATALOG = Catalog.for_trace(SKEWED, "bert-tiny")
SERVE = ServeConfig(policy="cb-pad", queue_limit=100_000)


def run(trace=SKEWED, catalog=CATALOG, serve=SERVE, **kw):
    kw = dict(interval_s=0.02, window_s=0.1) | kw  # the trace lasts 0.2 s
    return replay_cluster(trace, catalog, ClusterConfig(**kw), serve, progress=False)


def accounted(rep) -> bool:
    s = rep.summary()
    return s["completed"] + s["rejected"] + s["failed"] == s["requests"] and \
        all(r.status in ("completed", "rejected", "failed") for r in rep.report.records)


def test_migrate_beats_static_on_a_skewed_trace():
    static, migrate = (run(workers=4, balancer=b).summary() for b in ("static", "migrate"))
    assert static["completed"] == migrate["completed"] == 3000
    assert migrate["throughput_rps"] > 1.2 * static["throughput_rps"]
    assert migrate["migrations"] > 0 and static["migrations"] == 0


def test_migration_takes_link_time_and_is_logged():
    rep = run(workers=4, balancer="migrate", bandwidth_gbs=0.001)
    log = rep.migration_log()
    landed = log[log.kind.isin(["move", "copy"]) & (log.status == "landed")]
    assert len(landed)
    expected = 0.5e-3 + landed.nbytes / 1e6
    assert ((landed.end_s - landed.start_s) - expected).abs().max() < 1e-9
    assert set(rep.loads().columns) >= {"time_s", "worker", "queued", "busy", "pet_mb"}


@pytest.mark.parametrize("balancer", ["static", "replicate", "migrate"])
def test_memory_budget_is_never_exceeded(balancer):
    budget_mb = 1.6 * CATALOG.total_bytes() / 4 / 2**20
    rep = run(workers=4, balancer=balancer, memory_budget_mb=budget_mb)
    assert accounted(rep)
    assert max(rep.peak_pet_bytes) <= rep.budget_bytes
    assert rep.loads().pet_mb.max() <= budget_mb + 1e-9


def test_worker_fault_loses_nothing():
    rep = run(workers=3, balancer="static", faults=(Fault(0.1, 0),))
    s = rep.summary()
    assert s["completed"] == 3000 and s["rerouted"] > 0 and s["recoveries"] > 0
    assert set(rep.frame().worker) == {0, 1, 2}
    late = rep.frame()[rep.frame().finish > 0.1]
    assert 0 not in set(late.worker)  # nothing completes on the dead worker after its death
    assert any("worker 0 died" in line for line in rep.report.log)


def test_all_workers_dead_fails_requests_with_a_reason():
    rep = run(workers=2, faults=(Fault(0.05, 0), Fault(0.05, 1)))
    df = rep.frame()
    assert accounted(rep) and (df.status == "failed").sum() > 0
    assert df[df.status == "failed"].reason.str.contains("every worker is dead").all()


def test_bad_requests_are_rejected_with_reasons():
    rows = (TraceRow(0.0, "task-0", 8), TraceRow(0.001, "nope", 8), TraceRow(0.002, "task-1", 600))
    rep = run(trace=Trace(rows), workers=2)
    df = rep.frame().set_index("id")
    assert df.status.tolist() == ["completed", "rejected", "rejected"]
    assert "not in the cluster's catalog" in df.reason[1] and "at most 512" in df.reason[2]


def test_traces_with_lifecycle_rows_are_refused():
    rows = (TraceRow(0.0, "a", 8), TraceRow(0.1, "b", event="add_task", spec='{"pet": "bitfit"}'))
    with pytest.raises(InvalidSpecError, match="request rows only"):
        Catalog.for_trace(Trace(rows))


@settings(max_examples=15, deadline=None)
@given(workers=st.integers(1, 4), balancer=st.sampled_from(["static", "replicate", "migrate"]),
       queue_limit=st.integers(1, 50), rate=st.floats(100, 5000), fault=st.booleans(),
       budget=st.sampled_from([None, 1.2, 3.0]))
def test_every_request_is_accounted_for(workers, balancer, queue_limit, rate, fault, budget):
    trace = generate_trace(TraceSpec(requests=200, rate=rate, tasks=6, alpha=1.2, seed=workers))
    cat = Catalog.for_trace(trace, "bert-tiny")
    budget_mb = None if budget is None else budget * cat.total_bytes() / workers / 2**20
    try:
        rep = replay_cluster(trace, cat, ClusterConfig(
            workers=workers, balancer=balancer, memory_budget_mb=budget_mb,
            faults=(Fault(0.05, 0),) if fault else ()),
            ServeConfig(policy="fixed", queue_limit=queue_limit), progress=False)
    except InvalidSpecError as e:  # a budget too small for the catalog is refused up front
        assert "memory budget" in str(e)
        return
    assert accounted(rep)
    if budget_mb is not None:
        assert max(rep.peak_pet_bytes) <= rep.budget_bytes


def test_a_slower_device_gets_less_work():
    from dataclasses import replace

    from pets.batching.cost import CostModel

    trace = generate_trace(TraceSpec(requests=2000, rate=4000, tasks=8, popularity="uniform", seed=1))
    cat = Catalog.for_trace(trace, "bert-tiny")
    fast = CostModel.for_model("bert-tiny", cat.config)
    slow = replace(fast, scale=fast.scale * 4)
    rep = replay_cluster(trace, cat, ClusterConfig(workers=2, balancer="replicate"), SERVE,
                         cost=[fast, slow], progress=False)
    done = rep.per_worker().set_index("worker").completed
    assert done.sum() == 2000 and done[0] > 2 * done[1]
