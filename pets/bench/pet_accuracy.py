"""`pets bench pet-accuracy`: the paper's comparison of PET types, trained for real.

Each PET type (LoRA, Houlsby adapters, BitFit, Diff-Pruning, MaskBERT) and full
fine-tuning is trained on the same data sets (quick: movie-review sentiment, 2,000
training rows; paper: every data set, all rows) of the VADER corpus over the frozen MiniLM
backbone with its own recipe (`pets.train.recipes`), then scored on the test split.
Reports test accuracy (at the end of training, and served by the engine in fp32), the
gap to full fine-tuning in points, stored numbers and bytes per task (and their share
of a dense model copy) and training time.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

from pets.train import TrainConfig, train

METHODS = ("full", "lora", "adapter", "bitfit", "diff", "mask")


@dataclass(frozen=True, kw_only=True)
class PetAccuracyConfig:
    datasets: tuple[str, ...] = ("movies",)
    methods: tuple[str, ...] = METHODS
    backbone: str = "minilm"
    epochs: int | None = None       # None: each recipe's own
    max_train: int | None = None
    max_eval: int | None = None
    max_len: int = 64
    seed: int = 0


SCALES = {
    "ci": PetAccuracyConfig(max_train=96, max_eval=64, epochs=1, max_len=32),
    "quick": PetAccuracyConfig(max_train=2000),
    "paper": PetAccuracyConfig(datasets=("movies", "tweets", "nyt", "amazon", "source")),
}


def run_pet_accuracy(cfg: PetAccuracyConfig = PetAccuracyConfig(), *,
                     progress: bool = True) -> pd.DataFrame:
    rows = []
    runs = [(d, m) for d in cfg.datasets for m in cfg.methods]
    for data, method in tqdm(runs, desc="pet-accuracy", disable=not progress):
        max_train = cfg.max_train or (2000 if data == "source" else None)
        m = train(TrainConfig(pet=method, data=data, name=f"{data}-{method}",
                              backbone=cfg.backbone, epochs=cfg.epochs, max_train=max_train,
                              max_eval=cfg.max_eval, max_len=cfg.max_len, seed=cfg.seed),
                  progress=False).metrics
        rows.append(dict(data=data, method=method, test_accuracy=m.test_accuracy,
                         served_accuracy=m.served_test_accuracy, agreement=m.served_agreement,
                         dev_accuracy=m.dev_accuracy, task_params=m.task_params,
                         trainable_params=m.trainable_params, bytes=m.file_bytes,
                         epochs=m.epochs, lr=m.lr, train_rows=m.sizes["train"],
                         test_rows=m.sizes["test"], train_s=m.train_seconds, dtype=m.dtype))
    df = pd.DataFrame(rows)
    full = df[df.method == "full"].set_index("data")
    if len(full):
        df["vs_full_points"] = [100 * (r.test_accuracy - full.test_accuracy.get(r.data, float("nan")))
                                for r in df.itertuples()]
        df["share_of_dense"] = [r.bytes / full.bytes.get(r.data, float("nan"))
                                for r in df.itertuples()]
    df["backbone"] = cfg.backbone
    return df


def summary_lines(df: pd.DataFrame) -> list[str]:
    lines = []
    for r in df.itertuples():
        gap = f", {r.vs_full_points:+.1f} pts vs full" if hasattr(r, "vs_full_points") \
            and r.method != "full" else ""
        lines.append(f"{r.data:7s} {r.method:8s} test accuracy {r.test_accuracy:.3f} "
                     f"(served {r.served_accuracy:.3f}){gap}; {r.bytes / 2**20:7.2f} MiB, "
                     f"{r.train_s:.0f} s")
    return lines
