"""The training loop shared by every recipe: AdamW, linear warm-up and decay, gradient
clipping, mixed precision where the machine runs bf16 natively, dev accuracy per epoch.

Shapes: a batch is input_ids [B, L] and attention_mask [B, L] padded to the batch's
longest row; logits [B, num_labels].
"""
from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from pets.train.model import TaskModel
from pets.train.recipes.base import Recipe


@dataclass(frozen=True)
class Encoded:
    """Token ids per row (already truncated) and the label index per row."""

    ids: tuple[tuple[int, ...], ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    dev_accuracy: float
    seconds: float


@dataclass
class FitLog:
    epochs: list[EpochLog] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # per step
    seconds: float = 0.0


def pad(rows: Sequence[Sequence[int]]) -> tuple[Tensor, Tensor]:
    """Rows of ids -> (input_ids [B, L], attention_mask [B, L]), zero-padded."""
    n = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), n, dtype=torch.long)
    mask = torch.zeros(len(rows), n, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return ids, mask


def autocast(dtype: torch.dtype):
    """bf16/fp16 autocast on the CPU when training in that dtype; fp32 runs plain."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=dtype)


@torch.no_grad()
def predict(model: TaskModel, data: Encoded, *, batch_size: int = 128,
            dtype: torch.dtype = torch.float32) -> list[int]:
    """Predicted class per row (model in eval mode, fp32 unless told)."""
    was = model.training
    model.eval()
    order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))  # little padding
    preds = [0] * len(data)
    with autocast(dtype):
        for s in range(0, len(order), batch_size):
            chunk = order[s:s + batch_size]
            logits = model(*pad([data.ids[i] for i in chunk]))
            for i, p in zip(chunk, logits.argmax(-1).tolist()):
                preds[i] = p
    model.train(was)
    return preds


def accuracy(preds: Sequence[int], labels: Sequence[int]) -> float:
    return sum(p == y for p, y in zip(preds, labels)) / max(1, len(labels))


def fit(model: TaskModel, recipe: Recipe, train: Encoded, dev: Encoded, *, epochs: int,
        lr: float, batch_size: int, seed: int, dtype: torch.dtype,
        on_epoch: Callable[[EpochLog], None] | None = None,
        on_step: Callable[[int, int, float], None] | None = None,
        progress: bool = True) -> FitLog:
    """Train `model` in place; returns per-step losses and per-epoch dev accuracy.

    on_step(step, total_steps, loss) after every step (a dashboard's live loss; raising
    there stops training); on_epoch(EpochLog) after every epoch."""
    from tqdm.auto import tqdm

    rng = random.Random(seed)
    torch.manual_seed(seed)
    steps_per_epoch = -(-len(train) // batch_size)
    total = epochs * steps_per_epoch
    log, start = FitLog(), time.perf_counter()
    opt, sched = _optimiser(model, recipe, lr, total, done=0)
    bar = tqdm(total=total, desc=f"train {recipe.name}", disable=not progress, leave=False)
    model.train()
    for epoch in range(epochs):
        t0 = time.perf_counter()
        epoch_losses = []
        for chunk in batches_by_length(train, batch_size, rng):
            ids, mask = pad([train.ids[i] for i in chunk])
            y = torch.tensor([train.labels[i] for i in chunk])
            with autocast(dtype):
                loss = F.cross_entropy(model(ids, mask).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.trainable(), 1.0)
            opt.step()
            sched.step()
            log.losses.append(loss.item())
            epoch_losses.append(loss.item())
            bar.update(1)
            if on_step:
                on_step(len(log.losses), total, log.losses[-1])
            bar.set_postfix(loss=f"{sum(epoch_losses[-20:]) / len(epoch_losses[-20:]):.3f}")
        if recipe.after_epoch(model, epoch, epochs):  # new trainable set: fresh optimiser state
            lr = recipe.lr_after_change(lr)
            opt, sched = _optimiser(model, recipe, lr, total, done=(epoch + 1) * steps_per_epoch)
        dev_acc = accuracy(predict(model, dev, dtype=dtype), dev.labels)
        entry = EpochLog(epoch + 1, sum(epoch_losses) / len(epoch_losses), dev_acc,
                         time.perf_counter() - t0)
        log.epochs.append(entry)
        bar.set_postfix(loss=f"{entry.train_loss:.3f}", dev_acc=f"{dev_acc:.3f}")
        if on_epoch:
            on_epoch(entry)
    bar.close()
    log.seconds = time.perf_counter() - start
    return log


def batches_by_length(data: Encoded, batch_size: int, rng: random.Random,
                      pool: int = 32) -> list[list[int]]:
    """Shuffled batches of rows of similar length (little padding): rows are shuffled, cut
    into pools of `pool` batches, sorted by length within a pool, batched, and the batches
    shuffled again."""
    order = list(range(len(data)))
    rng.shuffle(order)
    out = []
    for p in range(0, len(order), batch_size * pool):
        block = sorted(order[p:p + batch_size * pool], key=lambda i: len(data.ids[i]))
        out += [block[s:s + batch_size] for s in range(0, len(block), batch_size)]
    rng.shuffle(out)
    return out


def _optimiser(model: TaskModel, recipe: Recipe, lr: float, total: int, done: int):
    params = model.trainable()
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01 if recipe.name == "full" else 0.0)
    warm = max(1, int(0.06 * total))

    def factor(step: int) -> float:
        step += done
        return step / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)
