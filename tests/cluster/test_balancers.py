"""Placement and balancer decisions, as pure functions over named dataclasses."""
from __future__ import annotations

import pytest

from pets.cluster import BALANCERS, ClusterConfig, Fault, LoadView, Placement
from pets.cluster.balancers import COPY, DROP, MOVE, get_balancer
from pets.errors import InvalidSpecError

SIZES = {f"t{i}": 100 for i in range(8)}


def placed(name: str, workers: int = 2, budget: int | None = None) -> Placement:
    p = Placement(SIZES, workers, budget)
    get_balancer(name).place(list(SIZES), p)
    return p


def test_static_is_round_robin():
    p = placed("static", workers=4)
    assert p.on(0) == ["t0", "t4"] and p.on(3) == ["t3", "t7"]
    assert p.used == [200] * 4


def test_replicate_fills_memory_but_never_exceeds_it():
    assert all(len(p) == 8 for p in (placed("replicate", 2).on(0), placed("replicate", 2).on(1)))
    p = placed("replicate", workers=2, budget=600)
    assert p.used == [600, 600]
    assert {t for w in (0, 1) for t in p.on(w)} == set(SIZES)  # every task somewhere


def test_budget_too_small_is_a_clear_error():
    with pytest.raises(InvalidSpecError, match="more than the per-worker memory budget"):
        placed("static", workers=2, budget=50)


def view(work: dict, alive=(0, 1)) -> LoadView:
    return LoadView(now=1.0, alive=alive, work=work, running={})


def test_migrate_moves_a_task_that_fits_in_half_the_gap():
    p = placed("static")  # w0: t0 t2 t4 t6, w1: t1 t3 t5 t7
    moves = get_balancer("migrate").rebalance(view({("t0", 0): 300, ("t2", 0): 100, ("t1", 1): 50}), p)
    assert moves[0] == type(moves[0])(MOVE, "t2", 1, 0)  # 100 <= (400 - 50) / 2; t0 is too hot


def test_migrate_copies_a_task_hotter_than_the_gap():
    p = placed("static")
    moves = get_balancer("migrate").rebalance(view({("t0", 0): 1000, ("t1", 1): 10}), p)
    assert moves[0].kind == COPY and moves[0].task == "t0" and moves[0].dst == 1


def test_migrate_leaves_a_balanced_cluster_alone():
    p = placed("static")
    assert get_balancer("migrate").rebalance(view({("t0", 0): 100, ("t1", 1): 95}), p) == []


def test_migrate_drops_spare_copies_to_make_room():
    p = Placement(SIZES, 2, budget=300)
    for t in ("t0", "t2"):
        p.put(0, t)
    for t in ("t1", "t2", "t3"):
        p.put(1, t)  # w1 is full; t2 has a copy on w0 too
    moves = get_balancer("migrate").rebalance(view({("t0", 0): 1000, ("t1", 1): 10}), p)
    assert moves[:2] == [type(moves[0])(DROP, "t2", 1), type(moves[0])(COPY, "t0", 1, 0)]


def test_migrate_leaves_an_idle_cluster_alone():
    p = placed("static")
    idle = LoadView(now=1.0, alive=(0, 1), work={("t0", 0): 1000}, running={}, busy={0: 0.1, 1: 0})
    assert get_balancer("migrate").rebalance(idle, p) == []


def test_static_and_replicate_never_move():
    for name in ("static", "replicate"):
        assert get_balancer(name).rebalance(view({("t0", 0): 1e6}), placed(name)) == []


@pytest.mark.parametrize("kw, match", [
    (dict(workers=0), "workers"), (dict(workers=2.5), "workers"),
    (dict(balancer="nope"), "unknown balancer"), (dict(backend="mpi"), "unknown backend"),
    (dict(bandwidth_gbs=0), "bandwidth_gbs"), (dict(memory_budget_mb=-1), "memory_budget_mb"),
    (dict(workers=2, faults=(Fault(1.0, 2),)), "names no worker"),
    (dict(workers=2, faults=(Fault(-1.0, 0),)), "time must be"),
    (dict(workers=2, faults=(Fault(float("nan"), 0),)), "time must be"),
    (dict(workers=2, devices=("cpu",)), "need 2 devices"),
])
def test_invalid_cluster_config(kw, match):
    with pytest.raises(InvalidSpecError, match=match):
        ClusterConfig(**kw)


def test_unknown_balancer_lists_choices():
    with pytest.raises(InvalidSpecError, match="migrate"):
        get_balancer("lpt2")
    assert {"static", "replicate", "migrate"} <= set(BALANCERS)
