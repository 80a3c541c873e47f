"""The trained task zoo (data/tasks/, or $PETS_ZOO_DIR) on the dashboard: which tasks it
holds with their data set and test accuracy, and loading them into a session's engine.

The zoo was trained on all-MiniLM-L6-v2: it loads there only (a preset backbone has random
weights and other shapes)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pets
from pets.config import MINILM_ALIASES, MINILM_NAME
from pets.train.api import METRICS_FILE
from pets.train.zoo import zoo_dir, zoo_folders

from lib import provenance
from lib.provenance import Origin

ZOO_BACKBONE = MINILM_NAME


def backbone_key(train_backbone: str) -> str:
    """The dashboard's name for a training backbone ('minilm' is MiniLM's alias)."""
    return MINILM_NAME if train_backbone in MINILM_ALIASES else train_backbone


@dataclass(frozen=True)
class ZooTask:
    name: str
    origin: Origin  # trained, with its data set, test accuracy and folder


def zoo_tasks() -> list[ZooTask]:
    """The zoo's trained tasks, in zoo order; none when the folder holds none."""
    try:
        folders = zoo_folders()
    except pets.PetsError:
        return []
    return [ZooTask(f.name, _origin(f)) for f in folders]


def _origin(folder: Path) -> Origin:
    try:
        m = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no metrics: still a trained task, its numbers unknown
        m = {}
    acc = m.get("test_accuracy")
    return Origin(provenance.TRAINED, data=m.get("data"),
                  test_accuracy=float(acc) if isinstance(acc, (int, float)) else None,
                  folder=folder, backbone=backbone_key(m.get("backbone", "minilm")))


def fits(backbone: str) -> bool:
    return backbone == ZOO_BACKBONE


def missing(engine: pets.PetsEngine) -> list[ZooTask]:
    """Zoo tasks whose name is not loaded yet."""
    return [t for t in zoo_tasks() if t.name not in engine.tasks]


def load_zoo(engine: pets.PetsEngine, backbone: str) -> tuple[list[str], list[str]]:
    """Load the zoo tasks not yet in `engine`, marked trained. Returns (loaded names,
    problems); a task that fails to load is a problem, the others still load."""
    if not fits(backbone):
        return [], [cannot_load(backbone)]
    loaded, problems = [], []
    for task in missing(engine):
        try:
            engine.load_task(task.origin.folder)
        except pets.PetsError as e:
            problems.append(f"{task.name}: {e}")
            continue
        provenance.mark_trained(engine, task.name, task.origin)
        loaded.append(task.name)
    return loaded, problems


def cannot_load(backbone: str) -> str:
    return (f"The trained task zoo ({zoo_dir()}) was trained on {ZOO_BACKBONE} and cannot load "
            f"on {backbone}: a preset's weights are random and its shapes differ. Switch the "
            f"backbone to {ZOO_BACKBONE} to serve the trained tasks.")
