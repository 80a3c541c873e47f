"""`pets.train.train`: data -> trained task -> task folder + metrics, checked by serving.

    result = train(TrainConfig(pet="lora", data="movies", name="movies-lora"), out="out/t")
    result.metrics.test_accuracy, result.metrics.served_test_accuracy

The CLI `pets train` is a thin wrapper over this.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from pets.dtypes import dtype_name, resolve_dtype
from pets.errors import PetsError, TrainError
from pets.pet.params import param_count
from pets.pet.spec import TaskSpec
from pets.pet.taskfile import TENSOR_FILE, save_task_folder
from pets.train.backbones import load_engine, load_tokenizer
from pets.train.data import Splits, load_dataset, split
from pets.train.evaluate import encode, served_predictions
from pets.train.loop import EpochLog, accuracy, fit, predict
from pets.train.model import TaskModel
from pets.train.recipes import get_recipe

METRICS_FILE = "metrics.json"
FULL_FILE = "model.safetensors"  # full fine-tuning writes a dense model, not a task file


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """One training run. None: the method's recipe default (epochs, lr) or the spec's."""

    pet: str
    data: str                 # a bundled data set name or a .csv/.jsonl path
    name: str
    backbone: str = "minilm"
    epochs: int | None = None
    lr: float | None = None
    batch_size: int = 32
    max_len: int = 64
    seed: int = 0
    max_train: int | None = None   # cap the training rows (stratified) for quick runs
    max_eval: int | None = None    # cap the dev and test rows
    # The compute dtype of training (bf16/fp16 = autocast; weights stay fp32). fp32 by default:
    # on CPUs without AMX, bf16 autocast trains no faster (measured: MiniLM LoRA 4.15 vs 4.06 s
    # per 32x40 step, full 11.6 vs 8.5 s on a 2-core avx512_bf16 EPYC).
    dtype: str = "float32"
    rank: int | None = None
    bottleneck: int | None = None
    density: float | None = None
    targets: tuple[str, ...] | None = None  # linears (or adapter sites) the PET changes

    def __post_init__(self) -> None:
        get_recipe(self.pet)
        checks = {"epochs": (self.epochs, 1, 1000), "batch_size": (self.batch_size, 1, 4096),
                  "max_len": (self.max_len, 4, 512), "seed": (self.seed, 0, 2**31),
                  "max_train": (self.max_train, 4, 10**9), "max_eval": (self.max_eval, 2, 10**9)}
        for key, (value, lo, hi) in checks.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not lo <= value <= hi):
                raise TrainError(f"{key} must be an int in [{lo}, {hi}], got {value!r}")
        if self.lr is not None and not (isinstance(self.lr, (int, float))
                                        and math.isfinite(self.lr) and 0 < self.lr < 1):
            raise TrainError(f"lr must be a number in (0, 1), got {self.lr!r}")
        resolve_dtype(self.dtype)


@dataclass
class TrainMetrics:
    name: str
    pet: str
    data: str
    backbone: str
    labels: list[str]
    sizes: dict[str, int]
    epochs: int
    lr: float
    batch_size: int
    max_len: int
    seed: int
    dtype: str
    dev_accuracy: float
    test_accuracy: float              # the trained model, fp32, at the end of training
    served_test_accuracy: float       # the saved task served by the engine (fp32, mixed batches)
    served_agreement: float           # share of test rows with the same prediction both ways
    task_params: int                  # numbers stored in the task (PET + head)
    trainable_params: int             # numbers the optimiser updated
    file_bytes: int                   # the saved tensors on disk
    train_seconds: float
    history: list[dict] = field(default_factory=list)
    test_predictions: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"


@dataclass
class TrainResult:
    spec: TaskSpec | None             # None for full fine-tuning
    params: dict[str, torch.Tensor]
    metrics: TrainMetrics
    folder: Path | None


def train(config: TrainConfig, *, out: str | Path | None = None, progress: bool = True,
          on_epoch: Callable[[EpochLog], None] | None = None,
          on_step: Callable[[int, int, float], None] | None = None,
          splits: Splits | None = None) -> TrainResult:
    """Train one task; write it to `out` (a task folder + metrics.json) when given.

    on_step(step, total_steps, loss) / on_epoch(EpochLog): live progress (see `fit`)."""
    recipe = get_recipe(config.pet)
    dtype = resolve_dtype(config.dtype)
    splits = splits or splits_for(config)
    labels = splits.train.label_names
    spec = recipe.spec(config.name, labels, config.seed)
    if spec is not None:
        spec = _with_overrides(spec, config)
    engine = load_engine(config.backbone)
    tok = load_tokenizer(config.backbone)
    train_set, dev_set, test_set = (encode(tok, d, config.max_len)
                                    for d in (splits.train, splits.dev, splits.test))
    torch.manual_seed(config.seed)
    model = TaskModel(engine.backbone, len(labels))
    recipe.attach(model, spec)
    trainable = sum(p.numel() for p in model.trainable())
    epochs, lr = config.epochs or recipe.epochs, config.lr or recipe.lr
    t0 = time.perf_counter()
    log = fit(model, recipe, train_set, dev_set, epochs=epochs, lr=lr,
              batch_size=config.batch_size, seed=config.seed, dtype=dtype,
              on_epoch=on_epoch, on_step=on_step, progress=progress)
    seconds = time.perf_counter() - t0
    preds = predict(model, test_set)  # fp32: what the served task must reproduce
    params = recipe.export(model, spec)
    if spec is not None:
        params.update(model.head_params())
        served = _served(engine, spec, params, test_set)
    else:
        served = preds  # a dense model: the trained model is what is served
    metrics = TrainMetrics(
        name=config.name, pet=config.pet, data=config.data, backbone=config.backbone,
        labels=list(labels), sizes=splits.sizes(), epochs=epochs, lr=lr,
        batch_size=config.batch_size, max_len=config.max_len, seed=config.seed,
        dtype=dtype_name(dtype), dev_accuracy=log.epochs[-1].dev_accuracy,
        test_accuracy=accuracy(preds, test_set.labels),
        served_test_accuracy=accuracy(served, test_set.labels),
        served_agreement=accuracy(served, preds),
        task_params=param_count(params), trainable_params=trainable,
        file_bytes=sum(t.numel() * t.element_size() for t in params.values()),
        train_seconds=round(seconds, 2), history=[asdict(e) for e in log.epochs],
        test_predictions=preds)
    folder = write(out, spec, params, metrics) if out is not None else None
    return TrainResult(spec, params, metrics, folder)


def splits_for(config: TrainConfig) -> Splits:
    """The train/dev/test splits a run of `config` uses (seeded: the same every time)."""
    s = split(load_dataset(config.data), seed=config.seed, max_train=config.max_train)
    if config.max_eval is None:
        return s
    cut = lambda d: split_head(d, config.max_eval)  # noqa: E731
    return Splits(s.train, cut(s.dev), cut(s.test))


def split_head(ds, n: int):
    """The first `n` rows of an already shuffled split."""
    return ds if len(ds) <= n else ds.subset(list(range(n)), "head")


def _with_overrides(spec: TaskSpec, config: TrainConfig) -> TaskSpec:
    over = {k: getattr(config, k) for k in ("rank", "bottleneck", "density", "targets")
            if getattr(config, k) is not None}
    if not over:
        return spec
    try:
        return replace(spec, **over)
    except PetsError as e:
        raise TrainError(str(e)) from None


def _served(engine, spec: TaskSpec, params, test_set) -> list[int]:
    engine.add_task(spec, params)
    try:
        return served_predictions(engine, {spec.name: test_set})[spec.name]
    finally:
        engine.remove_task(spec.name)


def write(out: str | Path, spec: TaskSpec | None, params, metrics: TrainMetrics) -> Path:
    """The task folder (pet.json + pet.safetensors) + metrics.json; full fine-tuning writes
    its dense model (model.safetensors) instead of a task."""
    from safetensors.torch import save_file

    folder = Path(out)
    if spec is not None:
        save_task_folder(folder, spec, params)
        metrics.file_bytes = (folder / TENSOR_FILE).stat().st_size
    else:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in params.items()}, str(folder / FULL_FILE))
        except OSError as e:
            raise TrainError(f"cannot write {folder}: {e}; pick a writable folder") from None
        metrics.file_bytes = (folder / FULL_FILE).stat().st_size
    (folder / METRICS_FILE).write_text(metrics.to_json(), encoding="utf-8")
    return folder
