"""Per-session state: the engine the Tasks page edits, kept in st.session_state.

On MiniLM a new session starts with the trained task zoo loaded (when data/tasks/ holds
it); on a preset backbone it starts empty."""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

import pets
from lib import provenance, zoo
from lib.backbones import default_backbone, new_engine
from lib.provenance import Origin

_KEY = "workspace"


@dataclass
class Workspace:
    """The session's backbone choice and its engine (tasks live here)."""

    backbone: str
    engine: pets.PetsEngine
    notes: list[str] = field(default_factory=list)  # one-off messages for the next render
    # Every trained task of this session (zoo and Train form) by name: a switch back to the
    # backbone it was trained on reloads its trained parameters.
    trained: dict[str, Origin] = field(default_factory=dict)

    def add_trained(self, name: str, origin: Origin) -> None:
        """`name` now holds trained parameters (already loaded into the engine)."""
        provenance.mark_trained(self.engine, name, origin)
        self.trained[name] = origin

    def remove(self, name: str) -> None:
        self.engine.remove_task(name)
        provenance.forget(self.engine, name)
        self.trained.pop(name, None)


def workspace() -> Workspace:
    """This session's workspace, created on first use with the default backbone (and, on
    MiniLM, the trained zoo)."""
    if _KEY not in st.session_state:
        key = default_backbone()
        ws = Workspace(key, new_engine(key))
        if zoo.fits(key):
            load_zoo(ws)
        st.session_state[_KEY] = ws
    return st.session_state[_KEY]


def load_zoo(ws: Workspace) -> list[str]:
    """Load the zoo tasks the engine lacks; problems become notes. Returns the loaded names."""
    loaded, problems = zoo.load_zoo(ws.engine, ws.backbone)
    for name in loaded:
        ws.trained[name] = provenance.details(ws.engine, name)
    ws.notes.extend(f"Zoo task not loaded: {p}" for p in problems)
    return loaded


def switch_backbone(ws: Workspace, key: str) -> None:
    """Move to another backbone. Trained tasks go back to their trained parameters on the
    backbone they were trained on; every other task is re-created from its spec (fresh random
    parameters, since their shapes follow the backbone). Tasks that cannot move are dropped
    with a note."""
    if key == ws.backbone:
        return
    engine = new_engine(key)
    moved, restored, dropped = [], [], []
    for name, spec in ws.engine.tasks.items():
        origin = ws.trained.get(name)
        try:
            if origin is not None and origin.backbone == key and origin.folder is not None:
                engine.load_task(origin.folder)
                restored.append((name, origin))
            else:
                engine.add_task(spec)
                moved.append(name)
        except pets.PetsError as e:
            dropped.append(f"{name} ({e})")
    ws.backbone, ws.engine = key, engine
    for name, origin in restored:
        provenance.mark_trained(engine, name, origin)
    if moved:
        ws.notes.append(f"Re-created {len(moved)} task(s) on {key} from their specs with fresh "
                        "random parameters: " + ", ".join(moved))
    if restored:
        ws.notes.append(f"Reloaded {len(restored)} trained task(s) with their trained "
                        "parameters: " + ", ".join(n for n, _ in restored))
    if dropped:
        ws.notes.append("Dropped: " + "; ".join(dropped))
