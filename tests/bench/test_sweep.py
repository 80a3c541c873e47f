"""`pets bench sweep`: rising offered load until p99 breaks the SLO; capacity at the SLO."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pets.bench.registry import config, get_bench, run
from pets.bench.sweep import SweepConfig, capacity_at_slo, summary_lines
from pets.errors import InvalidSpecError


@pytest.fixture(scope="module")
def sweep():
    return run("sweep", preset="bert-tiny", requests=120, tasks=8, slo_ms=30.0,
               factors=(0.25, 0.5, 1.0, 2.0, 4.0), refine=2, progress=False)


def test_each_system_sweeps_until_p99_breaks_the_slo(sweep):
    assert list(dict.fromkeys(sweep.system)) == ["pets", "seqs", "base"]
    for system, g in sweep.groupby("system"):
        plain = g[~g.refined]
        assert plain.offered_rps.is_monotonic_increasing
        assert plain.meets_slo.iloc[:-1].all()  # it stops at the first break
        if not plain.meets_slo.iloc[-1]:
            assert plain.p99_ms.iloc[-1] > 30.0 or plain.completed.iloc[-1] < plain.requests.iloc[-1]
        assert g.refined.sum() <= 2
    cap = capacity_at_slo(sweep).set_index("system")
    for system, row in cap.iterrows():
        g = sweep[sweep.system == system]
        assert row.capacity_at_slo_rps == pytest.approx(g[g.meets_slo].offered_rps.max())
        assert (g[~g.meets_slo].offered_rps > row.capacity_at_slo_rps).all()
    assert cap.loc["base", "capacity_at_slo_rps"] >= 0.9 * cap.loc["pets", "capacity_at_slo_rps"]


def test_summary_states_capacity_at_the_slo(sweep):
    lines = summary_lines(sweep)
    assert "SLO p99 <= 30 ms" in lines[0]
    assert sum("capacity at the SLO" in line for line in lines) >= 3
    assert any(line.startswith("pets / seqs capacity at the SLO") for line in lines)


def test_summary_flags_impossible_orderings_and_unbounded_sweeps():
    rows = [dict(system=s, step=i, factor=f, estimate_rps=10.0, cost_model="profile:x",
                 offered_rps=r, throughput_rps=r, p99_ms=p, meets_slo=m, refined=False)
            for i, (s, f, r, p, m) in enumerate([
                ("pets", 1.0, 10.0, 50.0, True), ("pets", 2.0, 20.0, 300.0, False),
                ("base", 1.0, 5.0, 50.0, True), ("base", 2.0, 8.0, 300.0, False),
                ("seqs", 1.0, 7.0, 50.0, True)])]
    df = pd.DataFrame(rows).assign(preset="p", executor="real", slo_ms=200.0, max_batch=32)
    lines = summary_lines(df)
    assert any("IMPOSSIBLE ORDER: base" in line and "pets's 10.0" in line for line in lines)
    assert any(line.startswith("seqs: capacity at the SLO 7.0 req/s (at least" ) for line in lines)


def test_bad_settings_are_clear_errors():
    with pytest.raises(InvalidSpecError, match="factors"):
        SweepConfig(factors=(0.5, -1.0))
    with pytest.raises(InvalidSpecError, match="refine"):
        config("sweep", refine=50)
    assert get_bench("sweep").file_stem(SweepConfig(), "quick") == "sweep-distilbert-sim"


def test_sweep_figure(sweep):
    from pets.viz import sweep_lines

    fig = sweep_lines(sweep)
    lines = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in lines] == ["pets", "seqs", "base"]
    assert len({t.line.dash for t in lines}) == 3
    assert fig.layout.shapes[0].y0 == 30.0  # the SLO line
    rings = [t for t in fig.data if t.showlegend is False]
    assert len(rings) == len(capacity_at_slo(sweep).dropna())
    assert np.isclose(list(lines[0].y), sweep[sweep.system == "pets"].sort_values("offered_rps").p99_ms).all()
