"""Per-session state: the engine the Tasks page edits, kept in st.session_state."""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

import pets
from lib.backbones import default_backbone, new_engine

_KEY = "workspace"


@dataclass
class Workspace:
    """The session's backbone choice and its engine (tasks live here)."""

    backbone: str
    engine: pets.PetsEngine
    notes: list[str] = field(default_factory=list)  # one-off messages for the next render


def workspace() -> Workspace:
    """This session's workspace, created on first use with the default backbone."""
    if _KEY not in st.session_state:
        key = default_backbone()
        st.session_state[_KEY] = Workspace(key, new_engine(key))
    return st.session_state[_KEY]


def switch_backbone(ws: Workspace, key: str) -> None:
    """Move to another backbone; tasks are re-created from their specs (fresh random
    parameters, since their shapes follow the backbone). Tasks that cannot move are dropped
    with a note."""
    if key == ws.backbone:
        return
    engine = new_engine(key)
    moved, dropped = [], []
    for name, spec in ws.engine.tasks.items():
        try:
            engine.add_task(spec)
            moved.append(name)
        except pets.PetsError as e:
            dropped.append(f"{name} ({e})")
    ws.backbone, ws.engine = key, engine
    if moved:
        ws.notes.append(f"Re-created {len(moved)} task(s) on {key} from their specs with fresh "
                        "random parameters: " + ", ".join(moved))
    if dropped:
        ws.notes.append("Dropped: " + "; ".join(dropped))
