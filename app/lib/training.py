"""Training a task from the dashboard: check the form's input on the page (bad input is a
PetsError before anything starts), then train in a separate process (`Job.start_process`)
so the page keeps rendering; the work publishes the loss per step and the dev accuracy
per epoch, and Stop ends it between two steps.

Shapes of what the work publishes in `job.live`: losses [steps so far] (float),
steps_total (int), epochs [epochs so far] (dict: epoch, train_loss, dev_accuracy, seconds).
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pets
from pets.errors import DataError, DuplicateTaskError, TrainError
from pets.train import TrainConfig, get_recipe, load_dataset, recipe_names, split
from pets.train.data.files import SUFFIXES

from lib.provenance import TRAINED, Origin
from lib.zoo import backbone_key

NOT_A_TASK = "full"  # full fine-tuning writes a dense model, not a PET task the engine serves
PUBLISH_S = 0.3      # at most this often the loss curve goes to the page


def trainable_pets() -> list[str]:
    return [r for r in recipe_names() if r != NOT_A_TASK]


@dataclass(frozen=True)
class Upload:
    """A user's data file as the page received it."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class TrainRequest:
    config: TrainConfig
    data_label: str  # what the task table shows: the bundled name or the uploaded file's name
    out: str         # the task folder to write
    backbone: str    # the dashboard's backbone key the task is trained on


@dataclass(frozen=True)
class TrainedTask:
    """What a finished run hands back to the page (picklable: no tensors)."""

    name: str
    folder: str
    data: str
    backbone: str
    labels: tuple[str, ...]
    dev_accuracy: float
    test_accuracy: float
    served_test_accuracy: float
    train_seconds: float

    def origin(self) -> Origin:
        return Origin(TRAINED, data=self.data, test_accuracy=self.test_accuracy,
                      folder=Path(self.folder), backbone=self.backbone)


def prepare(engine: pets.PetsEngine, backbone: str, workdir: Path, *, pet: str, dataset: str,
            upload: Upload | None, name: str, epochs: Any, max_train: Any,
            max_eval: Any) -> TrainRequest:
    """A checked TrainRequest, or the PetsError saying what is wrong (nothing written but
    the uploaded file, nothing loaded)."""
    if pet not in trainable_pets():
        raise TrainError(f"{pet!r} cannot be trained here: choose one of {trainable_pets()} "
                         f"({NOT_A_TASK!r} fine-tunes a dense model, not a task to serve)")
    data, label = (dataset, dataset) if upload is None else (str(save_upload(upload, workdir)),
                                                             upload.filename)
    name = (name or "").strip() or free_name(engine, f"{Path(label).stem}-{pet}")
    if name in engine.tasks:
        raise DuplicateTaskError(f"a task named {name!r} is already loaded; pick another name "
                                 "or remove that task first")
    config = TrainConfig(pet=pet, data=data, name=name, backbone=backbone,
                         epochs=_int(epochs, "epochs"), max_train=_int(max_train, "max_train"),
                         max_eval=_int(max_eval, "max_eval"))
    try:
        splits = split(load_dataset(data), seed=config.seed, max_train=config.max_train)
    except DataError as e:  # name the user's file, not where the page saved it
        raise DataError(str(e).replace(data, label)) from None
    get_recipe(pet).spec(name, splits.train.label_names, config.seed)  # a valid task name
    out = workdir / "tasks" / f"{name}-{time.time_ns()}"
    return TrainRequest(config, label, str(out), backbone)


def free_name(engine: pets.PetsEngine, base: str) -> str:
    """`base`, or `base-2`, `base-3`... when a task of that name is loaded (the zoo holds
    movies-lora, the form's default for LoRA on movies)."""
    name, n = base, 1
    while name in engine.tasks:
        n += 1
        name = f"{base}-{n}"
    return name


def _int(value: Any, what: str) -> int | None:
    """A form number as an int (None stays None: the default); TrainConfig checks ranges."""
    if value is None:
        return None
    if float(value) != int(value):
        raise TrainError(f"{what} must be a whole number, got {value!r}")
    return int(value)


def save_upload(upload: Upload, workdir: Path) -> Path:
    """Write the uploaded bytes under `workdir` with a safe name keeping the suffix."""
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{upload.filename}: a data file is .csv (header text,label) or .jsonl "
                        f"(objects with text and label); got {suffix or 'no suffix'!r}")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(upload.filename).stem)[:60] or "data"
    folder = workdir / "uploads" / str(time.time_ns())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}{suffix}"
    path.write_bytes(upload.data)
    return path


def train_work(request: TrainRequest, job) -> TrainedTask:
    """The background run (module level: a spawn process runs it). Raises Cancelled (via
    `job.report`) when the user pressed Stop."""
    from pets.train import train

    n_epochs = request.config.epochs or get_recipe(request.config.pet).epochs
    losses: list[float] = []
    epochs: list[dict] = []
    last = [0.0]

    def on_step(step: int, total: int, loss: float) -> None:
        losses.append(loss)
        job.report(0.95 * step / total, f"step {step}/{total}, loss {loss:.3f}")
        if time.monotonic() - last[0] >= PUBLISH_S or step == total:
            job.publish(losses=list(losses), steps_total=total)
            last[0] = time.monotonic()

    def on_epoch(entry) -> None:
        epochs.append(asdict(entry))
        job.publish(losses=list(losses), epochs=list(epochs))
        then = ("; testing and serving the trained task" if entry.epoch == n_epochs else "")
        job.report(0.95 * entry.epoch / n_epochs,
                   f"epoch {entry.epoch}/{n_epochs}: dev accuracy {entry.dev_accuracy:.3f}{then}")

    job.report(0.0, "loading the data and the backbone")
    result = train(request.config, out=request.out, progress=False, on_step=on_step,
                   on_epoch=on_epoch)
    m = result.metrics
    return TrainedTask(request.config.name, str(result.folder), request.data_label,
                       backbone_key(request.backbone), tuple(m.labels), m.dev_accuracy,
                       m.test_accuracy, m.served_test_accuracy, m.train_seconds)
