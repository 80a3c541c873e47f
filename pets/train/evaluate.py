"""Accuracy where it matters: served by the engine, many tasks in mixed batches."""
from __future__ import annotations

from typing import Mapping, Sequence

from pets.batching.query import Query
from pets.engine.engine import PetsEngine
from pets.errors import DataError
from pets.train.data import TextDataset
from pets.train.loop import Encoded


def encode(tokenizer, ds: TextDataset, max_len: int) -> Encoded:
    """Token ids of every text, truncated to `max_len` tokens ([CLS] ... [SEP])."""
    ids = tokenizer(list(ds.texts), truncation=True, max_length=max_len)["input_ids"]
    return Encoded(tuple(tuple(r) for r in ids), ds.labels)


def served_predictions(engine: PetsEngine, data: Mapping[str, Encoded], *,
                       batch_size: int = 64) -> dict[str, list[int]]:
    """task -> predicted class per row, served in mixed batches: the rows of all tasks are
    interleaved round-robin, so every batch holds several tasks."""
    queue = _interleave({t: len(d) for t, d in data.items()})
    preds = {t: [0] * len(d) for t, d in data.items()}
    for s in range(0, len(queue), batch_size):
        chunk = queue[s:s + batch_size]
        queries = [Query(task=t, input_ids=data[t].ids[i], id=j) for j, (t, i) in enumerate(chunk)]
        for (t, i), r in zip(chunk, engine.infer(queries)):
            preds[t][i] = r.label_index
    return preds


def _interleave(sizes: Mapping[str, int]) -> list[tuple[str, int]]:
    out, longest = [], max(sizes.values(), default=0)
    for i in range(longest):
        out += [(t, i) for t, n in sizes.items() if i < n]
    return out


def align_labels(ds: TextDataset, task_labels: Sequence[str] | None, task: str) -> TextDataset:
    """`ds` with its label indices mapped onto the task's label names (DataError if the
    data names a label the task does not know)."""
    if not task_labels:
        raise DataError(f"task {task!r} names no labels; it cannot be scored against a data set "
                        "(train it with `pets train`, which stores them)")
    index = {n: i for i, n in enumerate(task_labels)}
    unknown = sorted(set(ds.label_names) - set(index))
    used = {ds.label_names[y] for y in ds.labels}
    if unknown and used & set(unknown):
        raise DataError(f"data set {ds.name!r} has labels {sorted(used & set(unknown))} that task "
                        f"{task!r} does not know; its labels are {list(task_labels)}")
    labels = tuple(index[ds.label_names[y]] for y in ds.labels)
    return TextDataset(ds.name, ds.texts, labels, tuple(task_labels), ds.source)
