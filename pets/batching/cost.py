"""CostModel: predicted latency of shared ops alpha(batch, seq), of each PET
type's ops beta(pet, batch, seq), and of a whole Batch in a padding mode.

Profiles measured by `pets profile` live as CSV under
`data/profiles/<device>/<model>[-<dtype>].csv` with columns
op (alpha|beta), pet, batch, seq, median_s, mean_s, std_s, repeats.
Rows with op=scale hold a calibration factor (measured / predicted on held-out
mixed batches, `pets profile` measures it) that multiplies every prediction.
Where no profile exists the analytic FLOP model (`pets.batching.analytic`) serves.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pandas as pd

from pets.batching.analytic import analytic_grids
from pets.batching.batch import Batch
from pets.batching.grid import Grid
from pets.batching.padding import padded_lengths
from pets.config import ModelConfig
from pets.errors import PetsError, UnknownTaskError

PROFILE_COLUMNS = ("op", "pet", "batch", "seq", "median_s", "mean_s", "std_s", "repeats")


def data_dir() -> Path:
    """The repository's data/ folder (override with PETS_DATA)."""
    return Path(os.environ.get("PETS_DATA", Path(__file__).resolve().parents[2] / "data"))


def profile_path(device: str, model: str, dtype: str = "float32") -> Path:
    suffix = "" if dtype == "float32" else f"-{dtype}"
    return data_dir() / "profiles" / device / f"{model}{suffix}.csv"


class ProfileError(PetsError, ValueError):
    """A profile CSV is missing columns or values."""


@dataclass(frozen=True)
class CostModel:
    """Latency predictions in seconds. `task_pets` maps task name -> PET type."""

    alpha_grid: Grid
    beta_grids: Mapping[str, Grid]
    source: str
    task_pets: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    scale: float = 1.0  # calibration: measured / predicted on mixed batches (`op=scale` rows)

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def analytic(cls, cfg: ModelConfig, device_type: str = "cpu") -> "CostModel":
        alpha, beta = analytic_grids(cfg, device_type)
        return cls(alpha, MappingProxyType(beta), f"analytic:{device_type}")

    @classmethod
    def from_csv(cls, path: str | Path, *, fallback: "CostModel | None" = None) -> "CostModel":
        try:
            df = pd.read_csv(path)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            raise ProfileError(f"cannot read profile {path}: {e}") from None
        return cls.from_frame(df, source=f"profile:{path}", fallback=fallback)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, *, source: str = "profile",
                   fallback: "CostModel | None" = None) -> "CostModel":
        missing = [c for c in ("op", "pet", "batch", "seq", "median_s") if c not in df.columns]
        if missing:
            raise ProfileError(f"profile {source} lacks columns {missing}")
        alpha = df[df.op == "alpha"]
        if alpha.empty:
            raise ProfileError(f"profile {source} has no alpha rows")
        beta = dict(fallback.beta_grids) if fallback else {}
        for pet, rows in df[df.op == "beta"].groupby("pet"):
            beta[pet] = _grid(rows, source)
        scales = df[df.op == "scale"].median_s
        scale = float(scales.iloc[-1]) if len(scales) else 1.0
        if not (np.isfinite(scale) and scale > 0):
            raise ProfileError(f"profile {source}: calibration factor {scale} must be finite and > 0")
        return cls(_grid(alpha, source), MappingProxyType(beta), source, scale=scale)

    @classmethod
    def for_engine(cls, engine) -> "CostModel":
        """The profile of this engine's model on its device, else the analytic model."""
        from pets.timing import device_slug

        bb = engine.backbone
        return cls.for_model(engine.model_name, engine.config, device_slug(bb.device),
                             str(bb.dtype).split(".")[-1]).with_tasks(engine.tasks)

    @classmethod
    def for_model(cls, name: str, cfg: ModelConfig, device: str = "cpu",
                  dtype: str = "float32") -> "CostModel":
        """The committed profile of model `name` on `device` (a results slug: 'cpu',
        'nvidia-h200'), else the analytic model of shape `cfg`."""
        fallback = cls.analytic(cfg, "cpu" if device == "cpu" else "cuda")
        path = profile_path(device, name, dtype)
        return cls.from_csv(path, fallback=fallback) if path.is_file() else fallback

    def with_tasks(self, tasks: Mapping) -> "CostModel":
        """Bind task names to PET types (values: TaskSpec or pet name)."""
        pets_of = {name: getattr(spec, "pet", spec) for name, spec in tasks.items()}
        return replace(self, task_pets=MappingProxyType(pets_of))

    # ---- predictions ------------------------------------------------------------------------
    def alpha(self, batch, seq):
        """Shared ops of `batch` queries of `seq` (padded) tokens each."""
        return self.scale * self.alpha_grid(batch, seq)

    def beta(self, pet: str, batch, seq):
        """PET ops of one task of type `pet` over `batch` queries of `seq` tokens."""
        try:
            return self.scale * self.beta_grids[pet](batch, seq)
        except KeyError:
            raise PetsError(f"cost model {self.source} has no beta for pet {pet!r}") from None

    def pet_of(self, task: str) -> str:
        try:
            return self.task_pets[task]
        except KeyError:
            raise UnknownTaskError(
                f"cost model does not know task {task!r}; bind tasks with "
                "cost.with_tasks(engine.tasks)") from None

    def batch_cost(self, batch: Batch, padding: str = "none") -> float:
        """Predicted seconds to run `batch`: alpha over its padded tokens plus each segment's beta.

        The plain reference that `plan_cost` (vectorised) and cb-pad's window costs are tested against.
        """
        padded = padded_lengths(batch.lengths, batch.group_of, padding)
        n = len(padded)
        cost = self.alpha(n, sum(padded) / n)
        i = 0
        for task, qs in batch.task_queries.items():
            tokens = sum(padded[i:i + len(qs)])
            cost += self.beta(self.pet_of(task), len(qs), tokens / len(qs))
            i += len(qs)
        return float(cost)

    def plan_cost(self, plan: list[Batch], padding: str = "none") -> float:
        """Sum of batch_cost over the plan, with one vectorised table lookup per op kind."""
        if not plan:
            return 0.0
        batch_n, batch_tokens, seg_pet, seg_n, seg_tokens = [], [], [], [], []
        for batch in plan:
            padded = padded_lengths(batch.lengths, batch.group_of, padding)
            batch_n.append(len(padded))
            batch_tokens.append(sum(padded))
            i = 0
            for task, qs in batch.task_queries.items():
                seg_pet.append(self.pet_of(task))
                seg_n.append(len(qs))
                seg_tokens.append(sum(padded[i:i + len(qs)]))
                i += len(qs)
        n, tokens = np.array(batch_n, dtype=float), np.array(batch_tokens, dtype=float)
        total = float(np.sum(self.alpha(n, tokens / n)))
        pets_, n, tokens = np.array(seg_pet), np.array(seg_n, dtype=float), np.array(seg_tokens, dtype=float)
        for pet in np.unique(pets_):
            m = pets_ == pet
            total += float(np.sum(self.beta(str(pet), n[m], tokens[m] / n[m])))
        return total


def _grid(rows: pd.DataFrame, source: str) -> Grid:
    table = rows.pivot_table(index="batch", columns="seq", values="median_s", aggfunc="median")
    if table.isna().any().any():
        raise ProfileError(f"profile {source}: the (batch, seq) grid has holes")
    return Grid.monotone(table.index.to_numpy(), table.columns.to_numpy(), table.to_numpy())
