"""The task zoo: one trained task per PET type plus the 4-way source classifier, all on
MiniLM, committed under data/tasks/ (rebuild: `pets zoo`). Each folder is a task folder
(pet.json + pet.safetensors) with the metrics.json of its training run. Training rows are
capped where a data set is large (movies 3,000, source 2,000) so that each run takes minutes
on a 2-core CPU."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from pets.engine.engine import PetsEngine
from pets.errors import TaskFileError
from pets.pet.spec import TaskSpec
from pets.train.api import METRICS_FILE, TrainConfig, train

ZOO_ENV = "PETS_ZOO_DIR"  # another zoo folder (tests build a small one)


def zoo_dir() -> Path:
    """The zoo's folder: $PETS_ZOO_DIR, else data/tasks/ of the source tree."""
    return Path(os.environ.get(ZOO_ENV) or Path(__file__).resolve().parents[2] / "data" / "tasks")

ZOO: tuple[TrainConfig, ...] = (
    TrainConfig(pet="lora", data="movies", name="movies-lora", max_train=3000),
    TrainConfig(pet="adapter", data="tweets", name="tweets-adapter"),
    TrainConfig(pet="bitfit", data="amazon", name="amazon-bitfit"),
    TrainConfig(pet="diff", data="nyt", name="nyt-diff"),
    # MaskBERT on the attention linears only: its file stores int64 positions (16 bytes per
    # zeroed weight), 8 MB over all six linears, 2.8 MB over these four.
    TrainConfig(pet="mask", data="tweets", name="tweets-mask",
                targets=("query", "key", "value", "attn_out")),
    TrainConfig(pet="lora", data="source", name="source-lora", max_train=2000),
)

# Sentences a user may try on the zoo (the dashboard and demo show them under every task).
EXAMPLES = (
    "A gripping, beautifully acted film that stays with you.",
    "Two hours of my life I will never get back.",
    "The battery died after a week and support never answered.",
    "omg best concert ever, still shaking!!",
    "The city council's plan fails the people it claims to help.",
)


def build_zoo(out: str | Path | None = None, names: list[str] | None = None, *,
              progress: bool = True, log: Callable[[str], None] = print) -> list[Path]:
    """Train the zoo's tasks (all, or those named) into `out`/<name>/."""
    chosen = [c for c in ZOO if names is None or c.name in names]
    folders = []
    for cfg in chosen:
        result = train(cfg, out=Path(out or zoo_dir()) / cfg.name, progress=progress)
        m = result.metrics
        log(f"{cfg.name}: {cfg.pet} on {cfg.data}, test accuracy {m.test_accuracy:.3f} "
            f"(served {m.served_test_accuracy:.3f}), {m.file_bytes / 2**10:.0f} KiB, "
            f"{m.train_seconds:.0f} s")
        folders.append(result.folder)
    return folders


def zoo_folders(root: str | Path | None = None) -> list[Path]:
    """The task folders of the committed zoo, in zoo order."""
    root = Path(root or zoo_dir())
    found = [root / c.name for c in ZOO if (root / c.name / "pet.json").is_file()]
    if not found:
        raise TaskFileError(f"no trained tasks in {root}; build them with `pets zoo`")
    return found


def load_zoo(engine: PetsEngine, root: str | Path | None = None) -> list[TaskSpec]:
    """Load every zoo task into `engine` (a MiniLM engine)."""
    return [engine.load_task(f) for f in zoo_folders(root)]


def zoo_metrics(root: str | Path | None = None) -> list[dict]:
    import json

    return [json.loads((f / METRICS_FILE).read_text()) for f in zoo_folders(root)
            if (f / METRICS_FILE).is_file()]
