"""Where each task's parameters came from in this session: trained (the zoo under
data/tasks/ or the Train form), a file (uploaded task folder or PEFT adapter), or the
engine's seeded random initialisation (the add-task form, the demo tasks, a backbone
switch). Random parameters are not trained: their predictions mean nothing, and the Tasks
page says so. Trained tasks also carry their data set and test accuracy."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

import pets

_KEY = "task_origins"  # (engine, {task name: Origin}); tasks not in it are random
RANDOM = "random (not trained)"
FILE = "from a file"
TRAINED = "trained"


@dataclass(frozen=True)
class Origin:
    """What the page knows about a task's parameters."""

    kind: str                           # TRAINED, FILE or RANDOM
    data: str | None = None             # trained: the data set (a bundled name or a file name)
    test_accuracy: float | None = None  # trained: accuracy on its held-out test split
    folder: Path | None = None          # trained: its task folder (reloaded on a switch back)
    backbone: str | None = None         # trained: the backbone it was trained on


def _origins(engine: pets.PetsEngine) -> dict[str, Origin]:
    held = st.session_state.get(_KEY)
    if held is None or held[0] is not engine:  # a new engine (backbone switch): all random
        held = (engine, {})
        st.session_state[_KEY] = held
    origins = held[1]
    for gone in set(origins) - set(engine.tasks):  # removed tasks forget their origin
        del origins[gone]
    return origins


def mark_from_file(engine: pets.PetsEngine, name: str) -> None:
    _origins(engine)[name] = Origin(FILE)


def mark_trained(engine: pets.PetsEngine, name: str, origin: Origin) -> None:
    _origins(engine)[name] = origin


def forget(engine: pets.PetsEngine, name: str) -> None:
    """The task `name` was removed (a later task of that name starts random)."""
    _origins(engine).pop(name, None)


def details(engine: pets.PetsEngine, name: str) -> Origin:
    return _origins(engine).get(name, Origin(RANDOM))


def origin(engine: pets.PetsEngine, name: str) -> str:
    return details(engine, name).kind


def random_tasks(engine: pets.PetsEngine) -> list[str]:
    known = _origins(engine)
    return [n for n in engine.tasks if n not in known]
