"""Cluster options out of range and the messages of an unservable cluster (issue 17)."""
from __future__ import annotations

import math

import pytest

import pets
from pets.cli import main
from pets.cluster import Catalog, ClusterConfig, Fault, replay_cluster
from pets.serving import ServeConfig, Trace, TraceRow


@pytest.mark.parametrize("kw", [
    dict(interval_s=1e-8), dict(interval_s=math.inf), dict(interval_s=math.nan),
    dict(window_s=math.inf), dict(bandwidth_gbs=math.inf), dict(link_latency_ms=math.nan),
    dict(memory_budget_mb=math.inf), dict(threshold=math.inf), dict(max_moves=1.5),
    dict(min_busy=math.nan), dict(faults=(Fault(math.inf, 0),)), dict(faults=(Fault(0.0, True),)),
])
def test_cluster_config_bounds(kw):
    with pytest.raises(pets.InvalidSpecError):
        ClusterConfig(**kw)


def test_too_many_balancer_rounds_for_the_trace():
    trace = Trace((TraceRow(0.0, "t", 4), TraceRow(5000.0, "t", 4)))
    catalog = Catalog.for_trace(trace, "bert-tiny", with_params=False)
    with pytest.raises(pets.InvalidSpecError, match="balancer rounds"):
        replay_cluster(trace, catalog, ClusterConfig(workers=1, interval_s=1e-3),
                       ServeConfig(), progress=False)


def test_every_worker_dead_is_named_as_such():
    trace = Trace(tuple(TraceRow(0.1 + 0.01 * i, "ABC"[i % 3], 8) for i in range(12)))
    catalog = Catalog.for_trace(trace, "bert-tiny", with_params=False)
    rep = replay_cluster(trace, catalog, ClusterConfig(workers=2, faults=(Fault(0.0, 0), Fault(0.0, 1))),
                         ServeConfig(), progress=False)
    df = rep.report.frame()
    assert (df.status == "failed").all()
    assert df.reason.str.contains("every worker is dead").all()
    assert not df.reason.str.contains("memory").any()


@pytest.mark.parametrize("args,message", [
    (["--interval-s", "1e-8"], "interval_s"),
    (["--interval-s", "inf"], "interval_s"),
    (["--max-wait-ms", "inf"], "max_wait_ms"),
])
def test_cli_rejects_them_in_one_line(tmp_path, capsys, args, message):
    trace = tmp_path / "t.csv"
    main(["trace", "gen", "--out", str(trace), "--requests", "20", "--tasks", "4"])
    assert main(["cluster", "replay", str(trace), *args]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("pets: error:")]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in err
