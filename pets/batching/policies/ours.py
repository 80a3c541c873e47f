"""Our policies: padding-aware coordinated batching, and the best of everything.

`cb-pad` plans for the padding mode the engine really runs. With packed tokens
(`none`) or per-mini-batch padding (`mini`) a query's cost no longer depends on
the longest query of its batch, so sorting by length buys little; what matters
is how many batches run (alpha per batch) and how many task segments each holds
(beta per segment). cb-pad orders queries by task, then length, and runs one DP
whose window cost is the exact predicted cost of that window as a Batch: alpha
over its padded tokens plus beta of each task run in it. (Under `macro` padding
the beta terms of full runs use their own longest query: an approximation.)

`best` plans with every registered policy and cb-pad and keeps the plan of
least predicted cost in the engine's padding mode, so by construction it is
never worse than any other policy under the cost model.
"""
from __future__ import annotations

import numpy as np

from pets.batching.policies.base import POLICIES, batch_of_queries, by_task_then_length, register_policy
from pets.batching.policies.dp import segment_dp, window_sizes


def window_costs(seq, cost, padding: str, max_batch: int) -> np.ndarray:
    """costs[j, k] = predicted cost of seq[j-k : j+1] as one Batch (inf if it does not fit).

    `seq` must hold each task in one contiguous run, sorted by length inside.
    """
    n_items = len(seq)
    lengths = np.array([q.length for q in seq], dtype=float)
    run_of = np.zeros(n_items, dtype=np.int64)
    tasks = [seq[0].task]
    for i in range(1, n_items):
        if seq[i].task != seq[i - 1].task:
            tasks.append(seq[i].task)
        run_of[i] = len(tasks) - 1
    run_start = np.searchsorted(run_of, np.arange(len(tasks)), side="left")
    run_end = np.searchsorted(run_of, np.arange(len(tasks)), side="right")
    run_pet = np.array([cost.pet_of(t) for t in tasks])
    prefix = np.concatenate([[0.0], np.cumsum(lengths)])

    def padded(a, b, last):
        """Padded tokens of items a..b-1 of one run (sorted: the longest is `last`)."""
        return (prefix[b] - prefix[a]) if padding == "none" else (b - a) * lengths[last]

    def beta(run, n, tokens):
        out = np.zeros(np.shape(n))
        for pet in np.unique(run_pet):
            m = run_pet[run] == pet
            out[m] = cost.beta(pet, n[m], tokens[m] / n[m])
        return out

    counts = (run_end - run_start).astype(float)
    full_tok = padded(run_start, run_end, run_end - 1)
    full_beta = beta(np.arange(len(tasks)), counts, full_tok)
    beta_prefix = np.concatenate([[0.0], np.cumsum(full_beta)])
    tok_prefix = np.concatenate([[0.0], np.cumsum(full_tok)])

    start, ok = window_sizes(n_items, min(max_batch, n_items))
    j = np.broadcast_to(np.arange(n_items)[:, None], start.shape)
    s = np.clip(start, 0, None)
    rs, rj = run_of[s], run_of[j]
    same = rs == rj
    first_end = np.where(same, j + 1, run_end[rs])
    n_first = first_end - s
    tok_first = padded(s, first_end, first_end - 1)
    n_last = np.where(same, 1, j - run_start[rj] + 1)
    tok_last = np.where(same, 1.0, padded(run_start[rj], j + 1, j))
    mid = np.maximum(rj - rs - 1, 0) > 0
    mid_beta = np.where(mid, beta_prefix[np.maximum(rj, rs + 1)] - beta_prefix[rs + 1], 0.0)
    mid_tok = np.where(mid, tok_prefix[np.maximum(rj, rs + 1)] - tok_prefix[rs + 1], 0.0)
    n = (j - s + 1).astype(float)
    tokens = tok_first + mid_tok + np.where(same, 0.0, tok_last)
    if padding == "macro":
        tokens = n * _window_max(lengths, start.shape[1])
    total = (cost.alpha(n, tokens / n) + beta(rs, n_first.astype(float), tok_first)
             + np.where(same, 0.0, beta(rj, n_last.astype(float), tok_last)) + mid_beta)
    return np.where(ok, total, np.inf)


def _window_max(lengths: np.ndarray, kmax: int) -> np.ndarray:
    """out[j, k] = max(lengths[j-k .. j]) (clipped at the sequence start)."""
    out = np.empty((len(lengths), kmax))
    cur = lengths.copy()
    for k in range(kmax):
        if k:
            shifted = np.concatenate([np.full(k, -np.inf), lengths[:-k]])
            cur = np.maximum(cur, shifted)
        out[:, k] = cur
    return out


@register_policy("cb-pad")
def cb_pad(queries, cost, *, max_batch, padding):
    """One DP over task-then-length order with the exact batch cost in `padding`."""
    seq = by_task_then_length(queries)
    bounds = segment_dp(window_costs(seq, cost, padding, max_batch))
    return [batch_of_queries(seq[a:b]) for a, b in zip(bounds, bounds[1:])]


@register_policy("best")
def best(queries, cost, *, max_batch, padding):
    """The least-cost plan among all other policies, by the cost model in `padding`."""
    plans = {name: fn(queries, cost, max_batch=max_batch, padding=padding)
             for name, fn in POLICIES.items() if name != "best"}
    return min(plans.values(), key=lambda p: cost.plan_cost(p, padding))
