"""`pets bench capacity` (paper Table 5): how many tasks fit in a memory budget.

The budget is counted in dense per-task copies (one merged backbone + head: what
SeqS holds per task), so a CPU run stays small: `budget_copies` copies fit that
many dense tasks by definition (one real copy is built to measure its bytes).
For each PET type, and for the paper's four-type mix (adapter, mask, diff,
bitfit, round-robin), tasks are really loaded into one engine over the shared
backbone (`add_task`: validated, converted to the run-time format, on the
device) until the next one would exceed the budget; `engine.memory()` gives
the bytes (and, on a GPU, `torch.cuda.memory_allocated` checks them). The
shared backbone counts against the budget, so the ratio approaches
1 / (task bytes / dense bytes) as the budget grows.

Loading is the real path; only parameter generation is shortened: the first
`prototypes` tasks of each type get their own random parameters, later ones
load clones of those (every task still holds its own tensors).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

import pets
from pets.dtypes import resolve_dtype
from pets.config import preset as model_preset
from pets.engine.backbone import Backbone
from pets.errors import InvalidSpecError
from pets.pet.method import get_method, nbytes
from pets.pet.mixes import PET_GROUPS as GROUPS


@dataclass(frozen=True, kw_only=True)
class CapacityConfig:
    preset: str = "distilbert"
    budget_copies: int = 4  # memory budget, in dense per-task copies
    groups: tuple[str, ...] = tuple(GROUPS)
    prototypes: int = 3  # distinct random parameter sets per PET type
    num_labels: int = 2
    max_tasks: int = 1_000_000
    device: str = "cpu"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        if self.budget_copies < 2:
            raise InvalidSpecError("budget_copies must be >= 2: the shared backbone alone "
                                   "takes one dense copy's worth")
        unknown = sorted(set(self.groups) - set(GROUPS))
        if unknown:
            raise InvalidSpecError(f"unknown capacity group(s) {unknown}; choose from {list(GROUPS)}")
        if self.prototypes < 1:
            raise InvalidSpecError("prototypes must be >= 1")


SCALES = {
    "quick": CapacityConfig(preset="distilbert", budget_copies=4),
    # a 16 GB GPU holds ~36 fp32 bert-base copies; 32 keeps some room for activations
    "paper": CapacityConfig(preset="bert-base", budget_copies=32),
}


def run_capacity(cfg: CapacityConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    """One row per group: dense, each PET type, mix. Columns: tasks, bytes_per_task,
    share_of_dense, ratio_vs_dense, used_bytes, device_bytes (GPU only), storage."""
    dtype = resolve_dtype(cfg.dtype, cfg.device)
    backbone = Backbone.random(model_preset(cfg.preset), seed=0, device=cfg.device, dtype=dtype)
    dense_bytes, dense_device = _dense_copy_bytes(backbone, cfg)
    budget = cfg.budget_copies * dense_bytes
    rows = [dict(group="dense", tasks=budget // dense_bytes, bytes_per_task=dense_bytes,
                 used_bytes=(budget // dense_bytes) * dense_bytes,
                 device_bytes=dense_device * (budget // dense_bytes),
                 storage="merged backbone copy + head per task")]
    bar = tqdm(desc="capacity", unit="task", disable=not progress)
    protos: dict[str, list[dict]] = {}  # PET type -> parameter sets, shared by the groups
    for group in cfg.groups:
        bar.set_postfix_str(group)
        rows.append(_fill(backbone, group, budget, cfg, protos, bar))
    bar.close()
    df = pd.DataFrame(rows)
    df["share_of_dense"] = df.bytes_per_task / dense_bytes
    df["ratio_vs_dense"] = df.tasks / cfg.budget_copies
    df["budget_bytes"] = budget
    df["dense_bytes"] = dense_bytes
    df["budget_copies"] = cfg.budget_copies
    df["preset"] = cfg.preset
    return df


def _dense_copy_bytes(backbone: Backbone, cfg: CapacityConfig) -> tuple[int, float]:
    """Bytes of one real dense per-task copy (merged backbone + head): accounted, and
    allocated on the device (NaN off GPU)."""
    probe = pets.PetsEngine(backbone, model_name=cfg.preset)
    probe.add_task(pets.TaskSpec(name="probe", pet="bitfit", num_labels=cfg.num_labels))
    before = _device_bytes(cfg.device)
    copy = pets.baselines.dense_copy(probe, "probe")
    return copy.memory().total, _device_bytes(cfg.device) - before


def _fill(backbone: Backbone, group: str, budget: int, cfg: CapacityConfig,
          protos: dict[str, list[dict]], bar) -> dict:
    """Load tasks of `group` round-robin until the next one would exceed `budget`."""
    mix = GROUPS[group]
    eng = pets.PetsEngine(backbone, model_name=cfg.preset)
    before = _device_bytes(cfg.device)
    used = eng.memory().shared
    i = 0
    while i < cfg.max_tasks:
        entry = mix[i % len(mix)]
        spec = pets.TaskSpec(name=f"{group}-{i}", num_labels=cfg.num_labels, **entry)
        have = protos.setdefault(entry["pet"], [])
        if len(have) < cfg.prototypes:
            eng.add_task(spec)
            have.append({k: v.detach().cpu().clone() for k, v in eng.task_params(spec.name).items()})
        else:
            proto = have[(i // len(mix)) % len(have)]
            eng.add_task(spec, {k: v.clone() for k, v in proto.items()})
        size = eng.task_bytes(spec.name)  # this task's bytes, without re-summing every task
        if used + size > budget:
            eng.remove_task(spec.name)
            break
        used += size
        i += 1
        bar.update()
    mem = eng.memory()
    if mem.total != used:  # the running sum and the engine's own accounting must agree
        raise AssertionError(f"capacity accounting drifted: {mem.total} != {used}")
    n = len(mem.tasks)
    storage = "; ".join(f"{m['pet']}: {get_method(m['pet']).storage}" for m in mix) if n else ""
    row = dict(group=group, tasks=n, bytes_per_task=(mem.total - mem.shared) / max(n, 1),
               used_bytes=mem.total, device_bytes=_device_bytes(cfg.device) - before + mem.shared,
               storage=storage if len(mix) == 1 else "per type, as in the rows above")
    del eng
    return row


def _device_bytes(device: str) -> float:
    """Bytes the CUDA caching allocator holds in tensors (NaN off GPU)."""
    if torch.device(device).type != "cuda":
        return float("nan")
    torch.cuda.synchronize(device)
    return float(torch.cuda.memory_allocated(device))


def summary_lines(df: pd.DataFrame) -> list[str]:
    """Per group: tasks in the budget, bytes per task as a share of a dense copy, ratio."""
    first = df.iloc[0]
    lines = [f"budget: {first.budget_copies} dense copies of {first.preset} "
             f"({first.budget_bytes / 2**20:.0f} MiB; one copy {first.dense_bytes / 2**20:.1f} MiB)"]
    for r in df.itertuples():
        lines.append(f"{r.group:8s} {r.tasks:7d} tasks  {r.share_of_dense:8.3%} of a dense copy each  "
                     f"{r.ratio_vs_dense:7.1f}x dense")
    return lines
