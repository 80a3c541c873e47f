"""Cost model: monotone non-negative interpolation, profiles, fallbacks, batch costs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pets
from pets.batching.cost import CostModel, ProfileError, profile_path
from pets.batching.grid import Grid
from pets.batching.policies.base import batch_of_queries


def test_grid_is_exact_on_points_and_monotone_between():
    rng = np.random.default_rng(0)
    values = np.cumsum(np.cumsum(rng.uniform(0, 1, (4, 3)), axis=0), axis=1)
    g = Grid.monotone([1, 2, 8, 32], [8, 32, 128], values)
    for i, b in enumerate([1, 2, 8, 32]):
        for j, s in enumerate([8, 32, 128]):
            assert g(b, s) == pytest.approx(values[i, j])
    b = np.linspace(1, 100, 60)
    s = np.linspace(1, 300, 60)
    assert (np.diff(g(b, 64)) >= 0).all() and (np.diff(g(16, s)) >= 0).all()
    assert g(64, 128) == pytest.approx(2 * g(32, 128))  # grows in proportion past the grid


def test_grid_repairs_noisy_profiles():
    g = Grid.monotone([1, 2], [8, 16], [[0.5, 0.4], [-0.1, 0.3]])
    assert (g.values >= 0).all()
    assert g(2, 16) >= g(1, 16) >= g(1, 8)


def _frame():
    rows = []
    for b in (1, 4, 16):
        for s in (8, 32, 128):
            rows.append(dict(op="alpha", pet="", batch=b, seq=s, median_s=1e-3 * b * s))
            rows.append(dict(op="beta", pet="lora", batch=b, seq=s, median_s=1e-5 * b * s + 1e-4))
    return pd.DataFrame(rows)


def test_profile_csv_round_trip_and_fallback_for_missing_pets(tmp_path):
    path = tmp_path / "p.csv"
    _frame().to_csv(path, index=False)
    fallback = CostModel.analytic(pets.PRESETS["bert-tiny"])
    cm = CostModel.from_csv(path, fallback=fallback)
    assert cm.alpha(4, 32) == pytest.approx(0.128)
    assert cm.beta("lora", 16, 128) == pytest.approx(1e-5 * 16 * 128 + 1e-4)
    assert cm.beta("mask", 4, 32) == pytest.approx(fallback.beta("mask", 4, 32))


@pytest.mark.parametrize("make,match", [
    (lambda p: p.write_text("op,batch\nalpha,1\n"), "lacks columns"),
    (lambda p: _frame().query("op == 'beta'").to_csv(p, index=False), "no alpha"),
    (lambda p: _frame().drop(index=[0]).to_csv(p, index=False), "holes"),
])
def test_bad_profiles(tmp_path, make, match):
    path = tmp_path / "bad.csv"
    make(path)
    with pytest.raises(ProfileError, match=match):
        CostModel.from_csv(path)
    with pytest.raises(ProfileError, match="cannot read"):
        CostModel.from_csv(tmp_path / "missing.csv")


def test_for_engine_uses_committed_profile_or_analytic(monkeypatch, tmp_path):
    eng = pets.PetsEngine.from_preset("bert-tiny")
    eng.add_task(pets.TaskSpec(name="a", pet="mask"))
    monkeypatch.setenv("PETS_DATA", str(tmp_path))
    assert CostModel.for_engine(eng).source.startswith("analytic")
    path = profile_path("cpu", "bert-tiny")
    path.parent.mkdir(parents=True)
    _frame().to_csv(path, index=False)
    cm = CostModel.for_engine(eng)
    assert cm.source.startswith("profile") and cm.pet_of("a") == "mask"


def test_batch_cost_follows_padding_mode():
    cm = CostModel.analytic(pets.PRESETS["bert-base"]).with_tasks({"a": "lora", "b": "diff"})
    qs = [pets.Query(task=t, input_ids=[1] * n, id=i)
          for i, (t, n) in enumerate([("a", 4), ("a", 60), ("b", 10), ("b", 12)])]
    batch = batch_of_queries(qs)
    costs = {p: cm.batch_cost(batch, p) for p in ("macro", "mini", "none")}
    assert costs["macro"] > costs["mini"] > costs["none"] > 0
    with pytest.raises(pets.UnknownTaskError, match="with_tasks"):
        CostModel.analytic(pets.PRESETS["bert-tiny"]).batch_cost(batch)


def test_calibration_row_scales_every_prediction(tmp_path):
    from pets.batching.profiler import with_scale

    plain = CostModel.from_frame(_frame())
    scaled = CostModel.from_frame(with_scale(_frame(), 1.5))
    assert scaled.scale == 1.5 and plain.scale == 1.0
    assert scaled.alpha(4, 32) == pytest.approx(1.5 * plain.alpha(4, 32))
    assert scaled.beta("lora", 4, 32) == pytest.approx(1.5 * plain.beta("lora", 4, 32))
    again = with_scale(with_scale(_frame(), 1.5), 0.8)
    assert (again.op == "scale").sum() == 1 and CostModel.from_frame(again).scale == 0.8


@pytest.mark.parametrize("padding", ["macro", "mini", "none"])
def test_plan_cost_is_the_sum_of_batch_costs(padding):
    from pets.batching.policies import plan
    from pets.batching.synthetic import random_queries
    from pets.pet.mixes import round_robin_specs

    specs = round_robin_specs(7)
    cm = CostModel.analytic(pets.PRESETS["distilbert"]).with_tasks({s.name: s for s in specs})
    qs = random_queries([s.name for s in specs], list(range(1, 90)), 30522)
    batches = plan("fixed", qs, cm, max_batch=9)
    assert cm.plan_cost(batches, padding) == pytest.approx(
        sum(cm.batch_cost(b, padding) for b in batches))
    assert cm.plan_cost([], padding) == 0.0


def test_one_point_axes_and_bad_calibration():
    g = Grid.monotone([1, 2], [8], [[1.0], [2.0]])
    assert g(1, 8) == pytest.approx(1.0) and g(2, 100) == pytest.approx(2.0 * 100 / 8)
    assert Grid.monotone([4], [8, 16], [[1.0, 3.0]])(4, 12) == pytest.approx(2.0)
    from pets.batching.profiler import with_scale

    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ProfileError, match="calibration"):
            CostModel.from_frame(with_scale(_frame(), bad))
