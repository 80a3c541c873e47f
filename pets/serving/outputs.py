"""Which outputs of a batch are not finite: a request whose pooled output or logits hold
NaN or inf is never counted as completed (the ledger ends it failed, with the reason).

Outputs come in the shapes the systems return, each with a reader in `READERS`:
a list of `Result`s (pets, base, seqs, Ray workers) or a transformers model output with
`pooler_output` / `logits` rows in batch order (peft). `None` (the sim executor) has none.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch

from pets.batching.batch import Batch
from pets.batching.query import Result

NONFINITE = ("non-finite output (NaN or inf) under task {task!r}: its parameters or the "
             "input overflow the engine's dtype; check the task's parameters, or serve it in "
             "an engine with a wider dtype (float32)")


def _finite(t: object) -> bool:
    return not isinstance(t, torch.Tensor) or not t.is_floating_point() or bool(
        torch.isfinite(t).all())


def _from_results(batch: Batch, out: list) -> Iterator[int]:
    for r in out:
        if isinstance(r, Result) and not (_finite(r.pooled) and _finite(r.logits)):
            yield r.query_id


def _from_model_output(batch: Batch, out: object) -> Iterator[int]:
    for name in ("pooler_output", "logits", "last_hidden_state"):
        t = getattr(out, name, None)
        if not isinstance(t, torch.Tensor) or not t.is_floating_point() or len(t) != len(batch):
            continue
        ok = torch.isfinite(t.reshape(len(batch), -1)).all(dim=1).tolist()
        yield from (q.id for q, good in zip(batch.queries, ok) if not good)


# (does this reader apply to `out`?, reader) in order; the first that applies is used.
READERS: list[tuple[Callable[[object], bool], Callable[[Batch, object], Iterator[int]]]] = [
    (lambda out: out is None, lambda batch, out: iter(())),
    (lambda out: isinstance(out, list), _from_results),
    (lambda out: True, _from_model_output),
]


def nonfinite_ids(batch: Batch, out: object) -> set[int]:
    """Ids of `batch`'s queries whose output holds NaN or inf."""
    reader = next(read for applies, read in READERS if applies(out))
    return set(reader(batch, out))
