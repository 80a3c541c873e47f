"""`pets bench replay`: real runs repeated with the systems interleaved, medians with their
spread, offered rate and capacity, and a summary that flags impossible orderings."""
from __future__ import annotations

from pets.bench.registry import get_bench, run


def test_replay_bench_reports_median_and_spread():
    df = run("replay", preset="bert-tiny", requests=40, tasks=4, repeats=2,
             systems=("base", "pets"), progress=False)
    real = df[df.executor == "real"].set_index("system")
    assert list(real.index) == ["base", "pets"] and (real.repeats == 2).all()
    assert (real.throughput_rps_min <= real.throughput_rps).all()
    assert (real.throughput_rps <= real.throughput_rps_max).all()
    assert (df.offered_rps > 0).all() and (df.capacity_rps > 0).all() and (df.slo_ms == 200).all()
    lines = get_bench("replay").summary(df)
    assert "median [min-max] of 2 interleaved run(s)" in lines[0]
    assert any(line.startswith("pets: throughput") and "[" in line for line in lines)
    # the same table with base made slow beyond the spread is flagged
    slow = df.copy()
    base = slow.system.eq("base") & slow.executor.eq("real")
    for c in ("throughput_rps", "throughput_rps_min", "throughput_rps_max"):
        slow.loc[base, c] = slow.loc[base, c] / 10
    assert any("IMPOSSIBLE ORDER" in line for line in get_bench("replay").summary(slow))
