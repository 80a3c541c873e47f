"""One sentence under several tasks at once: one mixed batch, outputs side by side."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

import pets


@dataclass(frozen=True)
class TaskOutput:
    task: str
    pet: str
    probs: np.ndarray | None  # softmax of the logits; None when the task has no head
    pooled: np.ndarray  # [hidden]
    label_names: tuple[str, ...] = ()  # one per class, in logit order ("0", "1"... when unnamed)

    @property
    def label_index(self) -> int | None:
        return None if self.probs is None else int(self.probs.argmax())

    @property
    def label(self) -> str | None:
        """The predicted class's name."""
        i = self.label_index
        return None if i is None else self.label_names[i]


@dataclass(frozen=True)
class SentenceRun:
    tokens: list[str]
    outputs: list[TaskOutput]
    seconds: float

    def similarity(self) -> pd.DataFrame:
        """Cosine similarity of the tasks' pooled outputs: how far each PET moves the sentence."""
        names = [o.task for o in self.outputs]
        x = np.stack([o.pooled for o in self.outputs])
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return pd.DataFrame(x @ x.T, index=names, columns=names)


def run_sentence(engine: pets.PetsEngine, ids: list[int], tasks: list[str],
                 tokens: list[str] | None = None) -> SentenceRun:
    """The token ids served once per task, all in one batch."""
    if not tasks:
        raise pets.InvalidQueryError("pick at least one task to run the sentence under")
    queries = [pets.Query(task=t, input_ids=ids, id=i) for i, t in enumerate(tasks)]
    start = time.perf_counter()
    results = engine.infer(queries)
    seconds = time.perf_counter() - start
    outputs = []
    for task, r in zip(tasks, results):
        spec = engine.tasks[task]
        probs = None if r.logits is None else torch.softmax(r.logits.float(), -1).cpu().numpy()
        names = tuple(spec.label_name(i) for i in range(spec.num_labels))
        outputs.append(TaskOutput(task, spec.pet, probs, r.pooled.float().cpu().numpy(), names))
    return SentenceRun(tokens or [], outputs, seconds)
