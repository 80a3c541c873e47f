"""Batching policies: invariants, determinism, DPs equal exhaustive search, errors."""
from __future__ import annotations

import random

from dataclasses import replace

import numpy as np
import pytest

import pets
from pets.batching.cost import CostModel
from pets.batching.grid import Grid
from pets.batching.policies import POLICIES, plan
from pets.batching.policies.base import by_length, by_task_then_length
from pets.batching.policies.coordinated import alpha_groups, minibatches
from pets.batching.policies.dp import exhaustive_segments, segment_dp
from pets.batching.policies.ours import window_costs
from pets.pet.mixes import round_robin_specs
from pets.serving.dispatch import take_batch

SPECS = round_robin_specs(10)
COST = CostModel.analytic(pets.PRESETS["distilbert"]).with_tasks({s.name: s for s in SPECS})


def make_queries(n, seed, n_tasks=10, std=8.0):
    rng = random.Random(seed)
    lengths = [min(128, max(1, round(rng.gauss(32, std)))) for _ in range(n)]
    tasks = [SPECS[rng.randrange(n_tasks)].name for _ in range(n)]
    qs = [pets.Query(task=t, input_ids=[101] * n_, id=i, arrival=i * 0.01)
          for i, (t, n_) in enumerate(zip(tasks, lengths))]
    rng.shuffle(qs)
    return qs


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("padding", ["macro", "mini", "none"])
@pytest.mark.parametrize("max_batch", [1, 7, 32])
def test_plans_cover_every_query_once_within_limits(policy, padding, max_batch):
    qs = make_queries(150, seed=max_batch)
    batches = plan(policy, qs, COST, max_batch=max_batch, padding=padding)
    ids = [q.id for b in batches for q in b.queries]
    assert sorted(ids) == sorted(q.id for q in qs)
    for b in batches:
        assert 1 <= len(b) <= max_batch
        for mb in b.minibatches:
            assert {q.task for q in mb.queries} == {mb.task}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_policies_are_deterministic(policy):
    a = plan(policy, make_queries(200, seed=3), COST, max_batch=16)
    b = plan(policy, make_queries(200, seed=3), COST, max_batch=16)
    assert [[q.id for q in x.queries] for x in a] == [[q.id for q in x.queries] for x in b]


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_empty_input_gives_no_batches(policy):
    assert plan(policy, [], COST) == []


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_a_lone_query_has_one_plan_so_servers_skip_the_planner(policy):
    q = make_queries(1, seed=0)
    assert [[x.id for x in b.queries] for b in plan(policy, q, COST, max_batch=8)] == [[q[0].id]]

    def planner(*_, **__):
        raise AssertionError("a lone query was planned")
    batch, rest, _ = take_batch(q, planner, COST, max_batch=8, window=4, padding="none")
    assert [x.id for x in batch.queries] == [q[0].id] and rest == []


@pytest.mark.parametrize("padding", ["macro", "mini", "none"])
@pytest.mark.parametrize("seed", range(8))
def test_best_is_never_worse_than_any_policy(padding, seed):
    qs = make_queries(120, seed=seed, std=[1, 2, 4, 8][seed % 4])
    costs = {p: COST.plan_cost(plan(p, qs, COST, max_batch=16, padding=padding), padding)
             for p in POLICIES}
    assert costs["best"] <= min(costs.values()) + 1e-12


def test_unknown_task_and_bad_arguments_are_clear_errors():
    qs = make_queries(5, seed=0) + [pets.Query(task="nope", input_ids=[1, 2])]
    with pytest.raises(pets.UnknownTaskError, match="nope"):
        plan("cb", qs, COST)
    with pytest.raises(pets.InvalidSpecError, match="unknown batching policy"):
        plan("magic", make_queries(3, 0), COST)
    with pytest.raises(pets.InvalidSpecError, match="max_batch"):
        plan("cb", make_queries(3, 0), COST, max_batch=0)
    with pytest.raises(pets.InvalidSpecError, match="padding"):
        plan("cb", make_queries(3, 0), COST, padding="diag")
    with pytest.raises(pets.InvalidQueryError, match="no tokens"):
        pets.Query(task=SPECS[0].name, input_ids=[])


# ---- each DP equals exhaustive search under the same cost (<= 8 queries) -------------------

SMALL = [(seed, n) for seed in range(6) for n in (1, 2, 5, 8)]


def _table(n, kmax, fn):
    """costs[j, k] from a group-cost function fn(i, j_exclusive)."""
    out = np.full((n, kmax), np.inf)
    for j in range(n):
        for k in range(min(kmax, j + 1)):
            out[j, k] = fn(j - k, j + 1)
    return out


@pytest.mark.parametrize("seed,n", SMALL)
def test_segment_dp_equals_exhaustive_on_random_costs(seed, n):
    rng = np.random.default_rng(seed)
    cache = {}
    fn = lambda a, b: cache.setdefault((a, b), rng.uniform(0.1, 2.0) * (b - a) ** 0.5)  # noqa: E731
    kmax = 3
    bounds = segment_dp(_table(n, kmax, fn))
    want, _ = exhaustive_segments(n, fn, kmax)
    assert sum(fn(a, b) for a, b in zip(bounds, bounds[1:])) == pytest.approx(want)


@pytest.mark.parametrize("seed,n", SMALL)
def test_inter_task_dp_equals_exhaustive(seed, n):
    qs = by_length(make_queries(n, seed))
    cost = lambda a, b: COST.alpha(b - a, qs[b - 1].length)  # noqa: E731
    got = sum(COST.alpha(len(g), g[-1].length) for g in alpha_groups(qs, COST, 4))
    assert got == pytest.approx(exhaustive_segments(n, cost, 4)[0])


@pytest.mark.parametrize("seed,n", SMALL)
def test_intra_task_dp_equals_exhaustive(seed, n):
    qs = by_length([q for q in make_queries(40, seed, n_tasks=1)][:n])
    pet = COST.pet_of(qs[0].task)
    cost = lambda a, b: COST.beta(pet, b - a, qs[b - 1].length)  # noqa: E731
    got = sum(COST.beta(pet, len(mb.queries), mb.max_len) for mb in minibatches(qs, COST, 3))
    assert got == pytest.approx(exhaustive_segments(n, cost, 3)[0])


def test_intra_task_dp_of_many_tasks_equals_each_task_alone():
    """Stage 1 looks beta up once per PET type; each task's mini-batches are its own DP's."""
    qs = make_queries(60, seed=3)
    together = {(mb.task, tuple(q.id for q in mb.queries)) for mb in minibatches(qs, COST, 4)}
    alone = {(mb.task, tuple(q.id for q in mb.queries))
             for t in {q.task for q in qs}
             for mb in minibatches([q for q in qs if q.task == t], COST, 4)}
    assert together == alone


def test_intra_task_dp_answers_for_the_cost_model_and_queries_it_is_given():
    """The remembered last answer is never handed to another cost model or query set."""
    qs = by_length(make_queries(40, seed=1, n_tasks=1))
    flat = CostModel.analytic(pets.PRESETS["distilbert"]).with_tasks({s.name: s for s in SPECS})
    per_query = replace(flat, beta_grids={p: Grid.monotone([1, 2], [1, 128], [[1.0, 1.0], [9.0, 9.0]])
                                          for p in flat.beta_grids})
    shared = [len(mb.queries) for mb in minibatches(qs, flat, 40)]
    assert max(shared) > 1  # the analytic model batches these queries together
    # same queries, another cost model: two queries in one mini-batch cost 9 > 1 + 1
    assert [len(mb.queries) for mb in minibatches(qs, per_query, 40)] == [1] * 40
    assert [len(mb.queries) for mb in minibatches(qs, flat, 40)] == shared
    assert [len(mb.queries) for mb in minibatches(qs[:5], per_query, 40)] == [1] * 5


@pytest.mark.parametrize("padding", ["mini", "none"])
@pytest.mark.parametrize("seed,n", SMALL)
def test_cb_pad_window_costs_are_exact_batch_costs(padding, seed, n):
    """The vectorised window cost equals CostModel.batch_cost of that window, and the DP
    over it equals exhaustive search with batch_cost."""
    from pets.batching.policies.base import batch_of_queries

    seq = by_task_then_length(make_queries(n, seed, n_tasks=3))
    table = window_costs(seq, COST, padding, 4)
    exact = lambda a, b: COST.batch_cost(batch_of_queries(seq[a:b]), padding)  # noqa: E731
    for j in range(n):
        for k in range(min(4, j + 1)):
            assert table[j, k] == pytest.approx(exact(j - k, j + 1))
    got = COST.plan_cost(plan("cb-pad", seq, COST, max_batch=4, padding=padding), padding)
    assert got == pytest.approx(exhaustive_segments(n, exact, 4)[0])


@pytest.mark.parametrize("seed,n", SMALL)
def test_cb_stage_two_equals_exhaustive_over_minibatches(seed, n):
    """CB's inter-task DP over the length-sorted mini-batches equals exhaustive search."""
    qs = make_queries(n, seed, n_tasks=3)
    mbs = sorted(minibatches(qs, COST, 4), key=lambda mb: (mb.max_len, mb.task))

    def cost(a, b):
        group = mbs[a:b]
        size = sum(len(mb.queries) for mb in group)
        if size > 4:
            return np.inf
        return COST.alpha(size, group[-1].max_len) + sum(
            COST.beta(COST.pet_of(mb.task), len(mb.queries), mb.max_len) for mb in group)

    batches = plan("cb", qs, COST, max_batch=4)
    got = 0.0
    for b in batches:
        got += COST.alpha(len(b), max(b.lengths)) + sum(
            COST.beta(COST.pet_of(mb.task), len(mb.queries), mb.max_len) for mb in b.minibatches)
    assert got == pytest.approx(exhaustive_segments(len(mbs), cost, len(mbs))[0])
