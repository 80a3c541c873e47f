"""Where each task's parameters came from in this session: a file (uploaded task folder or
PEFT adapter) or the engine's seeded random initialisation (the add-task form, the demo
tasks, a backbone switch). Random parameters are not trained: their predictions mean
nothing, and the Tasks page says so."""
from __future__ import annotations

import streamlit as st

import pets

_KEY = "task_files"  # (engine, {task names whose parameters came from a file})
RANDOM = "random (not trained)"
FILE = "from a file"


def _loaded(engine: pets.PetsEngine) -> set[str]:
    held = st.session_state.get(_KEY)
    if held is None or held[0] is not engine:  # a new engine (backbone switch): all random
        held = (engine, set())
        st.session_state[_KEY] = held
    names = held[1]
    names &= set(engine.tasks)  # removed tasks forget their origin
    return names


def mark_from_file(engine: pets.PetsEngine, name: str) -> None:
    _loaded(engine).add(name)


def origin(engine: pets.PetsEngine, name: str) -> str:
    return FILE if name in _loaded(engine) else RANDOM


def random_tasks(engine: pets.PetsEngine) -> list[str]:
    loaded = _loaded(engine)
    return [n for n in engine.tasks if n not in loaded]
